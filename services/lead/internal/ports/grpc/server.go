// Package grpc is the lead service's gRPC API: it maps requests to use
// cases and results back, makes create and custom methods idempotent by
// request_id, and names the request fields in every validation error.
package grpc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

// Server implements leadv1.LeadServiceServer.
type Server struct {
	leadv1.UnimplementedLeadServiceServer
	app  *app.Service
	idem *idempotency.Store
	// published is called after every successful change, to wake the
	// outbox relay.
	published func()
	imports   *ImportServer
}

// New returns the gRPC API over the use cases.
func New(a *app.Service, idem *idempotency.Store, published func()) *Server {
	return &Server{app: a, idem: idem, published: published}
}

func (s *Server) CreateLead(ctx context.Context, req *leadv1.CreateLeadRequest) (_ *leadv1.Lead, err error) {
	defer s.wakeRelay(&err)
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateLead", req, func(ctx context.Context) (*leadv1.Lead, error) {
		l, err := s.app.CreateLead(ctx, protomap.LeadFromProto(req.GetLead()), req.GetRequestId(), req.GetAllowDuplicate())
		if err != nil {
			return nil, apperr.PrefixFields(err, "lead.")
		}
		return protomap.Lead(l), nil
	})
}

func (s *Server) GetLead(ctx context.Context, req *leadv1.GetLeadRequest) (*leadv1.Lead, error) {
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	l, err := s.app.GetLead(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Lead(l), nil
}

func (s *Server) ListLeads(ctx context.Context, req *leadv1.ListLeadsRequest) (*leadv1.ListLeadsResponse, error) {
	leads, next, err := s.app.ListLeads(ctx, app.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(),
		PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &leadv1.ListLeadsResponse{Leads: make([]*leadv1.Lead, len(leads)), NextPageToken: next}
	for i, l := range leads {
		resp.Leads[i] = protomap.Lead(l)
	}
	return resp, nil
}

func (s *Server) UpdateLead(ctx context.Context, req *leadv1.UpdateLeadRequest) (_ *leadv1.Lead, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetLead().GetName(), "leads", "lead.name")
	if err != nil {
		return nil, err
	}
	mask, err := updateMask(req)
	if err != nil {
		return nil, err
	}
	l, err := s.app.UpdateLead(ctx, id, protomap.LeadFromProto(req.GetLead()), mask, req.GetLead().GetEtag(), req.GetAllowDuplicate(), app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
	if err != nil {
		return nil, apperr.PrefixFields(err, "lead.")
	}
	return protomap.Lead(l), nil
}

func (s *Server) DeleteLead(ctx context.Context, req *leadv1.DeleteLeadRequest) (_ *emptypb.Empty, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteLead(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *Server) AssignLead(ctx context.Context, req *leadv1.AssignLeadRequest) (_ *leadv1.Lead, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "AssignLead", req, func(ctx context.Context) (*leadv1.Lead, error) {
		l, err := s.app.AssignLead(ctx, id, req.GetOwner(), req.GetEtag(), req.GetRequestId())
		return leadOrErr(l, err)
	})
}

func (s *Server) DisqualifyLead(ctx context.Context, req *leadv1.DisqualifyLeadRequest) (_ *leadv1.Lead, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "DisqualifyLead", req, func(ctx context.Context) (*leadv1.Lead, error) {
		l, err := s.app.DisqualifyLead(ctx, id, protomap.ReasonFromProto(req.GetReason()), req.GetNote(), req.GetEtag(), req.GetRequestId(), app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
		return leadOrErr(l, err)
	})
}

func (s *Server) ReactivateLead(ctx context.Context, req *leadv1.ReactivateLeadRequest) (_ *leadv1.Lead, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "ReactivateLead", req, func(ctx context.Context) (*leadv1.Lead, error) {
		l, err := s.app.ReactivateLead(ctx, id, req.GetEtag(), req.GetRequestId(), app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
		return leadOrErr(l, err)
	})
}

func (s *Server) ListAuditEntries(ctx context.Context, req *leadv1.ListAuditEntriesRequest) (*auditv1.ListAuditEntriesResponse, error) {
	q, collection, id, err := audit.ParseRequest(req, "leads", "webForms")
	if err != nil {
		return nil, err
	}
	entries, next, err := s.app.ListAuditEntries(ctx, collection, id, q)
	if err != nil {
		return nil, err
	}
	return audit.Response(entries, next)
}

func (s *Server) MergeLeads(ctx context.Context, req *leadv1.MergeLeadsRequest) (_ *leadv1.MergeLeadsResponse, err error) {
	primary, err := resname.ParseField(req.GetPrimary(), "leads", "primary")
	if err != nil {
		return nil, err
	}
	dups := make([]uuid.UUID, len(req.GetDuplicates()))
	for i, name := range req.GetDuplicates() {
		if dups[i], err = resname.ParseField(name, "leads", fmt.Sprintf("duplicates[%d]", i)); err != nil {
			return nil, err
		}
	}
	sources := map[domain.Field]uuid.UUID{}
	for field, name := range req.GetFieldSources() {
		if sources[domain.Field(field)], err = resname.ParseField(name, "leads", "field_sources["+field+"]"); err != nil {
			return nil, err
		}
	}
	merge := func(ctx context.Context) (*leadv1.MergeLeadsResponse, error) {
		res, err := s.app.MergeLeads(ctx, primary, dups, sources, req.GetEtag(), req.GetRequestId(), req.GetDryRun())
		if err != nil {
			return nil, err
		}
		resp := &leadv1.MergeLeadsResponse{Lead: protomap.Lead(res.Lead), ChangedFields: res.Changed, DryRun: req.GetDryRun()}
		for _, m := range res.Merged {
			resp.MergedLeads = append(resp.MergedLeads, protomap.Lead(m))
		}
		return resp, nil
	}
	if req.GetDryRun() {
		return merge(ctx)
	}
	defer s.wakeRelay(&err)
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "MergeLeads", req, merge)
}

func (s *Server) GetLeadStatistics(ctx context.Context, req *leadv1.GetLeadStatisticsRequest) (*leadv1.LeadStatistics, error) {
	q := app.StatisticsQuery{Owner: req.GetOwner()}
	if req.GetStartTime() != nil {
		q.From = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		q.To = req.GetEndTime().AsTime()
	}
	st, err := s.app.LeadStatistics(ctx, q)
	if err != nil {
		return nil, err
	}
	counts := func(cs []app.Count) []*leadv1.Count {
		out := make([]*leadv1.Count, len(cs))
		for i, c := range cs {
			out[i] = &leadv1.Count{Key: c.Key, Count: c.Count}
		}
		return out
	}
	rates := func(rs []app.ConversionRate) []*leadv1.ConversionRate {
		out := make([]*leadv1.ConversionRate, len(rs))
		for i, r := range rs {
			out[i] = &leadv1.ConversionRate{Key: r.Key, Qualified: r.Qualified, Closed: r.Closed, Rate: r.Rate()}
		}
		return out
	}
	funnel := func(f app.LifecycleFunnel) *leadv1.LifecycleFunnel {
		return &leadv1.LifecycleFunnel{Key: f.Key, Mql: f.MQL, Sql: f.SQL, Qualified: f.Qualified,
			MqlToSqlRate: f.MQLToSQL(), SqlToQualifiedRate: f.SQLToQualified()}
	}
	funnels := func(fs []app.LifecycleFunnel) []*leadv1.LifecycleFunnel {
		out := make([]*leadv1.LifecycleFunnel, len(fs))
		for i, f := range fs {
			out[i] = funnel(f)
		}
		return out
	}
	return &leadv1.LeadStatistics{
		StartTime: timestamppb.New(st.From), EndTime: timestamppb.New(st.To), Total: st.Total,
		ByStatus: counts(st.ByStatus), BySource: counts(st.BySource), ByCampaign: counts(st.ByCampaign),
		ByOwner: counts(st.ByOwner), ConversionBySource: rates(st.ConversionBySource),
		ConversionByCampaign: rates(st.ConversionByCampaign), ConversionByOwner: rates(st.ConversionByOwner), MedianDaysToQualify: st.MedianDaysToQualify,
		DisqualificationReasons: counts(st.DisqualificationReasons),
		LifecycleFunnel:         funnel(st.Lifecycle), LifecycleFunnelBySource: funnels(st.LifecycleBySource),
		LifecycleFunnelByCampaign: funnels(st.LifecycleByCampaign), LifecycleFunnelByOwner: funnels(st.LifecycleByOwner),
		ByProduct: counts(st.ByProduct), ConversionByProduct: rates(st.ConversionByProduct),
	}, nil
}

func (s *Server) FindDuplicates(ctx context.Context, req *leadv1.FindDuplicatesRequest) (*leadv1.FindDuplicatesResponse, error) {
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	dups, err := s.app.FindDuplicates(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &leadv1.FindDuplicatesResponse{}
	for _, d := range dups {
		m := &leadv1.DuplicateMatch{Lead: protomap.Lead(d.Lead)}
		for _, r := range d.Rules {
			m.Rules = append(m.Rules, protomap.DuplicateRule(r))
		}
		resp.Matches = append(resp.Matches, m)
	}
	return resp, nil
}

func (s *Server) ListDuplicateGroups(ctx context.Context, req *leadv1.ListDuplicateGroupsRequest) (*leadv1.ListDuplicateGroupsResponse, error) {
	groups, next, err := s.app.ListDuplicateGroups(ctx, protomap.DuplicateRuleFromProto(req.GetRule()), paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &leadv1.ListDuplicateGroupsResponse{NextPageToken: next}
	for _, g := range groups {
		pg := &leadv1.DuplicateGroup{Rule: protomap.DuplicateRule(g.Rule), Key: g.Key}
		for _, id := range g.Leads {
			pg.Leads = append(pg.Leads, protomap.LeadName(id))
		}
		resp.Groups = append(resp.Groups, pg)
	}
	return resp, nil
}

func leadOrErr(l *domain.Lead, err error) (*leadv1.Lead, error) {
	if err != nil {
		return nil, err
	}
	return protomap.Lead(l), nil
}

// wakeRelay tells the outbox relay there is something to publish, when
// the call that changed something succeeded.
func (s *Server) wakeRelay(err *error) {
	if *err == nil && s.published != nil {
		s.published()
	}
}

// outputOnly fields may appear in a mask (grpc-gateway derives masks from
// PATCH bodies that echo a whole lead) and are ignored: the lead's
// OUTPUT_ONLY fields, read from the proto so that a new one is never
// refused as not updatable, and its name and etag (they say which lead,
// and which version of it).
var outputOnly = func() map[string]bool {
	out := map[string]bool{"name": true, "etag": true}
	fields := (&leadv1.Lead{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		behaviors, _ := proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior)
		if slices.Contains(behaviors, annotations.FieldBehavior_OUTPUT_ONLY) {
			out[string(fd.Name())] = true
		}
	}
	return out
}()

// updateMask returns the domain fields to update: the mask's paths, all
// updatable fields for "*", or the fields set in the request's lead when
// there is no mask (AIP-134).
func updateMask(req *leadv1.UpdateLeadRequest) ([]domain.Field, error) {
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		req.GetLead().ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(fd.Name()))
			return true
		})
	}
	var fields []domain.Field
	var vs apperr.Violations
	desc := (&leadv1.Lead{}).ProtoReflect().Descriptor().Fields()
	for _, p := range paths {
		if p == "*" {
			return domain.UpdatableFields, nil
		}
		top, _, _ := strings.Cut(p, ".")
		switch {
		case outputOnly[top]:
		case desc.ByName(protoreflect.Name(top)) == nil:
			vs.Add("update_mask", "UNKNOWN_FIELD", "lead has no field %q", p)
		default:
			fields = append(fields, domain.Field(p))
		}
	}
	return fields, vs.Err()
}

