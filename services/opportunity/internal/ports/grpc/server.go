// Package grpc is the opportunity service's gRPC API: it maps requests to
// use cases and results back, makes create and custom methods idempotent
// by request_id, and names the request fields in every validation error.
package grpc

import (
	"context"
	"strings"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
)

// Server implements opportunityv1.OpportunityServiceServer.
type Server struct {
	opportunityv1.UnimplementedOpportunityServiceServer
	app  *app.Service
	idem *idempotency.Store
	// published is called after every successful change, to wake the
	// outbox relay.
	published func()
}

// New returns the gRPC API over the use cases.
func New(a *app.Service, idem *idempotency.Store, published func()) *Server {
	return &Server{app: a, idem: idem, published: published}
}

// ---- pipelines ----

func (s *Server) CreatePipeline(ctx context.Context, req *opportunityv1.CreatePipelineRequest) (_ *opportunityv1.Pipeline, err error) {
	defer s.wakeRelay(&err)
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreatePipeline", req, func(ctx context.Context) (*opportunityv1.Pipeline, error) {
		p, err := s.app.CreatePipeline(ctx, protomap.PipelineFromProto(req.GetPipeline()), req.GetRequestId())
		if err != nil {
			return nil, prefixFields(err, "pipeline.")
		}
		return protomap.Pipeline(p), nil
	})
}

