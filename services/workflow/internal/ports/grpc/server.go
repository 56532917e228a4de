// Package grpc is the workflow service's gRPC API: it maps requests to
// use cases and results back, makes create and custom methods idempotent
// by request_id, and names the request fields in every validation error.
package grpc

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/ical"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

// Server implements workflowv1.WorkflowServiceServer.
type Server struct {
	workflowv1.UnimplementedWorkflowServiceServer
	app   *app.Service
	idem  *idempotency.Store
	pages *paging.Codec
	// published is called after every successful change, to wake the
	// outbox relay.
	published func()
	// baseURL, if set, links calendar items to their records.
	baseURL string
	now     func() time.Time
}

// New returns the gRPC API over the use cases.
func New(a *app.Service, idem *idempotency.Store, pages *paging.Codec, published func(), baseURL string) *Server {
	return &Server{app: a, idem: idem, pages: pages, published: published, baseURL: baseURL, now: time.Now}
}

func (s *Server) wakeRelay(err *error) {
	if *err == nil && s.published != nil {
		s.published()
	}
}

func badPageSize(n int32) error {
	if n < 0 {
		return apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	return nil
}

func (s *Server) activity(a *domain.Activity) *workflowv1.Activity {
	return protomap.Activity(a, s.now())
}

// ---- activities ----

func (s *Server) CreateActivity(ctx context.Context, req *workflowv1.CreateActivityRequest) (_ *workflowv1.Activity, err error) {
	defer s.wakeRelay(&err)
	in := protomap.ActivityFromProto(req.GetActivity())
	switch p := req.GetParent(); {
	case p != "" && in.Regarding != "" && in.Regarding != p:
		return nil, apperr.InvalidField("activity.regarding", "REGARDING_MISMATCH", "activity.regarding %q is not the parent %q", in.Regarding, p)
	case p != "":
		if err := domain.CheckRecordName("parent", p); err != nil {
			return nil, err
		}
		in.Regarding = p
	case in.Regarding == "":
		return nil, apperr.InvalidField("activity.regarding", "REGARDING_REQUIRED", "an activity regards a record: give activity.regarding or post it under the record")
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateActivity", req, func(ctx context.Context) (*workflowv1.Activity, error) {
		a, err := s.app.CreateActivity(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "activity.", "parent")
		}
		return s.activity(a), nil
	})
}

