package protomap

import (
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// ProcessRecordType and Enforcement both ways.
func ProcessRecordType(t domain.RecordType) workflowv1.ProcessRecordType {
	return workflowv1.ProcessRecordType(protoenum.Value(string(t), "PROCESS_RECORD_TYPE_", workflowv1.ProcessRecordType_value))
}

func ProcessRecordTypeFromProto(t workflowv1.ProcessRecordType) domain.RecordType {
	if t == workflowv1.ProcessRecordType_PROCESS_RECORD_TYPE_UNSPECIFIED {
		return ""
	}
	return domain.RecordType(protoenum.Name(t.String(), "PROCESS_RECORD_TYPE_"))
}

func Enforcement(e domain.Enforcement) workflowv1.Enforcement {
	return workflowv1.Enforcement(protoenum.Value(string(e), "ENFORCEMENT_", workflowv1.Enforcement_value))
}

func EnforcementFromProto(e workflowv1.Enforcement) domain.Enforcement {
	if e == workflowv1.Enforcement_ENFORCEMENT_UNSPECIFIED {
		return ""
	}
	return domain.Enforcement(protoenum.Name(e.String(), "ENFORCEMENT_"))
}

// ProcessDefinition returns the API form of d.
func ProcessDefinition(d *domain.ProcessDefinition) *workflowv1.ProcessDefinition {
	p := &workflowv1.ProcessDefinition{
		Name: domain.ProcessDefinitionName(d.ID), DisplayName: d.DisplayName, RecordType: ProcessRecordType(d.RecordType),
		Pipeline: d.Pipeline, Enforcement: Enforcement(d.Enforcement), Active: d.Active, Version: d.Version,
		CreateTime: ts(d.CreatedAt), UpdateTime: ts(d.UpdatedAt), Etag: etag.Format(d.Version),
	}
	for _, st := range d.Stages {
		ps := &workflowv1.ProcessStage{Stage: st.Stage}
		for _, a := range st.EntryActions {
			ps.EntryActions = append(ps.EntryActions, Action(a))
		}
		for _, step := range st.Steps {
			s := &workflowv1.ProcessStep{Id: step.ID, Title: step.Title, Required: step.Required}
			switch {
			case step.Condition != "":
				s.Kind = &workflowv1.ProcessStep_Condition{Condition: step.Condition}
			case step.Activity != "":
				s.Kind = &workflowv1.ProcessStep_Activity{Activity: ActivityType(domain.ActivityType(step.Activity))}
			case step.Checklist:
				s.Kind = &workflowv1.ProcessStep_Checklist{Checklist: &workflowv1.ChecklistItem{}}
			}
			ps.Steps = append(ps.Steps, s)
		}
		p.Stages = append(p.Stages, ps)
	}
	return p
}

// ProcessDefinitionFromProto returns the domain form of p (the fields a
// caller sets).
func ProcessDefinitionFromProto(p *workflowv1.ProcessDefinition) domain.ProcessDefinition {
	d := domain.ProcessDefinition{
		DisplayName: p.GetDisplayName(), RecordType: ProcessRecordTypeFromProto(p.GetRecordType()), Pipeline: p.GetPipeline(),
		Enforcement: EnforcementFromProto(p.GetEnforcement()), Active: p.GetActive(),
	}
	for _, ps := range p.GetStages() {
		st := domain.ProcessStage{Stage: ps.GetStage()}
		for _, a := range ps.GetEntryActions() {
			st.EntryActions = append(st.EntryActions, ActionFromProto(a))
		}
		for _, s := range ps.GetSteps() {
			step := domain.ProcessStep{ID: s.GetId(), Title: s.GetTitle(), Required: s.GetRequired(), Condition: s.GetCondition()}
			switch k := s.GetKind().(type) {
			case *workflowv1.ProcessStep_Activity:
				step.Activity = string(ActivityTypeFromProto(k.Activity))
			case *workflowv1.ProcessStep_Checklist:
				step.Checklist = true
			}
			st.Steps = append(st.Steps, step)
		}
		d.Stages = append(d.Stages, st)
	}
	return d
}

// ProcessDefinitionChanged is the event of a definition's new version.
func ProcessDefinitionChanged(meta *eventsv1.EventMeta, d *domain.ProcessDefinition) *eventsv1.ProcessDefinitionChanged {
	return &eventsv1.ProcessDefinitionChanged{
		Meta: meta, Definition: domain.ProcessDefinitionName(d.ID), RecordType: string(d.RecordType), Pipeline: d.Pipeline,
		Enforcement: string(d.Enforcement), Active: d.Active, Version: d.Version,
	}
}

// MissingSteps returns the API form of missing steps.
func MissingSteps(ms []domain.StageStep) []*workflowv1.MissingStep {
	out := make([]*workflowv1.MissingStep, len(ms))
	for i, m := range ms {
		out[i] = &workflowv1.MissingStep{Stage: m.Stage, StepId: m.Step.ID, Title: m.Step.Title}
	}
	return out
}

// ProcessInstance returns the API form of a record's place in its process.
func ProcessInstance(v *app.InstanceView) *workflowv1.ProcessInstance {
	p := &workflowv1.ProcessInstance{
		Name: v.Instance.Record + "/processInstance", Record: v.Instance.Record, Definition: domain.ProcessDefinitionName(v.Definition.ID),
		DefinitionVersion: v.Instance.Version, Stage: v.Stage, AllowedNextStages: v.AllowedNext, Ticked: v.Instance.Ticked,
		CreateTime: ts(v.Instance.CreatedAt), UpdateTime: ts(v.Instance.UpdatedAt), LatestVersion: v.LatestVersion,
	}
	for _, ss := range v.Steps {
		p.Steps = append(p.Steps, &workflowv1.StepState{Stage: ss.Stage, StepId: ss.Step.ID, Title: ss.Step.Title, Required: ss.Step.Required, Done: v.Done[ss.Step.ID]})
	}
	return p
}

// ProcessException returns the API form of e.
func ProcessException(e *domain.ProcessException) *workflowv1.ProcessException {
	return &workflowv1.ProcessException{Time: ts(e.At), ToStage: e.ToStage, Kind: e.Kind, Actor: e.Actor, Reason: e.Reason, Missing: MissingSteps(e.Missing)}
}
