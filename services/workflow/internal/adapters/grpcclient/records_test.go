package grpcclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/grpcclient"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// Reading or updating a record of a module the installation does not run
// is MODULE_DISABLED naming it (a rule's run fails with that reason, not
// UPDATE_REFUSED or a retry).
func TestRecordsOfAnAbsentModuleAreModuleDisabled(t *testing.T) {
	conns := grpcclient.Conns{
		Lead: grpcx.DisabledConn("lead", codes.FailedPrecondition), Account: grpcx.DisabledConn("account", codes.FailedPrecondition),
		Opportunity: grpcx.DisabledConn("opportunity", codes.FailedPrecondition), Order: grpcx.DisabledConn("order", codes.FailedPrecondition),
	}
	r := grpcclient.New(conns, time.Second)
	ctx := context.Background()
	_, err := r.Fetch(ctx, "leads/"+uuid.NewString())
	if m, ok := modules.IsDisabled(err); !ok || m != "lead" {
		t.Errorf("Fetch a lead = %v", err)
	}
	err = r.Update(ctx, domain.RecordOpportunity, &opportunityv1.Opportunity{Name: "opportunities/" + uuid.NewString(), Owner: "bob"}, "owner")
	if m, ok := modules.IsDisabled(err); !ok || m != "opportunity" {
		t.Errorf("Update an opportunity = %v", err)
	}
}
