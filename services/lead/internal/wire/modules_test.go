package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

// outboxRows counts the lead service's outbox rows not yet relayed.
func (s *suite) outboxRows(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM lead.outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func requireModuleDisabled(t *testing.T, what string, err error, module string) {
	t.Helper()
	reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition)
	if reason != "MODULE_DISABLED" || testkit.ErrorMeta(t, err)["module"] != module {
		t.Fatalf("%s: %v, want MODULE_DISABLED naming %s", what, err, module)
	}
}

// An installation without opportunities and orders (MODULES=lead,account):
// a conversion asking for either is refused before anything changes;
// one into an account and contact only goes ahead.
func TestQualifyNeedingAModuleThatDoesNotRunIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := start(t, options{modules: "lead,account", wire: []wire.Option{wire.WithAccountService(testkit.FreeAddr(t), 300*time.Millisecond)}})
	ctx := testkit.As("alice")
	lead := s.create(t, &leadv1.Lead{FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines"})
	s.published(t, 1)
	before := snapshot(t, s)

	withOpportunity := &leadv1.QualifyLeadRequest{Name: lead.Name, Etag: lead.Etag, RequestId: uuid.NewString(), AccountTarget: newAccount(),
		Opportunity: &leadv1.NewOpportunity{Amount: &moneypb.Money{CurrencyCode: "GBP", Units: 12000}}}
	_, err := s.client.QualifyLead(ctx, withOpportunity)
	requireModuleDisabled(t, "qualify with an opportunity", err, "opportunity")
	withOrder := &leadv1.QualifyLeadRequest{Name: lead.Name, Etag: lead.Etag, AccountTarget: newAccount(),
		Order: &leadv1.NewOrder{Lines: []*orderv1.OrderLine{orderLine("GBP")}}}
	_, err = s.client.QualifyLead(ctx, withOrder)
	requireModuleDisabled(t, "qualify with an order", err, "order")
	// A retry with the same request id is refused again, not answered
	// from a stored result.
	_, err = s.client.QualifyLead(ctx, withOpportunity)
	requireModuleDisabled(t, "retry", err, "opportunity")

	if l := s.lead(t, lead.Name); l.Status != leadv1.Status_STATUS_NEW || l.Conversion != nil || l.Etag != lead.Etag {
		t.Fatalf("refused conversions changed the lead: %v", l)
	}
	if n := s.outboxRows(t); n != 0 {
		t.Fatalf("%d outbox rows after refused conversions", n)
	}
	time.Sleep(200 * time.Millisecond) // a relayed event would be in the stream by now
	if after := snapshot(t, s); after != before {
		t.Fatalf("refused conversions changed data:\nbefore %s\nafter  %s", before, after)
	}

	// Into an account and contact only: the account module runs.
	q, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: lead.Name, Etag: lead.Etag, AccountTarget: newAccount()})
	if err != nil || q.Status != leadv1.Status_STATUS_QUALIFIED || q.GetConversion().GetOpportunity() != "" {
		t.Fatalf("qualify into an account = %v, %v", q, err)
	}
}

// Leads alone (MODULES=lead): leads are captured and worked, but not
// converted, and no customers are offered as candidates.
func TestWithoutTheAccountModuleLeadsAreNotConverted(t *testing.T) {
	t.Parallel()
	s := start(t, options{modules: "lead"})
	ctx := testkit.As("alice")
	lead := s.create(t, &leadv1.Lead{FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines"})
	_, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: lead.Name, AccountTarget: newAccount()})
	requireModuleDisabled(t, "qualify", err, "account")
	start := time.Now()
	_, err = s.client.FindConversionCandidates(ctx, &leadv1.FindConversionCandidatesRequest{Name: lead.Name})
	requireModuleDisabled(t, "conversion candidates", err, "account")
	if d := time.Since(start); d > time.Second {
		t.Errorf("conversion candidates took %v: the absent module should answer at once", d)
	}
	if l := s.lead(t, lead.Name); l.Status != leadv1.Status_STATUS_NEW || l.Conversion != nil {
		t.Fatalf("lead = %v", l)
	}
	if _, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: lead.Name, Status: leadv1.Status_STATUS_CONTACTED, Etag: lead.Etag}}); err != nil {
		t.Fatalf("working a lead without the account module: %v", err)
	}
}

// Without the workflow module no process gates a lead's status changes or
// its qualification, not even a BLOCK definition kept from when it ran.
func TestWithoutTheWorkflowModuleNoProcessGatesLeads(t *testing.T) {
	t.Parallel()
	s := start(t, options{modules: "lead,account", wire: []wire.Option{
		wire.WithAccountService(testkit.FreeAddr(t), 300*time.Millisecond), wire.WithWorkflowService(testkit.FreeAddr(t), 300*time.Millisecond)}})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO lead.process_gates (definition, record_type, pipeline, enforcement, active, version)
		VALUES ('processDefinitions/leads', 'LEAD', '', 'BLOCK', true, 1)`); err != nil {
		t.Fatal(err)
	}
	as := testkit.As("alice")
	lead := s.create(t, &leadv1.Lead{FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines"})
	contacted, err := s.client.UpdateLead(as, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: lead.Name, Status: leadv1.Status_STATUS_CONTACTED},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}})
	if err != nil || contacted.Status != leadv1.Status_STATUS_CONTACTED {
		t.Fatalf("status change: %v, %v", contacted, err)
	}
	if _, err := s.client.QualifyLead(as, &leadv1.QualifyLeadRequest{Name: lead.Name, AccountTarget: newAccount()}); err != nil {
		t.Fatalf("qualify: %v", err)
	}
}
