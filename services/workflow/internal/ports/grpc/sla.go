package grpc

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

// SlaServer implements workflowv1.SlaServiceServer.
type SlaServer struct {
	workflowv1.UnimplementedSlaServiceServer
	app  *app.Service
	idem *idempotency.Store
}

// NewSla returns the SLA API over the use cases.
func NewSla(a *app.Service, idem *idempotency.Store) *SlaServer {
	return &SlaServer{app: a, idem: idem}
}

// ---- business calendars ----

func (s *SlaServer) CreateBusinessCalendar(ctx context.Context, req *workflowv1.CreateBusinessCalendarRequest) (*workflowv1.BusinessCalendar, error) {
	in := protomap.BusinessCalendarFromProto(req.GetBusinessCalendar())
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateBusinessCalendar", req, func(ctx context.Context) (*workflowv1.BusinessCalendar, error) {
		c, err := s.app.CreateBusinessCalendar(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "business_calendar.")
		}
		return protomap.BusinessCalendar(c), nil
	})
}

func (s *SlaServer) GetBusinessCalendar(ctx context.Context, req *workflowv1.GetBusinessCalendarRequest) (*workflowv1.BusinessCalendar, error) {
	id, err := resname.ParseField(req.GetName(), "businessCalendars", "name")
	if err != nil {
		return nil, err
	}
	c, err := s.app.GetBusinessCalendar(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.BusinessCalendar(c), nil
}

func (s *SlaServer) ListBusinessCalendars(ctx context.Context, req *workflowv1.ListBusinessCalendarsRequest) (*workflowv1.ListBusinessCalendarsResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	cs, next, err := s.app.ListBusinessCalendars(ctx, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListBusinessCalendarsResponse{BusinessCalendars: make([]*workflowv1.BusinessCalendar, len(cs)), NextPageToken: next}
	for i, c := range cs {
		resp.BusinessCalendars[i] = protomap.BusinessCalendar(c)
	}
	return resp, nil
}

var calendarOutputOnly = map[string]bool{
	"name": true, "etag": true, "create_time": true, "created_by": true, "update_time": true, "updated_by": true,
}

func (s *SlaServer) UpdateBusinessCalendar(ctx context.Context, req *workflowv1.UpdateBusinessCalendarRequest) (*workflowv1.BusinessCalendar, error) {
	id, err := resname.ParseField(req.GetBusinessCalendar().GetName(), "businessCalendars", "business_calendar.name")
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetBusinessCalendar(), calendarOutputOnly, nil, domain.BusinessCalendarFields)
	if err != nil {
		return nil, err
	}
	c, err := s.app.UpdateBusinessCalendar(ctx, id, protomap.BusinessCalendarFromProto(req.GetBusinessCalendar()), paths, req.GetBusinessCalendar().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "business_calendar.", "update_mask")
	}
	return protomap.BusinessCalendar(c), nil
}

func (s *SlaServer) DeleteBusinessCalendar(ctx context.Context, req *workflowv1.DeleteBusinessCalendarRequest) (*emptypb.Empty, error) {
	id, err := resname.ParseField(req.GetName(), "businessCalendars", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteBusinessCalendar(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// ---- policies ----

func (s *SlaServer) CreateSlaPolicy(ctx context.Context, req *workflowv1.CreateSlaPolicyRequest) (*workflowv1.SlaPolicy, error) {
	in, err := protomap.SlaPolicyFromProto(req.GetSlaPolicy())
	if err != nil {
		return nil, apperr.PrefixFields(err, "sla_policy.")
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateSlaPolicy", req, func(ctx context.Context) (*workflowv1.SlaPolicy, error) {
		p, err := s.app.CreateSlaPolicy(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "sla_policy.")
		}
		return protomap.SlaPolicy(p), nil
	})
}

func (s *SlaServer) GetSlaPolicy(ctx context.Context, req *workflowv1.GetSlaPolicyRequest) (*workflowv1.SlaPolicy, error) {
	id, err := resname.ParseField(req.GetName(), "slaPolicies", "name")
	if err != nil {
		return nil, err
	}
	p, err := s.app.GetSlaPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.SlaPolicy(p), nil
}

func (s *SlaServer) ListSlaPolicies(ctx context.Context, req *workflowv1.ListSlaPoliciesRequest) (*workflowv1.ListSlaPoliciesResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	ps, next, err := s.app.ListSlaPolicies(ctx, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListSlaPoliciesResponse{SlaPolicies: make([]*workflowv1.SlaPolicy, len(ps)), NextPageToken: next}
	for i, p := range ps {
		resp.SlaPolicies[i] = protomap.SlaPolicy(p)
	}
	return resp, nil
}

var policyOutputOnly = map[string]bool{
	"name": true, "etag": true, "version": true, "record_type": true, "create_time": true, "created_by": true, "update_time": true, "updated_by": true,
}

func (s *SlaServer) UpdateSlaPolicy(ctx context.Context, req *workflowv1.UpdateSlaPolicyRequest) (*workflowv1.SlaPolicy, error) {
	id, err := resname.ParseField(req.GetSlaPolicy().GetName(), "slaPolicies", "sla_policy.name")
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetSlaPolicy(), policyOutputOnly, map[string]bool{"enabled": true}, domain.SlaPolicyFields)
	if err != nil {
		return nil, err
	}
	patch, err := protomap.SlaPolicyFromProto(req.GetSlaPolicy())
	if err != nil {
		return nil, apperr.PrefixFields(err, "sla_policy.")
	}
	p, err := s.app.UpdateSlaPolicy(ctx, id, patch, paths, req.GetSlaPolicy().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "sla_policy.", "update_mask")
	}
	return protomap.SlaPolicy(p), nil
}

func (s *SlaServer) DeleteSlaPolicy(ctx context.Context, req *workflowv1.DeleteSlaPolicyRequest) (*emptypb.Empty, error) {
	id, err := resname.ParseField(req.GetName(), "slaPolicies", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteSlaPolicy(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// ---- reading ----

func (s *SlaServer) ListSlaClocks(ctx context.Context, req *workflowv1.ListSlaClocksRequest) (*workflowv1.ListSlaClocksResponse, error) {
	if err := domain.CheckRecordName("parent", req.GetParent()); err != nil {
		return nil, err
	}
	if t, _, _ := domain.ParseRecordName(req.GetParent()); !contains(domain.SlaRecordTypes, t) {
		return nil, apperr.InvalidField("parent", "INVALID_RECORD", "SLAs measure leads, opportunities, orders and contracts, not %s", req.GetParent())
	}
	vs, err := s.app.ListSlaClocks(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListSlaClocksResponse{SlaClocks: make([]*workflowv1.SlaClock, len(vs))}
	for i, v := range vs {
		resp.SlaClocks[i] = protomap.SlaClock(v)
	}
	return resp, nil
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (s *SlaServer) GetSlaReport(ctx context.Context, req *workflowv1.GetSlaReportRequest) (*workflowv1.SlaReport, error) {
	from, to := protomap.TimeOf(req.GetStartTime()), protomap.TimeOf(req.GetEndTime())
	byOwner, byPolicy, err := s.app.SlaReport(ctx, from, to)
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.SlaReport{StartTime: req.GetStartTime(), EndTime: req.GetEndTime()}
	for _, r := range byOwner {
		resp.ByOwner = append(resp.ByOwner, protomap.SlaReportRow(r))
	}
	for _, r := range byPolicy {
		resp.ByPolicy = append(resp.ByPolicy, protomap.SlaReportRow(r))
	}
	return resp, nil
}
