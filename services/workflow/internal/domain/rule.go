package domain

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// Rule limits: bounded work per event, not a meltdown.
const (
	// MaxRulesPerEvent enabled rules may trigger on one event type.
	MaxRulesPerEvent = 100
	MaxActions       = 10
	// LoopBound: a rule that ran this many times for one record within
	// LoopWindow on events the workflow service itself caused is in a
	// loop (its actions trigger it again) and is stopped.
	LoopBound  = 3
	LoopWindow = 10 * time.Minute
)

// Timer purposes of rules, keyed as their docs say.
const (
	// TimerRuleRun does a run's remaining (remote) actions; key: run id.
	TimerRuleRun = "rule.run"
	// TimerRuleTime fires a time trigger; key: "<rule id>|<record>".
	TimerRuleTime = "rule.time"
	// TimerRuleArm arms a time rule's timers for the records that exist,
	// a page at a time; key: rule id, payload: the last record done.
	TimerRuleArm = "rule.arm"
)

// Rule acts when its trigger fires for a record and its condition holds.
type Rule struct {
	ID          uuid.UUID
	DisplayName string
	Description string
	Enabled     bool
	// EventTypes (full message names) of an event trigger; Time of a
	// time trigger. One of them is set.
	EventTypes []string
	Time       *TimeTrigger
	// Condition is CEL over `record` and `event`; "" is true.
	Condition string
	Actions   []Action
	// Process is the definition whose stage entry actions the rule runs
	// (uuid.Nil for an admin's rule), for records on ProcessVersion.
	Process        uuid.UUID
	ProcessVersion int64
	Seeded         bool
	Deleted        bool
	CreatedAt      time.Time
	CreatedBy      string
	UpdatedAt      time.Time
	UpdatedBy      string
	Version        int64
}

// TimeTrigger fires at a date field of a record plus Offset.
type TimeTrigger struct {
	RecordType RecordType
	Field      string
	Offset     time.Duration
	Yearly     bool
}

// Action is one thing a rule does; exactly one of its parts is set.
type Action struct {
	CreateTask  *TaskAction   `json:"create_task,omitempty"`
	UpdateField *FieldAction  `json:"update_field,omitempty"`
	Notify      *NotifyAction `json:"notify,omitempty"`
}

// DueUnit of a task action's due time.
type DueUnit string

const (
	DueHours        DueUnit = "HOURS"
	DueDays         DueUnit = "DAYS"
	DueBusinessDays DueUnit = "BUSINESS_DAYS"
)

// TaskAction creates (or, with a key, reschedules) a task.
type TaskAction struct {
	Type     ActivityType `json:"type"`
	Subject  string       `json:"subject,omitempty"`
	Body     string       `json:"body,omitempty"`
	Assignee string       `json:"assignee,omitempty"`
	DueIn    int          `json:"due_in"`
	DueUnit  DueUnit      `json:"due_unit"`
	Key      string       `json:"key,omitempty"`
}

// FieldAction sets a field of the record through its owning service.
type FieldAction struct {
	Field string `json:"field"`
	// Value is the field's JSON value, as the API takes it.
	Value json.RawMessage `json:"value"`
}

// NotifyAction publishes a WorkflowNotification.
type NotifyAction struct {
	Topic     string `json:"topic,omitempty"`
	Message   string `json:"message,omitempty"`
	Recipient string `json:"recipient,omitempty"`
}

// Due is when a task action's task is due, from the trigger's time:
// business days are Monday to Friday, counted in UTC (holidays and
// business calendars are not known here).
func (t *TaskAction) Due(from time.Time) time.Time {
	switch t.DueUnit {
	case DueHours:
		return from.Add(time.Duration(t.DueIn) * time.Hour)
	case DueBusinessDays:
		d := from
		for n := t.DueIn; n > 0; {
			d = d.AddDate(0, 0, 1)
			if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
				n--
			}
		}
		return d
	default:
		return from.AddDate(0, 0, t.DueIn)
	}
}

// RuleFields can change through UpdateRule.
var RuleFields = []string{"display_name", "description", "enabled", "trigger", "condition", "actions"}

// Check validates what a rule's shape says; the condition and the
// actions' fields and users are checked by the rules engine, which knows
// the types.
func (r *Rule) Check() error {
	var vs apperr.Violations
	r.DisplayName, r.Condition = strings.TrimSpace(r.DisplayName), strings.TrimSpace(r.Condition)
	if r.DisplayName == "" {
		vs.Add("display_name", "DISPLAY_NAME_REQUIRED", "a rule has a name")
	}
	switch {
	case len(r.EventTypes) == 0 && r.Time == nil:
		vs.Add("trigger", "TRIGGER_REQUIRED", "a rule has an event or time trigger")
	case r.Time != nil && !r.Time.RecordType.Valid():
		vs.Add("trigger.time.record_type", "INVALID_RECORD_TYPE", "a time trigger names a record type")
	}
	if len(r.Actions) == 0 || len(r.Actions) > MaxActions {
		vs.Add("actions", "INVALID_ACTIONS", "a rule has 1 to %d actions", MaxActions)
	}
	for i, a := range r.Actions {
		f := "actions[" + itoa(i) + "]"
		switch {
		case a.CreateTask != nil:
			if !a.CreateTask.Type.Valid() {
				vs.Add(f+".create_task.type", "INVALID_TYPE", "a task is a NOTE, CALL, EMAIL, MEETING or TODO")
			}
			if a.CreateTask.DueIn < 0 {
				vs.Add(f+".create_task", "INVALID_DUE", "a task is due after its trigger, not before")
			}
		case a.UpdateField != nil:
			if a.UpdateField.Field == "" || len(a.UpdateField.Value) == 0 {
				vs.Add(f+".update_field", "FIELD_REQUIRED", "an update names a field and a value")
			}
		case a.Notify != nil:
		default:
			vs.Add(f, "ACTION_REQUIRED", "an action creates a task, updates a field or notifies")
		}
	}
	return vs.Err()
}

// Run is one run of a rule for a record.
type Run struct {
	ID          uuid.UUID
	RuleID      uuid.UUID
	RuleVersion int64
	Record      string
	EventID     uuid.UUID
	EventType   string
	EventActor  string
	DueAt       time.Time
	// Input is what the condition saw, as JSON; kept for runs whose
	// condition held.
	Input           json.RawMessage
	ConditionResult bool
	Status          RunStatus
	Actions         []ActionResult
	Error           string
	Attempts        int
	CreatedAt       time.Time
	FinishedAt      time.Time
}

// RunStatus of a run.
type RunStatus string

const (
	RunSkipped   RunStatus = "SKIPPED"
	RunPending   RunStatus = "PENDING"
	RunSucceeded RunStatus = "SUCCEEDED"
	RunFailed    RunStatus = "FAILED"
)

// ActionResult is what one action of a run did; Action keeps the action
// as the rule's version had it, for the remote actions still to do.
type ActionResult struct {
	Index  int     `json:"index"`
	Done   bool    `json:"done"`
	Detail string  `json:"detail,omitempty"`
	Error  string  `json:"error,omitempty"`
	Action *Action `json:"action,omitempty"`
}

// ErrRuleNotFound is returned for a rule that does not exist.
func ErrRuleNotFound(id uuid.UUID) error {
	return apperr.NotFound("RULE_NOT_FOUND", "rule %s not found", id)
}
