package grpcclient

import (
	"context"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

var _ app.Owners = (*Records)(nil)

// AssignOwner hands a record to owner through its owning service: a lead
// by AssignLead with requestID (a retry is the same request, assigned
// once), an opportunity or order by an update of its owner alone (setting
// the same owner again changes nothing).
func (r *Records) AssignOwner(ctx context.Context, t domain.RecordType, record, owner, requestID string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	mask := &fieldmaskpb.FieldMask{Paths: []string{"owner"}}
	var err error
	var peer string
	switch t {
	case domain.RecordLead:
		peer = "lead"
		_, err = r.leads.AssignLead(ctx, &leadv1.AssignLeadRequest{Name: record, Owner: owner, RequestId: requestID})
	case domain.RecordOpportunity:
		peer = "opportunity"
		_, err = r.opportunities.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{Name: record, Owner: owner}, UpdateMask: mask})
	case domain.RecordOrder:
		peer = "order"
		_, err = r.orders.UpdateOrder(ctx, &orderv1.UpdateOrderRequest{Order: &orderv1.Order{Name: record, Owner: owner}, UpdateMask: mask})
	default:
		return fmt.Errorf("records of type %s are not assigned", t)
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
