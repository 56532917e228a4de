// Package grpcclient calls the services that own the suite's records: to
// read a record the projection does not have yet, and to set a field a
// rule's action updates, as the workflow service's own identity.
package grpcclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

// Conns are the connections to the record-owning services.
type Conns struct {
	Lead, Account, Opportunity, Order grpc.ClientConnInterface
}

// Records reads and updates records through their owning services, each
// call bounded by a timeout.
type Records struct {
	leads         leadv1.LeadServiceClient
	accounts      accountv1.AccountServiceClient
	opportunities opportunityv1.OpportunityServiceClient
	orders        orderv1.OrderServiceClient
	timeout       time.Duration
}

var (
	_ app.Records = (*Records)(nil)
	_ app.Updater = (*Records)(nil)
)

// New returns the clients over c.
func New(c Conns, timeout time.Duration) *Records {
	return &Records{
		leads: leadv1.NewLeadServiceClient(c.Lead), accounts: accountv1.NewAccountServiceClient(c.Account),
		opportunities: opportunityv1.NewOpportunityServiceClient(c.Opportunity), orders: orderv1.NewOrderServiceClient(c.Order),
		timeout: timeout,
	}
}

// Fetch reads a record from its owning service.
func (r *Records) Fetch(ctx context.Context, name string) (*domain.Record, error) {
	t, _, ok := domain.ParseRecordName(name)
	if !ok {
		return nil, domain.ErrRecordNotFound(name)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var (
		m    proto.Message
		err  error
		peer string
	)
	switch t {
	case domain.RecordLead:
		peer = "lead"
		m, err = r.leads.GetLead(ctx, &leadv1.GetLeadRequest{Name: name})
	case domain.RecordAccount:
		peer = "account"
		m, err = r.accounts.GetAccount(ctx, &accountv1.GetAccountRequest{Name: name})
	case domain.RecordContact:
		peer = "account"
		m, err = r.accounts.GetContact(ctx, &accountv1.GetContactRequest{Name: name})
	case domain.RecordOpportunity:
		peer = "opportunity"
		m, err = r.opportunities.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: name})
	case domain.RecordOrder:
		peer = "order"
		m, err = r.orders.GetOrder(ctx, &orderv1.GetOrderRequest{Name: name})
	case domain.RecordContract:
		peer = "order"
		m, err = r.orders.GetContract(ctx, &orderv1.GetContractRequest{Name: name})
	}
	if err != nil {
		return nil, grpcx.PeerError(ctx, peer, err)
	}
	rec := protomap.RecordOf(m)
	if rec == nil {
		return nil, fmt.Errorf("%s answered %s with no record", peer, name)
	}
	return rec, nil
}

// Update sets one field of a record (record carries its new value) with
// an update mask of that field alone, so that nothing else is written.
func (r *Records) Update(ctx context.Context, t domain.RecordType, record proto.Message, field string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	mask := &fieldmaskpb.FieldMask{Paths: []string{field}}
	var err error
	peer := "account"
	switch m := proto.Clone(record).(type) {
	case *leadv1.Lead:
		peer, m.Etag = "lead", ""
		_, err = r.leads.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: m, UpdateMask: mask})
	case *accountv1.Account:
		m.Etag = ""
		_, err = r.accounts.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{Account: m, UpdateMask: mask})
	case *accountv1.Contact:
		m.Etag = ""
		_, err = r.accounts.UpdateContact(ctx, &accountv1.UpdateContactRequest{Contact: m, UpdateMask: mask})
	case *opportunityv1.Opportunity:
		peer, m.Etag = "opportunity", ""
		_, err = r.opportunities.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{Opportunity: m, UpdateMask: mask})
	default:
		return fmt.Errorf("records of type %s are not updated by rules", t)
	}
	return refused(ctx, peer, err)
}

// refused keeps a peer's refusal of an update (bad value, a state that
// does not allow it, no permission) as such, so a rule's run fails with
// the reason at once instead of retrying what cannot succeed; a peer the
// installation does not run stays MODULE_DISABLED.
func refused(ctx context.Context, peer string, err error) error {
	if err == nil {
		return nil
	}
	pe := grpcx.PeerError(ctx, peer, err)
	if _, off := modules.IsDisabled(pe); off {
		return pe
	}
	switch st, _ := status.FromError(err); st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied, codes.NotFound, codes.OutOfRange:
		return apperr.FailedPrecondition("UPDATE_REFUSED", "the %s service refused the update: %s: %s", peer, st.Code(), st.Message())
	}
	return pe
}

var _ app.Pipelines = (*Records)(nil)

// PipelineStages reads the stage ids of an opportunity pipeline.
func (r *Records) PipelineStages(ctx context.Context, pipeline string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	p, err := r.opportunities.GetPipeline(ctx, &opportunityv1.GetPipelineRequest{Name: pipeline})
	if err != nil {
		return nil, grpcx.PeerError(ctx, "opportunity", err)
	}
	out := make([]string, len(p.GetStages()))
	for i, st := range p.GetStages() {
		out[i] = st.GetId()
	}
	return out, nil
}
