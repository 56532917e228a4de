// Package protomap converts between the workflow domain and its protobuf
// forms: the API resources (crm.workflow.v1), its events, and the records
// the other services' events carry.
package protomap

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// ActivityName, RuleName, RunName, FeedName: the resource names.
func ActivityName(id uuid.UUID) string { return resname.Format("activities", id) }
func RuleName(id uuid.UUID) string     { return resname.Format("rules", id) }
func RunName(rule, run uuid.UUID) string {
	return RuleName(rule) + "/runs/" + run.String()
}
func FeedName(id uuid.UUID) string { return resname.Format("calendarFeeds", id) }

// Timestamp is the timestamp of t, nil for zero.
func Timestamp(t time.Time) *timestamppb.Timestamp { return ts(t) }

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// TimeOf is the time of a timestamp, zero for nil.
func TimeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC().Truncate(time.Microsecond)
}

// ActivityType and the other enums both ways.
func ActivityType(t domain.ActivityType) workflowv1.ActivityType {
	return workflowv1.ActivityType(protoenum.Value(string(t), "ACTIVITY_TYPE_", workflowv1.ActivityType_value))
}

func ActivityTypeFromProto(t workflowv1.ActivityType) domain.ActivityType {
	if t == workflowv1.ActivityType_ACTIVITY_TYPE_UNSPECIFIED {
		return ""
	}
	return domain.ActivityType(protoenum.Name(t.String(), "ACTIVITY_TYPE_"))
}

func Direction(d domain.Direction) workflowv1.Direction {
	return workflowv1.Direction(protoenum.Value(string(d), "DIRECTION_", workflowv1.Direction_value))
}

func DirectionFromProto(d workflowv1.Direction) domain.Direction {
	if d == workflowv1.Direction_DIRECTION_UNSPECIFIED {
		return ""
	}
	return domain.Direction(protoenum.Name(d.String(), "DIRECTION_"))
}

func Status(s domain.Status) workflowv1.ActivityStatus {
	return workflowv1.ActivityStatus(protoenum.Value(string(s), "ACTIVITY_STATUS_", workflowv1.ActivityStatus_value))
}

func RecordType(t domain.RecordType) workflowv1.RecordType {
	return workflowv1.RecordType(protoenum.Value(string(t), "RECORD_TYPE_", workflowv1.RecordType_value))
}

func RecordTypeFromProto(t workflowv1.RecordType) domain.RecordType {
	if t == workflowv1.RecordType_RECORD_TYPE_UNSPECIFIED {
		return ""
	}
	return domain.RecordType(protoenum.Name(t.String(), "RECORD_TYPE_"))
}

func runStatus(s domain.RunStatus) workflowv1.RuleRunStatus {
	return workflowv1.RuleRunStatus(protoenum.Value(string(s), "RULE_RUN_STATUS_", workflowv1.RuleRunStatus_value))
}

// Activity returns the API form of a; overdue is computed at now (zero:
// not computed, for the audit trail and events, which are not read
// later as "now").
func Activity(a *domain.Activity, now time.Time) *workflowv1.Activity {
	p := &workflowv1.Activity{
		Name: ActivityName(a.ID), Type: ActivityType(a.Type), Regarding: a.Regarding, RegardingDisplayName: a.RegardingName,
		Account: a.Account, Subject: a.Subject, Body: a.Body, Direction: Direction(a.Direction), Outcome: a.Outcome,
		Participants: append([]string{}, a.Participants...), Owner: a.Owner, Status: Status(a.Status),
		OccurTime: ts(a.OccurAt), DueTime: ts(a.DueAt), ReminderTime: ts(a.ReminderAt), CompleteTime: ts(a.CompletedAt),
		CancelReason: a.CancelReason, Rule: resname.FormatOptional("rules", a.Rule), Key: a.Key, Sequence: a.Version,
		CreateTime: ts(a.CreatedAt), CreatedBy: a.CreatedBy, UpdateTime: ts(a.UpdatedAt), UpdatedBy: a.UpdatedBy,
		Etag: etag.Format(a.Version),
	}
	if a.Duration > 0 {
		p.Duration = durationpb.New(a.Duration)
	}
	if !now.IsZero() {
		p.Overdue = a.Overdue(now)
	}
	return p
}