func (s *Server) GetPipeline(ctx context.Context, req *opportunityv1.GetPipelineRequest) (*opportunityv1.Pipeline, error) {
	id, err := resname.ParseField(req.GetName(), "pipelines", "name")
	if err != nil {
		return nil, err
	}
	p, err := s.app.GetPipeline(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Pipeline(p), nil
}

func (s *Server) ListPipelines(ctx context.Context, req *opportunityv1.ListPipelinesRequest) (*opportunityv1.ListPipelinesResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	ps, next, err := s.app.ListPipelines(ctx, app.ListQuery{PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	resp := &opportunityv1.ListPipelinesResponse{NextPageToken: next}
	for _, p := range ps {
		resp.Pipelines = append(resp.Pipelines, protomap.Pipeline(p))
	}
	return resp, nil
}

var pipelineOutputOnly = map[string]bool{"name": true, "etag": true, "create_time": true, "update_time": true}

func (s *Server) UpdatePipeline(ctx context.Context, req *opportunityv1.UpdatePipelineRequest) (_ *opportunityv1.Pipeline, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetPipeline().GetName(), "pipelines", "pipeline.name")
	if err != nil {
		return nil, err
	}
	all := make([]string, len(domain.PipelineFields))
	for i, f := range domain.PipelineFields {
		all[i] = string(f)
	}
	paths, err := updateMask(req.GetUpdateMask(), req.GetPipeline(), pipelineOutputOnly, nil, all)
	if err != nil {
		return nil, err
	}
	mask := make([]domain.PipelineField, len(paths))
	for i, p := range paths {
		mask[i] = domain.PipelineField(p)
	}
	p, err := s.app.UpdatePipeline(ctx, id, protomap.PipelineFromProto(req.GetPipeline()), mask, req.GetPipeline().GetEtag(), req.GetStageMoves())
	if err != nil {
		return nil, prefixFields(err, "pipeline.")
	}
	return protomap.Pipeline(p), nil
}

// ---- opportunities ----

func (s *Server) CreateOpportunity(ctx context.Context, req *opportunityv1.CreateOpportunityRequest) (_ *opportunityv1.Opportunity, err error) {
	defer s.wakeRelay(&err)
	in, bad := protomap.OpportunityFromProto(req.GetOpportunity())
	if bad != "" {
		return nil, badReference(bad)
	}
	pipeline := uuid.Nil
	if p := req.GetOpportunity().GetPipeline(); p != "" {
		if pipeline, err = resname.ParseField(p, "pipelines", "opportunity.pipeline"); err != nil {
			return nil, err
		}
	}
	set := domain.Settings{
		ProbabilitySet: req.GetOpportunity().ProtoReflect().Has(probabilityField),
		ForecastSet:    req.GetOpportunity().GetForecastCategory() != 0,
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateOpportunity", req, func(ctx context.Context) (*opportunityv1.Opportunity, error) {
		o, err := s.app.CreateOpportunity(ctx, app.NewOpportunity{Opportunity: in, Settings: set, PipelineID: pipeline}, req.GetRequestId())
		if err != nil {
			return nil, prefixFields(err, "opportunity.")
		}
		return protomap.Opportunity(o), nil
	})
}

var probabilityField = (&opportunityv1.Opportunity{}).ProtoReflect().Descriptor().Fields().ByName("probability")

func (s *Server) GetOpportunity(ctx context.Context, req *opportunityv1.GetOpportunityRequest) (*opportunityv1.Opportunity, error) {
	id, err := resname.ParseField(req.GetName(), "opportunities", "name")
	if err != nil {
		return nil, err
	}
	o, err := s.app.GetOpportunity(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Opportunity(o), nil
}

func (s *Server) ListOpportunities(ctx context.Context, req *opportunityv1.ListOpportunitiesRequest) (*opportunityv1.ListOpportunitiesResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	os, next, err := s.app.ListOpportunities(ctx, app.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &opportunityv1.ListOpportunitiesResponse{Opportunities: make([]*opportunityv1.Opportunity, len(os)), NextPageToken: next}
	for i, o := range os {
		resp.Opportunities[i] = protomap.Opportunity(o)
	}
	return resp, nil
}

// badReference is the error of a resource-name field of an opportunity
// that does not name a resource.
func badReference(field string) error {
	collection := field + "s"
	if strings.HasPrefix(field, string(domain.FieldBuyingCommittee)) {
		collection = "contacts"
	}
	return resname.Invalid("opportunity."+field, collection, "")
}

// Output-only fields may appear in a mask (grpc-gateway derives masks from
// PATCH bodies that echo a whole resource) and are ignored.
var opportunityOutputOnly = map[string]bool{
	"name": true, "etag": true, "source_lead": true, "stage": true, "state": true, "probability_overridden": true,
	"loss_reason": true, "win_reason": true, "competitor": true, "close_note": true, "close_time": true, "stage_enter_time": true,
	"create_time": true, "created_by": true, "update_time": true, "updated_by": true,
	"renewal_contract": true, "renewal_term": true,
}

func (s *Server) UpdateOpportunity(ctx context.Context, req *opportunityv1.UpdateOpportunityRequest) (_ *opportunityv1.Opportunity, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetOpportunity().GetName(), "opportunities", "opportunity.name")
	if err != nil {
		return nil, err
	}
	all := make([]string, len(domain.OpportunityFields))
	for i, f := range domain.OpportunityFields {
		all[i] = string(f)
	}
	// A resource echoed without a mask names its pipeline, which stays.
	paths, err := updateMask(req.GetUpdateMask(), req.GetOpportunity(), opportunityOutputOnly, map[string]bool{"pipeline": true}, all)
	if err != nil {
		return nil, err
	}
	mask := make([]domain.Field, len(paths))
	for i, p := range paths {
		mask[i] = domain.Field(p)
	}
	in, bad := protomap.OpportunityFromProto(req.GetOpportunity())
	if bad != "" {
		return nil, badReference(bad)
	}
	o, err := s.app.UpdateOpportunity(ctx, id, in, mask, req.GetOpportunity().GetEtag())
	if err != nil {
		return nil, prefixFields(err, "opportunity.")
	}
	return protomap.Opportunity(o), nil
}

func (s *Server) DeleteOpportunity(ctx context.Context, req *opportunityv1.DeleteOpportunityRequest) (_ *emptypb.Empty, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "opportunities", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteOpportunity(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// custom runs an idempotent custom method on one opportunity.
func (s *Server) custom(ctx context.Context, name, requestID, method string, req proto.Message,
	fn func(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error)) (_ *opportunityv1.Opportunity, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(name, "opportunities", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, requestID, method, req, func(ctx context.Context) (*opportunityv1.Opportunity, error) {
		o, err := fn(ctx, id)
		if err != nil {
			return nil, err
		}
		return protomap.Opportunity(o), nil
	})
}

func (s *Server) MoveOpportunity(ctx context.Context, req *opportunityv1.MoveOpportunityRequest) (*opportunityv1.Opportunity, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "MoveOpportunity", req, func(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
		return s.app.MoveOpportunity(ctx, id, req.GetStage(), req.GetEtag(), req.GetRequestId(),
			app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
	})
}

func (s *Server) WinOpportunity(ctx context.Context, req *opportunityv1.WinOpportunityRequest) (*opportunityv1.Opportunity, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "WinOpportunity", req, func(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
		return s.app.WinOpportunity(ctx, id, req.GetReason(), req.GetNote(), req.GetEtag(), req.GetRequestId(),
			app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
	})
}

func (s *Server) LoseOpportunity(ctx context.Context, req *opportunityv1.LoseOpportunityRequest) (*opportunityv1.Opportunity, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "LoseOpportunity", req, func(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
		return s.app.LoseOpportunity(ctx, id, req.GetReason(), req.GetCompetitor(), req.GetNote(), req.GetStage(), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) DisqualifyOpportunity(ctx context.Context, req *opportunityv1.DisqualifyOpportunityRequest) (*opportunityv1.Opportunity, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "DisqualifyOpportunity", req, func(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
		return s.app.DisqualifyOpportunity(ctx, id, req.GetNote(), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) ReopenOpportunity(ctx context.Context, req *opportunityv1.ReopenOpportunityRequest) (*opportunityv1.Opportunity, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "ReopenOpportunity", req, func(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
		return s.app.ReopenOpportunity(ctx, id, req.GetStage(), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) ListStageChanges(ctx context.Context, req *opportunityv1.ListStageChangesRequest) (*opportunityv1.ListStageChangesResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	id, err := resname.ParseField(req.GetParent(), "opportunities", "parent")
	if err != nil {
		return nil, err
	}
	cs, next, err := s.app.ListStageChanges(ctx, id, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &opportunityv1.ListStageChangesResponse{NextPageToken: next}
	for _, c := range cs {
		resp.StageChanges = append(resp.StageChanges, protomap.StageChange(c))
	}
	return resp, nil
}

// ---- loss reasons ----

func (s *Server) ListLossReasons(ctx context.Context, _ *opportunityv1.ListLossReasonsRequest) (*opportunityv1.ListLossReasonsResponse, error) {
	rs, err := s.app.LossReasons(ctx)
	if err != nil {
		return nil, err
	}
	return lossReasons(rs), nil
}

func (s *Server) UpdateLossReasons(ctx context.Context, req *opportunityv1.UpdateLossReasonsRequest) (*opportunityv1.ListLossReasonsResponse, error) {
	in := make([]domain.LossReason, len(req.GetLossReasons()))
	for i, r := range req.GetLossReasons() {
		in[i] = domain.LossReason{ID: r.GetId(), DisplayName: r.GetDisplayName()}
	}
	rs, err := s.app.UpdateLossReasons(ctx, in)
	if err != nil {
		return nil, err
	}
	return lossReasons(rs), nil
}

func (s *Server) ListWinReasons(ctx context.Context, _ *opportunityv1.ListWinReasonsRequest) (*opportunityv1.ListWinReasonsResponse, error) {
	rs, err := s.app.WinReasons(ctx)
	if err != nil {
		return nil, err
	}
	return winReasons(rs), nil
}

func (s *Server) UpdateWinReasons(ctx context.Context, req *opportunityv1.UpdateWinReasonsRequest) (*opportunityv1.ListWinReasonsResponse, error) {
	in := make([]domain.WinReason, len(req.GetWinReasons()))
	for i, r := range req.GetWinReasons() {
		in[i] = domain.WinReason{ID: r.GetId(), DisplayName: r.GetDisplayName()}
	}
	rs, err := s.app.UpdateWinReasons(ctx, in)
	if err != nil {
		return nil, err
	}
	return winReasons(rs), nil
}

func winReasons(rs []domain.WinReason) *opportunityv1.ListWinReasonsResponse {
	resp := &opportunityv1.ListWinReasonsResponse{}
	for _, r := range rs {
		resp.WinReasons = append(resp.WinReasons, &opportunityv1.WinReason{Id: r.ID, DisplayName: r.DisplayName, Retired: r.Retired})
	}
	return resp
}

func lossReasons(rs []domain.LossReason) *opportunityv1.ListLossReasonsResponse {
	resp := &opportunityv1.ListLossReasonsResponse{}
	for _, r := range rs {
		resp.LossReasons = append(resp.LossReasons, protomap.LossReason(r))
	}
	return resp
}

// ---- reports ----

func (s *Server) GetForecast(ctx context.Context, req *opportunityv1.GetForecastRequest) (*opportunityv1.Forecast, error) {
	q := app.ForecastQuery{
		Period: app.PeriodQuarter, Start: protomap.DateFromProto(req.GetStartDate()), End: protomap.DateFromProto(req.GetEndDate()),
		Owners:    req.GetOwners(),
		Reporting: app.ReportingQuery{Currency: req.GetReportingCurrency(), RateDate: protomap.DateFromProto(req.GetRateDate())},
	}
	if req.GetPeriod() == opportunityv1.ForecastPeriod_FORECAST_PERIOD_MONTH {
		q.Period = app.PeriodMonth
	}
	for _, d := range req.GetGroupBy() {
		switch d {
		case opportunityv1.ForecastDimension_FORECAST_DIMENSION_OWNER:
			q.GroupBy = append(q.GroupBy, app.DimOwner)
		case opportunityv1.ForecastDimension_FORECAST_DIMENSION_PIPELINE:
			q.GroupBy = append(q.GroupBy, app.DimPipeline)
		case opportunityv1.ForecastDimension_FORECAST_DIMENSION_STAGE:
			q.GroupBy = append(q.GroupBy, app.DimStage)
		case opportunityv1.ForecastDimension_FORECAST_DIMENSION_FORECAST_CATEGORY:
			q.GroupBy = append(q.GroupBy, app.DimCategory)
		}
	}
	if p := req.GetPipeline(); p != "" {
		id, err := resname.ParseField(p, "pipelines", "pipeline")
		if err != nil {
			return nil, err
		}
		q.PipelineID = id
	}
	rows, rep, err := s.app.Forecast(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &opportunityv1.Forecast{ReportingCurrency: rep.Currency, RateDate: protomap.Date(rep.RateDate)}
	for _, r := range rows {
		fr := &opportunityv1.ForecastRow{
			PeriodStart: protomap.Date(r.PeriodStart), Owner: r.Owner, Stage: r.Stage,
			ForecastCategory: protomap.Forecast(r.ForecastCategory), Count: r.Count, Conversions: money.Protos(r.Conversions),
		}
		if r.PipelineID != uuid.Nil {
			fr.Pipeline = protomap.PipelineName(r.PipelineID)
		}
		if r.Currency != "" {
			if fr.Amount, err = money.FromDecimal(r.Currency, r.Amount); err != nil {
				return nil, err
			}
			if fr.WeightedAmount, err = money.FromDecimal(r.Currency, r.Weighted); err != nil {
				return nil, err
			}
		}
		out.Rows = append(out.Rows, fr)
	}
	return out, nil
}

func (s *Server) GetSalesPerformance(ctx context.Context, req *opportunityv1.GetSalesPerformanceRequest) (*opportunityv1.SalesPerformance, error) {
	q := app.PerformanceQuery{Owner: req.GetOwner(),
		Reporting: app.ReportingQuery{Currency: req.GetReportingCurrency(), RateDate: protomap.DateFromProto(req.GetRateDate())}}
	if req.GetStartTime() != nil {
		q.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		q.End = req.GetEndTime().AsTime()
	}
	ps, rep, err := s.app.Performance(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &opportunityv1.SalesPerformance{ReportingCurrency: rep.Currency, RateDate: protomap.Date(rep.RateDate)}
	for _, p := range ps {
		op := &opportunityv1.OwnerPerformance{
			Owner: p.Owner, CurrencyCode: p.Currency, WonCount: p.WonCount, LostCount: p.LostCount,
			AverageDaysToClose: p.AverageDaysToClose, Conversions: money.Protos(p.Conversions),
		}
		if n := p.WonCount + p.LostCount; n > 0 {
			op.WinRate = float64(p.WonCount) / float64(n)
		}
		if p.Currency != "" {
			for _, m := range []struct {
				dst **moneypb.Money
				v   string
			}{{&op.WonAmount, p.WonAmount}, {&op.LostAmount, p.LostAmount}, {&op.AverageDealSize, p.AverageWon}} {
				if *m.dst, err = money.FromDecimal(p.Currency, m.v); err != nil {
					return nil, err
				}
			}
		}
		out.Owners = append(out.Owners, op)
	}
	return out, nil
}

// ---- helpers ----

// wakeRelay tells the outbox relay there is something to publish, when
// the call that changed something succeeded.
func (s *Server) wakeRelay(err *error) {
	if *err == nil && s.published != nil {
		s.published()
	}
}

// prefixFields puts prefix before the resource's field violations; those
// on request fields (update_mask, stage_moves) stay as they are.
func prefixFields(err error, prefix string) error {
	e, ok := apperr.As(err)
	if !ok || len(e.Violations) == 0 {
		return err
	}
	out := *e
	out.Violations = make([]apperr.FieldViolation, len(e.Violations))
	for i, v := range e.Violations {
		if !strings.HasPrefix(v.Field, "update_mask") && !strings.HasPrefix(v.Field, "stage_moves") {
			v.Field = prefix + v.Field
		}
		out.Violations[i] = v
	}
	return &out
}

// updateMask returns the fields to update: the mask's paths, all
// updatable fields for "*", or the fields set in the request's resource
// when there is no mask (AIP-134; implicit names those too, which such a
// mask skips). Unknown paths and sub-paths are InvalidArgument on
// update_mask.
func updateMask(mask *fieldmaskpb.FieldMask, res proto.Message, outputOnly, implicit map[string]bool, all []string) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		res.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			if !implicit[string(fd.Name())] {
				paths = append(paths, string(fd.Name()))
			}
			return true
		})
	}
	var fields []string
	var vs apperr.Violations
	desc := res.ProtoReflect().Descriptor()
	for _, p := range paths {
		if p == "*" {
			return all, nil
		}
		switch {
		case outputOnly[p]:
		case strings.Contains(p, "."):
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%q: no sub-field can be updated on its own", p)
		case desc.Fields().ByName(protoreflect.Name(p)) == nil:
			vs.Add("update_mask", "UNKNOWN_FIELD", "%s has no field %q", desc.Name(), p)
		default:
			fields = append(fields, p)
		}
	}
	return fields, vs.Err()
}

func (s *Server) ListAuditEntries(ctx context.Context, req *opportunityv1.ListAuditEntriesRequest) (*auditv1.ListAuditEntriesResponse, error) {
	q, _, id, err := audit.ParseRequest(req, "opportunities")
	if err != nil {
		return nil, err
	}
	entries, next, err := s.app.ListAuditEntries(ctx, id, q)
	if err != nil {
		return nil, err
	}
	return audit.Response(entries, next)
}