func (s *Server) GetActivity(ctx context.Context, req *workflowv1.GetActivityRequest) (*workflowv1.Activity, error) {
	id, err := resname.ParseField(req.GetName(), "activities", "name")
	if err != nil {
		return nil, err
	}
	a, err := s.app.GetActivity(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.activity(a), nil
}

func (s *Server) ListActivities(ctx context.Context, req *workflowv1.ListActivitiesRequest) (*workflowv1.ListActivitiesResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	if p := req.GetParent(); p != "" {
		if err := domain.CheckRecordName("parent", p); err != nil {
			return nil, err
		}
	}
	as, next, err := s.app.ListActivities(ctx, req.GetParent(), app.ActivityQuery{
		Filter: req.GetFilter(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListActivitiesResponse{Activities: make([]*workflowv1.Activity, len(as)), NextPageToken: next}
	for i, a := range as {
		resp.Activities[i] = s.activity(a)
	}
	return resp, nil
}

// Output-only fields may appear in a mask (grpc-gateway derives masks from
// PATCH bodies that echo a whole resource) and are ignored; so are the
// fields other methods change.
var activityOutputOnly = map[string]bool{
	"name": true, "etag": true, "type": true, "regarding": true, "regarding_display_name": true, "account": true, "status": true,
	"occur_time": true, "due_time": true, "reminder_time": true, "overdue": true, "complete_time": true, "cancel_reason": true,
	"rule": true, "key": true, "sequence": true, "create_time": true, "created_by": true, "update_time": true, "updated_by": true,
}

func (s *Server) UpdateActivity(ctx context.Context, req *workflowv1.UpdateActivityRequest) (_ *workflowv1.Activity, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetActivity().GetName(), "activities", "activity.name")
	if err != nil {
		return nil, err
	}
	all := make([]string, len(domain.ActivityFields))
	for i, f := range domain.ActivityFields {
		all[i] = string(f)
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetActivity(), activityOutputOnly, nil, all)
	if err != nil {
		return nil, err
	}
	mask := make([]domain.Field, len(paths))
	for i, p := range paths {
		mask[i] = domain.Field(p)
	}
	a, err := s.app.UpdateActivity(ctx, id, protomap.ActivityFromProto(req.GetActivity()), mask, req.GetActivity().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "activity.", "update_mask")
	}
	return s.activity(a), nil
}

// custom runs an idempotent custom method on one activity.
func (s *Server) custom(ctx context.Context, name, requestID, method string, req proto.Message,
	fn func(ctx context.Context, id uuid.UUID) (*domain.Activity, error)) (_ *workflowv1.Activity, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(name, "activities", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, requestID, method, req, func(ctx context.Context) (*workflowv1.Activity, error) {
		a, err := fn(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.activity(a), nil
	})
}

func (s *Server) CompleteActivity(ctx context.Context, req *workflowv1.CompleteActivityRequest) (*workflowv1.Activity, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "CompleteActivity", req, func(ctx context.Context, id uuid.UUID) (*domain.Activity, error) {
		return s.app.CompleteActivity(ctx, id, req.GetOutcome(), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) CancelActivity(ctx context.Context, req *workflowv1.CancelActivityRequest) (*workflowv1.Activity, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "CancelActivity", req, func(ctx context.Context, id uuid.UUID) (*domain.Activity, error) {
		return s.app.CancelActivity(ctx, id, req.GetReason(), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) RescheduleActivity(ctx context.Context, req *workflowv1.RescheduleActivityRequest) (*workflowv1.Activity, error) {
	due, reminder := protomap.TimeOf(req.GetDueTime()), protomap.TimeOf(req.GetReminderTime())
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "RescheduleActivity", req, func(ctx context.Context, id uuid.UUID) (*domain.Activity, error) {
		return s.app.RescheduleActivity(ctx, id, due, reminder, req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) DeleteActivity(ctx context.Context, req *workflowv1.DeleteActivityRequest) (_ *emptypb.Empty, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "activities", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteActivity(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *Server) ListTasks(ctx context.Context, req *workflowv1.ListTasksRequest) (*workflowv1.ListTasksResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	ts, next, err := s.app.ListTasks(ctx, app.TaskQuery{
		Owner: req.GetOwner(), DueAfter: protomap.TimeOf(req.GetDueAfter()), DueBefore: protomap.TimeOf(req.GetDueBefore()),
		PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListTasksResponse{Tasks: make([]*workflowv1.Activity, len(ts)), NextPageToken: next}
	for i, a := range ts {
		resp.Tasks[i] = s.activity(a)
	}
	return resp, nil
}

// ---- rules ----

func (s *Server) CreateRule(ctx context.Context, req *workflowv1.CreateRuleRequest) (_ *workflowv1.Rule, err error) {
	defer s.wakeRelay(&err)
	in := protomap.RuleFromProto(req.GetRule())
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateRule", req, func(ctx context.Context) (*workflowv1.Rule, error) {
		r, err := s.app.CreateRule(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "rule.")
		}
		return protomap.Rule(r), nil
	})
}

func (s *Server) GetRule(ctx context.Context, req *workflowv1.GetRuleRequest) (*workflowv1.Rule, error) {
	id, err := resname.ParseField(req.GetName(), "rules", "name")
	if err != nil {
		return nil, err
	}
	r, err := s.app.GetRule(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Rule(r), nil
}

func (s *Server) ListRules(ctx context.Context, req *workflowv1.ListRulesRequest) (*workflowv1.ListRulesResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	rs, next, err := s.app.ListRules(ctx, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListRulesResponse{Rules: make([]*workflowv1.Rule, len(rs)), NextPageToken: next}
	for i, r := range rs {
		resp.Rules[i] = protomap.Rule(r)
	}
	return resp, nil
}

var ruleOutputOnly = map[string]bool{
	"name": true, "etag": true, "version": true, "seeded": true, "create_time": true, "created_by": true, "update_time": true, "updated_by": true,
	"process_definition": true,
}

func (s *Server) UpdateRule(ctx context.Context, req *workflowv1.UpdateRuleRequest) (_ *workflowv1.Rule, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetRule().GetName(), "rules", "rule.name")
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetRule(), ruleOutputOnly, map[string]bool{"enabled": true}, domain.RuleFields)
	if err != nil {
		return nil, err
	}
	r, err := s.app.UpdateRule(ctx, id, protomap.RuleFromProto(req.GetRule()), paths, req.GetRule().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "rule.", "update_mask")
	}
	return protomap.Rule(r), nil
}

func (s *Server) DeleteRule(ctx context.Context, req *workflowv1.DeleteRuleRequest) (_ *emptypb.Empty, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "rules", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteRule(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *Server) ListRuleRuns(ctx context.Context, req *workflowv1.ListRuleRunsRequest) (*workflowv1.ListRuleRunsResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	rule := uuid.Nil
	if req.GetParent() != "rules/-" {
		id, err := resname.ParseField(req.GetParent(), "rules", "parent")
		if err != nil {
			return nil, err
		}
		rule = id
	}
	runs, next, err := s.app.ListRuleRuns(ctx, rule, req.GetFilter(), paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListRuleRunsResponse{Runs: make([]*workflowv1.RuleRun, len(runs)), NextPageToken: next}
	for i, r := range runs {
		resp.Runs[i] = protomap.Run(r)
	}
	return resp, nil
}

// ---- calendars ----

func feed(f *domain.Feed) *workflowv1.CalendarFeed {
	p := &workflowv1.CalendarFeed{Name: protomap.FeedName(f.ID), Owner: f.Owner, TokenPrefix: f.TokenPrefix,
		CreateTime: protomap.Timestamp(f.CreatedAt), RevokeTime: protomap.Timestamp(f.RevokedAt)}
	return p
}

func (s *Server) CreateCalendarFeed(ctx context.Context, _ *workflowv1.CreateCalendarFeedRequest) (*workflowv1.CreateCalendarFeedResponse, error) {
	f, token, err := s.app.CreateCalendarFeed(ctx)
	if err != nil {
		return nil, err
	}
	return &workflowv1.CreateCalendarFeedResponse{Feed: feed(f), Token: token, Path: "/v1/calendars/" + token}, nil
}

func (s *Server) ListCalendarFeeds(ctx context.Context, _ *workflowv1.ListCalendarFeedsRequest) (*workflowv1.ListCalendarFeedsResponse, error) {
	fs, err := s.app.ListCalendarFeeds(ctx)
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListCalendarFeedsResponse{Feeds: make([]*workflowv1.CalendarFeed, len(fs))}
	for i, f := range fs {
		resp.Feeds[i] = feed(f)
	}
	return resp, nil
}

func (s *Server) RevokeCalendarFeed(ctx context.Context, req *workflowv1.RevokeCalendarFeedRequest) (*workflowv1.CalendarFeed, error) {
	id, err := resname.ParseField(req.GetName(), "calendarFeeds", "name")
	if err != nil {
		return nil, err
	}
	f, err := s.app.RevokeCalendarFeed(ctx, id)
	if err != nil {
		return nil, err
	}
	return feed(f), nil
}

// GetCalendar is public (calendar apps send no token): the feed's secret
// token authenticates it.
func (s *Server) GetCalendar(ctx context.Context, req *workflowv1.GetCalendarRequest) (*httpbody.HttpBody, error) {
	f, items, err := s.app.Calendar(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	return &httpbody.HttpBody{ContentType: ical.ContentType, Data: ical.Render(f.Owner, items, s.now(), s.baseURL)}, nil
}

// ---- audit ----

func (s *Server) ListAuditEntries(ctx context.Context, req *workflowv1.ListAuditEntriesRequest) (*auditv1.ListAuditEntriesResponse, error) {
	q, collection, id, err := audit.ParseRequest(req, "activities", "rules")
	if err != nil {
		return nil, err
	}
	entries, next, err := s.app.ListAuditEntries(ctx, collection, id, q)
	if err != nil {
		return nil, err
	}
	return audit.Response(entries, next)
}
