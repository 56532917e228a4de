package grpc

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/emptypb"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

// DirectoryServer implements workflowv1.DirectoryServiceServer.
type DirectoryServer struct {
	workflowv1.UnimplementedDirectoryServiceServer
	app       *app.Service
	idem      *idempotency.Store
	published func()
}

// NewDirectoryServer returns the directory API over a.
func NewDirectoryServer(a *app.Service, idem *idempotency.Store, published func()) *DirectoryServer {
	return &DirectoryServer{app: a, idem: idem, published: published}
}

func (s *DirectoryServer) wakeRelay(err *error) {
	if *err == nil && s.published != nil {
		s.published()
	}
}

// userID reads `users/{id}`; `users/me` is the caller.
func userID(ctx context.Context, field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, "users/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", apperr.InvalidField(field, "INVALID_NAME", "%q is not a user: users/{id} or users/me", name)
	}
	if id == domain.MeAlias {
		return auth.Actor(ctx), nil
	}
	return id, nil
}

func (s *DirectoryServer) CreateUser(ctx context.Context, req *workflowv1.CreateUserRequest) (_ *workflowv1.User, err error) {
	defer s.wakeRelay(&err)
	in := protomap.UserFromProto(req.GetUser())
	in.ID = strings.TrimSpace(req.GetUserId())
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateUser", req, func(ctx context.Context) (*workflowv1.User, error) {
		u, err := s.app.CreateUser(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "user.", "user_id")
		}
		return protomap.User(u), nil
	})
}

func (s *DirectoryServer) GetUser(ctx context.Context, req *workflowv1.GetUserRequest) (*workflowv1.User, error) {
	id, err := userID(ctx, "name", req.GetName())
	if err != nil {
		return nil, err
	}
	u, err := s.app.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.User(u), nil
}

func (s *DirectoryServer) ListUsers(ctx context.Context, req *workflowv1.ListUsersRequest) (*workflowv1.ListUsersResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	us, next, err := s.app.ListUsers(ctx, req.GetFilter(), paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListUsersResponse{NextPageToken: next}
	for _, u := range us {
		resp.Users = append(resp.Users, protomap.User(u))
	}
	return resp, nil
}

var userOutputOnly = map[string]bool{"name": true, "etag": true, "create_time": true, "created_by": true, "update_time": true, "updated_by": true}

func (s *DirectoryServer) UpdateUser(ctx context.Context, req *workflowv1.UpdateUserRequest) (_ *workflowv1.User, err error) {
	defer s.wakeRelay(&err)
	id, err := userID(ctx, "user.name", req.GetUser().GetName())
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetUser(), userOutputOnly, nil, domain.UserFields)
	if err != nil {
		return nil, err
	}
	u, err := s.app.UpdateUser(ctx, id, protomap.UserFromProto(req.GetUser()), paths, req.GetUser().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "user.", "update_mask")
	}
	return protomap.User(u), nil
}

func (s *DirectoryServer) DeleteUser(ctx context.Context, req *workflowv1.DeleteUserRequest) (_ *emptypb.Empty, err error) {
	defer s.wakeRelay(&err)
	id, err := userID(ctx, "name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteUser(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *DirectoryServer) SetOutOfOffice(ctx context.Context, req *workflowv1.SetOutOfOfficeRequest) (_ *workflowv1.User, err error) {
	defer s.wakeRelay(&err)
	id, err := userID(ctx, "name", req.GetName())
	if err != nil {
		return nil, err
	}
	u, err := s.app.SetOutOfOffice(ctx, id, protomap.OutOfOfficeFromProto(req.GetOutOfOffice()), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return protomap.User(u), nil
}

func (s *DirectoryServer) CreateAssignmentRule(ctx context.Context, req *workflowv1.CreateAssignmentRuleRequest) (*workflowv1.AssignmentRule, error) {
	in := protomap.AssignmentRuleFromProto(req.GetAssignmentRule())
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateAssignmentRule", req, func(ctx context.Context) (*workflowv1.AssignmentRule, error) {
		r, err := s.app.CreateAssignmentRule(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "assignment_rule.")
		}
		return protomap.AssignmentRule(r), nil
	})
}

func (s *DirectoryServer) GetAssignmentRule(ctx context.Context, req *workflowv1.GetAssignmentRuleRequest) (*workflowv1.AssignmentRule, error) {
	id, err := resname.ParseField(req.GetName(), "assignmentRules", "name")
	if err != nil {
		return nil, err
	}
	r, err := s.app.GetAssignmentRule(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.AssignmentRule(r), nil
}

func (s *DirectoryServer) ListAssignmentRules(ctx context.Context, req *workflowv1.ListAssignmentRulesRequest) (*workflowv1.ListAssignmentRulesResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	rs, next, err := s.app.ListAssignmentRules(ctx, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListAssignmentRulesResponse{NextPageToken: next}
	for _, r := range rs {
		resp.AssignmentRules = append(resp.AssignmentRules, protomap.AssignmentRule(r))
	}
	return resp, nil
}

var assignmentRuleOutputOnly = map[string]bool{"name": true, "etag": true, "version": true, "create_time": true, "created_by": true, "update_time": true, "updated_by": true}

func (s *DirectoryServer) UpdateAssignmentRule(ctx context.Context, req *workflowv1.UpdateAssignmentRuleRequest) (*workflowv1.AssignmentRule, error) {
	id, err := resname.ParseField(req.GetAssignmentRule().GetName(), "assignmentRules", "assignment_rule.name")
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetAssignmentRule(), assignmentRuleOutputOnly,
		map[string]bool{"record_type": true}, domain.AssignmentRuleFields)
	if err != nil {
		return nil, err
	}
	r, err := s.app.UpdateAssignmentRule(ctx, id, protomap.AssignmentRuleFromProto(req.GetAssignmentRule()), paths, req.GetAssignmentRule().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "assignment_rule.", "update_mask")
	}
	return protomap.AssignmentRule(r), nil
}

func (s *DirectoryServer) DeleteAssignmentRule(ctx context.Context, req *workflowv1.DeleteAssignmentRuleRequest) (*emptypb.Empty, error) {
	id, err := resname.ParseField(req.GetName(), "assignmentRules", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteAssignmentRule(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *DirectoryServer) GetAssignment(ctx context.Context, req *workflowv1.GetAssignmentRequest) (*workflowv1.Assignment, error) {
	record, ok := protomap.AssignmentRecord(req.GetName())
	if !ok {
		return nil, apperr.InvalidField("name", "INVALID_NAME", "%q is not an assignment: leads/{id}/assignment, opportunities/{id}/assignment or orders/{id}/assignment", req.GetName())
	}
	a, err := s.app.GetAssignment(ctx, record)
	if err != nil {
		return nil, err
	}
	return protomap.Assignment(a), nil
}

func (s *DirectoryServer) ListAssignments(ctx context.Context, req *workflowv1.ListAssignmentsRequest) (*workflowv1.ListAssignmentsResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	as, next, err := s.app.ListAssignments(ctx, req.GetFilter(), paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListAssignmentsResponse{NextPageToken: next}
	for _, a := range as {
		resp.Assignments = append(resp.Assignments, protomap.Assignment(a))
	}
	return resp, nil
}