// ActivityFromProto returns the domain form of the settable fields of p.
func ActivityFromProto(p *workflowv1.Activity) domain.Activity {
	a := domain.Activity{
		Type: ActivityTypeFromProto(p.GetType()), Regarding: p.GetRegarding(), Subject: p.GetSubject(), Body: p.GetBody(),
		Direction: DirectionFromProto(p.GetDirection()), Outcome: p.GetOutcome(), Participants: p.GetParticipants(),
		Owner: p.GetOwner(), OccurAt: TimeOf(p.GetOccurTime()), DueAt: TimeOf(p.GetDueTime()), ReminderAt: TimeOf(p.GetReminderTime()),
	}
	if d := p.GetDuration(); d != nil {
		a.Duration = d.AsDuration()
	}
	return a
}

// ActivityEvent returns the event message for ev about a (as it is after
// the change).
func ActivityEvent(meta *eventsv1.EventMeta, a *domain.Activity, ev domain.Event) (proto.Message, error) {
	id, res := a.ID.String(), Activity(a, time.Time{})
	switch e := ev.(type) {
	case domain.ActivityCreated:
		return &eventsv1.ActivityCreated{Meta: meta, ActivityId: id, Activity: res, Regarding: a.Regarding}, nil
	case domain.ActivityUpdated:
		return &eventsv1.ActivityUpdated{Meta: meta, ActivityId: id, Activity: res, Regarding: a.Regarding, ChangedFields: e.Changed}, nil
	case domain.ActivityCompleted:
		return &eventsv1.ActivityCompleted{Meta: meta, ActivityId: id, Activity: res, Regarding: a.Regarding}, nil
	case domain.ActivityCancelled:
		return &eventsv1.ActivityCancelled{Meta: meta, ActivityId: id, Activity: res, Regarding: a.Regarding}, nil
	case domain.ActivityDeleted:
		return &eventsv1.ActivityDeleted{Meta: meta, ActivityId: id, Activity: res, Regarding: a.Regarding}, nil
	case domain.TaskOverdue:
		res.Overdue = true
		return &eventsv1.TaskOverdue{Meta: meta, ActivityId: id, Activity: res, Owner: a.Owner, Regarding: a.Regarding}, nil
	case domain.TaskReminderDue:
		return &eventsv1.TaskReminderDue{Meta: meta, ActivityId: id, Activity: res, Owner: a.Owner, Regarding: a.Regarding}, nil
	}
	return nil, fmt.Errorf("protomap: unknown activity event %T", ev)
}

// Notification returns a notify action's event.
func Notification(meta *eventsv1.EventMeta, n app.Notification) *eventsv1.WorkflowNotification {
	return &eventsv1.WorkflowNotification{Meta: meta, Rule: RuleName(n.Rule), Run: RunName(n.Rule, n.Run), Record: n.Record,
		Recipient: n.Recipient, Topic: n.Topic, Message: n.Message}
}

// ---- rules ----

// Rule returns the API form of r.
func Rule(r *domain.Rule) *workflowv1.Rule {
	p := &workflowv1.Rule{
		Name: RuleName(r.ID), DisplayName: r.DisplayName, Description: r.Description, Enabled: r.Enabled,
		Condition: r.Condition, Version: r.Version, Seeded: r.Seeded, CreateTime: ts(r.CreatedAt), CreatedBy: r.CreatedBy,
		UpdateTime: ts(r.UpdatedAt), UpdatedBy: r.UpdatedBy, Etag: etag.Format(r.Version), Trigger: &workflowv1.RuleTrigger{},
	}
	if r.Time != nil {
		p.Trigger.Kind = &workflowv1.RuleTrigger_Time{Time: &workflowv1.TimeTrigger{RecordType: RecordType(r.Time.RecordType),
			Field: r.Time.Field, Offset: durationpb.New(r.Time.Offset), Yearly: r.Time.Yearly}}
	} else {
		p.Trigger.Kind = &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: append([]string{}, r.EventTypes...)}}
	}
	for _, a := range r.Actions {
		p.Actions = append(p.Actions, Action(a))
	}
	if r.Process != uuid.Nil {
		p.ProcessDefinition = domain.ProcessDefinitionName(r.Process)
	}
	return p
}

