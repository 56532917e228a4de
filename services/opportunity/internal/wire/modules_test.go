package wire_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// Without the workflow module no process gates a move or a win: not even
// a BLOCK definition kept from when it ran (which would otherwise ask a
// workflow service that is not there, and refuse every move).
func TestWithoutTheWorkflowModuleNoProcessGatesMoves(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true, modules: "account,opportunity"})
	account, _ := s.customer(t, "Acme")
	o := s.create(t, &opportunityv1.Opportunity{DisplayName: "Ovens", Account: account})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO opportunity.process_gates (definition, record_type, pipeline, enforcement, active, version)
		VALUES ('processDefinitions/sales', 'OPPORTUNITY', $1, 'BLOCK', true, 1)`, o.Pipeline); err != nil {
		t.Fatal(err)
	}
	as := testkit.As("alice")
	if _, err := s.client.MoveOpportunity(as, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: "proposal"}); err != nil {
		t.Fatalf("move: %v", err)
	}
	if _, err := s.client.WinOpportunity(as, &opportunityv1.WinOpportunityRequest{Name: o.Name}); err != nil {
		t.Fatalf("win: %v", err)
	}
}
