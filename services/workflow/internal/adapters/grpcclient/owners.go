package grpcclient

import (
	"context"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

var _ app.Owners = (*Records)(nil)

// AssignOwner hands a record to owner through its owning service: a lead
// by AssignLead with requestID (a retry is the same request, assigned
// once), an opportunity or order by an update of its owner alone (setting
// the same owner again changes nothing). rec is the record as the
// projection has it: an update sends its message (validated whole by the
// owning service), masked to the owner.
func (r *Records) AssignOwner(ctx context.Context, rec *domain.Record, owner, requestID string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	mask := &fieldmaskpb.FieldMask{Paths: []string{"owner"}}
	var m proto.Message
	if rec.Type != domain.RecordLead {
		m = rules.NewRecordMessage(rec.Type)
		if err := proto.Unmarshal(rec.Message, m); err != nil {
			return fmt.Errorf("record %s: %w", rec.Name, err)
		}
	}
	var err error
	var peer string
	switch rec.Type {
	case domain.RecordLead:
		peer = "lead"
		_, err = r.leads.AssignLead(ctx, &leadv1.AssignLeadRequest{Name: rec.Name, Owner: owner, RequestId: requestID})
	case domain.RecordOpportunity:
		o := m.(*opportunityv1.Opportunity)
		peer, o.Owner, o.Etag = "opportunity", owner, ""
		_, err = r.opportunities.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{Opportunity: o, UpdateMask: mask})
	case domain.RecordOrder:
		o := m.(*orderv1.Order)
		peer, o.Owner, o.Etag = "order", owner, ""
		_, err = r.orders.UpdateOrder(ctx, &orderv1.UpdateOrderRequest{Order: o, UpdateMask: mask})
	default:
		return fmt.Errorf("records of type %s are not assigned", rec.Type)
	}
	return assignRefused(ctx, peer, err)
}

// assignRefused keeps a peer's refusal as a FailedPrecondition with the
// peer's own reason (OWNER_NOT_ACTIVE_USER is worth retrying: the peer's
// copy of the directory may not have the user yet).
func assignRefused(ctx context.Context, peer string, err error) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied, codes.NotFound, codes.OutOfRange, codes.AlreadyExists:
		reason := "ASSIGN_REFUSED"
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
				reason = info.GetReason()
			}
		}
		return apperr.FailedPrecondition(reason, "the %s service refused the assignment: %s: %s", peer, st.Code(), st.Message())
	}
	return grpcx.PeerError(ctx, peer, err)
}