// Action returns the API form of a.
func Action(a domain.Action) *workflowv1.RuleAction {
	switch {
	case a.CreateTask != nil:
		t := a.CreateTask
		ct := &workflowv1.CreateTaskAction{Type: ActivityType(t.Type), Subject: t.Subject, Body: t.Body, Assignee: t.Assignee, Key: t.Key}
		switch t.DueUnit {
		case domain.DueHours:
			ct.Due = &workflowv1.CreateTaskAction_DueInHours{DueInHours: int32(t.DueIn)}
		case domain.DueBusinessDays:
			ct.Due = &workflowv1.CreateTaskAction_DueInBusinessDays{DueInBusinessDays: int32(t.DueIn)}
		default:
			ct.Due = &workflowv1.CreateTaskAction_DueInDays{DueInDays: int32(t.DueIn)}
		}
		return &workflowv1.RuleAction{Kind: &workflowv1.RuleAction_CreateTask{CreateTask: ct}}
	case a.UpdateField != nil:
		v := &structpb.Value{}
		_ = protojson.Unmarshal(a.UpdateField.Value, v)
		return &workflowv1.RuleAction{Kind: &workflowv1.RuleAction_UpdateField{UpdateField: &workflowv1.UpdateFieldAction{
			Field: a.UpdateField.Field, Value: v}}}
	case a.Notify != nil:
		return &workflowv1.RuleAction{Kind: &workflowv1.RuleAction_Notify{Notify: &workflowv1.NotifyAction{
			Topic: a.Notify.Topic, Message: a.Notify.Message, Recipient: a.Notify.Recipient}}}
	}
	return &workflowv1.RuleAction{}
}

// RuleFromProto returns the domain form of the settable fields of p.
func RuleFromProto(p *workflowv1.Rule) domain.Rule {
	r := domain.Rule{DisplayName: p.GetDisplayName(), Description: p.GetDescription(), Enabled: p.GetEnabled(), Condition: p.GetCondition()}
	switch t := p.GetTrigger().GetKind().(type) {
	case *workflowv1.RuleTrigger_Events:
		r.EventTypes = append([]string{}, t.Events.GetEventTypes()...)
	case *workflowv1.RuleTrigger_Time:
		r.Time = &domain.TimeTrigger{RecordType: RecordTypeFromProto(t.Time.GetRecordType()), Field: t.Time.GetField(),
			Offset: t.Time.GetOffset().AsDuration(), Yearly: t.Time.GetYearly()}
	}
	for _, a := range p.GetActions() {
		r.Actions = append(r.Actions, ActionFromProto(a))
	}
	return r
}

// ActionFromProto returns the domain form of a.
func ActionFromProto(a *workflowv1.RuleAction) domain.Action {
	switch k := a.GetKind().(type) {
	case *workflowv1.RuleAction_CreateTask:
		t := k.CreateTask
		ta := &domain.TaskAction{Type: ActivityTypeFromProto(t.GetType()), Subject: t.GetSubject(), Body: t.GetBody(),
			Assignee: t.GetAssignee(), Key: t.GetKey()}
		switch d := t.GetDue().(type) {
		case *workflowv1.CreateTaskAction_DueInHours:
			ta.DueIn, ta.DueUnit = int(d.DueInHours), domain.DueHours
		case *workflowv1.CreateTaskAction_DueInBusinessDays:
			ta.DueIn, ta.DueUnit = int(d.DueInBusinessDays), domain.DueBusinessDays
		case *workflowv1.CreateTaskAction_DueInDays:
			ta.DueIn, ta.DueUnit = int(d.DueInDays), domain.DueDays
		default:
			ta.DueUnit = domain.DueDays
		}
		return domain.Action{CreateTask: ta}
	case *workflowv1.RuleAction_UpdateField:
		var v json.RawMessage
		if k.UpdateField.GetValue() != nil {
			v, _ = protojson.Marshal(k.UpdateField.GetValue())
		}
		return domain.Action{UpdateField: &domain.FieldAction{Field: k.UpdateField.GetField(), Value: v}}
	case *workflowv1.RuleAction_Notify:
		return domain.Action{Notify: &domain.NotifyAction{Topic: k.Notify.GetTopic(), Message: k.Notify.GetMessage(),
			Recipient: k.Notify.GetRecipient()}}
	}
	return domain.Action{}
}

// Run returns the API form of r.
func Run(r *domain.Run) *workflowv1.RuleRun {
	p := &workflowv1.RuleRun{
		Name: RunName(r.RuleID, r.ID), RuleVersion: r.RuleVersion, Record: r.Record, EventType: r.EventType,
		DueTime: ts(r.DueAt), ConditionResult: r.ConditionResult, Status: runStatus(r.Status), Error: r.Error,
		Attempts: int32(r.Attempts), CreateTime: ts(r.CreatedAt), FinishTime: ts(r.FinishedAt),
	}
	if r.EventID != uuid.Nil {
		p.EventId = r.EventID.String()
	}
	if len(r.Input) > 0 {
		s := &structpb.Struct{}
		if protojson.Unmarshal(r.Input, s) == nil {
			p.Input = s
		}
	}
	for _, a := range r.Actions {
		p.Actions = append(p.Actions, &workflowv1.ActionResult{Index: int32(a.Index), Done: a.Done, Detail: a.Detail, Error: a.Error})
	}
	return p
}