func (s *Server) QualifyLead(ctx context.Context, req *leadv1.QualifyLeadRequest) (_ *leadv1.Lead, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	conv, err := protomap.ConversionRequest(req)
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "QualifyLead", req, func(ctx context.Context) (*leadv1.Lead, error) {
		l, err := s.app.QualifyLead(ctx, id, conv, req.GetEtag(), req.GetRequestId(), app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
		return leadOrErr(l, err)
	})
}

func (s *Server) ListStuckConversions(ctx context.Context, req *leadv1.ListStuckConversionsRequest) (*leadv1.ListStuckConversionsResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	leads, next, err := s.app.ListStuckConversions(ctx, req.GetOlderThan().AsDuration(), paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &leadv1.ListStuckConversionsResponse{NextPageToken: next}
	for _, l := range leads {
		resp.Leads = append(resp.Leads, protomap.Lead(l))
	}
	return resp, nil
}

func (s *Server) RetryConversion(ctx context.Context, req *leadv1.RetryConversionRequest) (_ *leadv1.Lead, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "RetryConversion", req, func(ctx context.Context) (*leadv1.Lead, error) {
		return leadOrErr(s.app.RetryConversion(ctx, id, req.GetRequestId()))
	})
}

func (s *Server) FindConversionCandidates(ctx context.Context, req *leadv1.FindConversionCandidatesRequest) (*leadv1.FindConversionCandidatesResponse, error) {
	id, err := resname.ParseField(req.GetName(), "leads", "name")
	if err != nil {
		return nil, err
	}
	m, err := s.app.FindConversionCandidates(ctx, id)
	if err != nil {
		return nil, err
	}
	return &leadv1.FindConversionCandidatesResponse{Accounts: m.GetAccounts(), Contacts: m.GetContacts()}, nil
}
