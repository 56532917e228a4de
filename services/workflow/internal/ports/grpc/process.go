package grpc

import (
	"context"
	"strings"

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

// ProcessServer implements workflowv1.ProcessServiceServer.
type ProcessServer struct {
	workflowv1.UnimplementedProcessServiceServer
	app       *app.Service
	idem      *idempotency.Store
	published func()
}

// NewProcessServer returns the process API over a.
func NewProcessServer(a *app.Service, idem *idempotency.Store, published func()) *ProcessServer {
	return &ProcessServer{app: a, idem: idem, published: published}
}

func (s *ProcessServer) wakeRelay(err *error) {
	if *err == nil && s.published != nil {
		s.published()
	}
}

func (s *ProcessServer) CreateProcessDefinition(ctx context.Context, req *workflowv1.CreateProcessDefinitionRequest) (_ *workflowv1.ProcessDefinition, err error) {
	defer s.wakeRelay(&err)
	in := protomap.ProcessDefinitionFromProto(req.GetProcessDefinition())
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateProcessDefinition", req, func(ctx context.Context) (*workflowv1.ProcessDefinition, error) {
		d, err := s.app.CreateProcessDefinition(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "process_definition.")
		}
		return protomap.ProcessDefinition(d), nil
	})
}

func (s *ProcessServer) GetProcessDefinition(ctx context.Context, req *workflowv1.GetProcessDefinitionRequest) (*workflowv1.ProcessDefinition, error) {
	id, err := resname.ParseField(req.GetName(), "processDefinitions", "name")
	if err != nil {
		return nil, err
	}
	d, err := s.app.GetProcessDefinition(ctx, id, req.GetVersion())
	if err != nil {
		return nil, err
	}
	return protomap.ProcessDefinition(d), nil
}

func (s *ProcessServer) ListProcessDefinitions(ctx context.Context, req *workflowv1.ListProcessDefinitionsRequest) (*workflowv1.ListProcessDefinitionsResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	ds, next, err := s.app.ListProcessDefinitions(ctx, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListProcessDefinitionsResponse{NextPageToken: next}
	for _, d := range ds {
		resp.ProcessDefinitions = append(resp.ProcessDefinitions, protomap.ProcessDefinition(d))
	}
	return resp, nil
}

var processOutputOnly = map[string]bool{"name": true, "etag": true, "version": true, "create_time": true, "update_time": true}

func (s *ProcessServer) UpdateProcessDefinition(ctx context.Context, req *workflowv1.UpdateProcessDefinitionRequest) (_ *workflowv1.ProcessDefinition, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetProcessDefinition().GetName(), "processDefinitions", "process_definition.name")
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetProcessDefinition(), processOutputOnly,
		map[string]bool{"active": true, "record_type": true, "pipeline": true}, domain.ProcessFields)
	if err != nil {
		return nil, err
	}
	d, err := s.app.UpdateProcessDefinition(ctx, id, protomap.ProcessDefinitionFromProto(req.GetProcessDefinition()), paths, req.GetProcessDefinition().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "process_definition.", "update_mask")
	}
	return protomap.ProcessDefinition(d), nil
}

// instanceRecord is the record of `<record>/processInstance`.
func instanceRecord(field, name string) (string, error) {
	record, ok := strings.CutSuffix(name, "/processInstance")
	if !ok {
		return "", apperr.InvalidField(field, "INVALID_NAME", "%q is not a process instance: leads/{id}/processInstance (or of an opportunity, order or contract)", name)
	}
	if err := domain.CheckRecordName(field, record); err != nil {
		return "", err
	}
	return record, nil
}

func (s *ProcessServer) GetProcessInstance(ctx context.Context, req *workflowv1.GetProcessInstanceRequest) (*workflowv1.ProcessInstance, error) {
	record, err := instanceRecord("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.app.GetProcessInstance(ctx, record)
	if err != nil {
		return nil, err
	}
	return protomap.ProcessInstance(v), nil
}

func (s *ProcessServer) TickChecklistItem(ctx context.Context, req *workflowv1.TickChecklistItemRequest) (*workflowv1.ProcessInstance, error) {
	record, err := instanceRecord("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.app.TickChecklistItem(ctx, record, req.GetStepId(), req.GetDone())
	if err != nil {
		return nil, err
	}
	return protomap.ProcessInstance(v), nil
}

func (s *ProcessServer) MigrateProcessInstance(ctx context.Context, req *workflowv1.MigrateProcessInstanceRequest) (*workflowv1.ProcessInstance, error) {
	record, err := instanceRecord("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.app.MigrateProcessInstance(ctx, record, req.GetVersion())
	if err != nil {
		return nil, err
	}
	return protomap.ProcessInstance(v), nil
}

func (s *ProcessServer) CheckTransition(ctx context.Context, req *workflowv1.CheckTransitionRequest) (*workflowv1.CheckTransitionResponse, error) {
	if err := domain.CheckRecordName("record", req.GetRecord()); err != nil {
		return nil, err
	}
	if req.GetSnapshot() == nil {
		return nil, apperr.InvalidField("snapshot", "REQUIRED", "send the record as its service has it")
	}
	snap, err := req.GetSnapshot().UnmarshalNew()
	if err != nil {
		return nil, apperr.InvalidField("snapshot", "INVALID_SNAPSHOT", "the snapshot is not a record message: %v", err)
	}
	res, err := s.app.CheckTransition(ctx, app.TransitionCheck{
		Record: req.GetRecord(), ToStage: req.GetToStage(), Snapshot: snap, Pipeline: req.GetPipeline(),
		Actor: req.GetActor(), Override: req.GetOverride(), Reason: req.GetOverrideReason(), RequestID: req.GetRequestId(),
	})
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.CheckTransitionResponse{Allowed: res.Allowed, Missing: protomap.MissingSteps(res.Missing)}
	if d := res.Definition; d != nil {
		resp.Definition, resp.DefinitionVersion, resp.Enforcement = domain.ProcessDefinitionName(d.ID), d.Version, protomap.Enforcement(d.Enforcement)
	}
	return resp, nil
}

func (s *ProcessServer) ListProcessExceptions(ctx context.Context, req *workflowv1.ListProcessExceptionsRequest) (*workflowv1.ListProcessExceptionsResponse, error) {
	record, err := instanceRecord("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	es, next, err := s.app.ListProcessExceptions(ctx, record, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &workflowv1.ListProcessExceptionsResponse{NextPageToken: next}
	for _, e := range es {
		resp.Exceptions = append(resp.Exceptions, protomap.ProcessException(e))
	}
	return resp, nil
}
