package domain

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// ActivityType is the kind of an activity.
type ActivityType string

const (
	TypeNote    ActivityType = "NOTE"
	TypeCall    ActivityType = "CALL"
	TypeEmail   ActivityType = "EMAIL"
	TypeMeeting ActivityType = "MEETING"
	TypeTodo    ActivityType = "TODO"
)

// Valid reports a known type.
func (t ActivityType) Valid() bool {
	return slices.Contains([]ActivityType{TypeNote, TypeCall, TypeEmail, TypeMeeting, TypeTodo}, t)
}

// Status of an activity.
type Status string

const (
	StatusOpen      Status = "OPEN"
	StatusDone      Status = "DONE"
	StatusCancelled Status = "CANCELLED"
)

// Direction of a call or email.
type Direction string

const (
	DirectionInbound  Direction = "INBOUND"
	DirectionOutbound Direction = "OUTBOUND"
)

// Timer purposes of tasks (platform/timer), keyed by the activity id.
const (
	TimerOverdue  = "task.overdue"
	TimerReminder = "task.reminder"
)

// Activity is a call, meeting, email, note or to-do regarding a record:
// logged (DONE, it happened at OccurAt) or scheduled (a task: DueAt set,
// OPEN until completed or cancelled).
type Activity struct {
	ID            uuid.UUID
	Type          ActivityType
	Regarding     string
	RegardingType RecordType
	// RegardingName is the regarding record's display name.
	RegardingName string
	// Account is the account whose timeline shows it.
	Account      string
	Subject      string
	Body         string
	Direction    Direction
	Outcome      string
	Duration     time.Duration
	Participants []string
	Owner        string
	Status       Status
	OccurAt      time.Time
	DueAt        time.Time
	ReminderAt   time.Time
	CompletedAt  time.Time
	CancelReason string
	// Rule that made it, if one did; Key makes it one open task per
	// record and key.
	Rule      uuid.UUID
	Key       string
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	// Version increases with every change (etag, calendar SEQUENCE).
	Version int64
}

// Field names a settable activity field, as in the API.
type Field string

const (
	FieldSubject      Field = "subject"
	FieldBody         Field = "body"
	FieldDirection    Field = "direction"
	FieldOutcome      Field = "outcome"
	FieldDuration     Field = "duration"
	FieldParticipants Field = "participants"
	FieldOwner        Field = "owner"
)

// ActivityFields can change through UpdateActivity.
var ActivityFields = []Field{FieldSubject, FieldBody, FieldDirection, FieldOutcome, FieldDuration, FieldParticipants, FieldOwner}

// TimerChange sets (Due non-zero) or cancels one of an activity's timers.
type TimerChange struct {
	Purpose string
	Due     time.Time
}

// Change is what an activity method asks to save besides the activity.
type Change struct {
	Events []Event
	Timers []TimerChange
}

// IsTask reports a scheduled activity.
func (a *Activity) IsTask() bool { return !a.DueAt.IsZero() }

// Overdue reports an open task past its due time.
func (a *Activity) Overdue(now time.Time) bool { return a.Status == StatusOpen && a.DueAt.Before(now) }

// NewActivity logs (no due time) or schedules (a due time: a task, OPEN)
// an activity regarding a record; id may be uuid.Nil for a new one. A due
// time in the past is allowed: the task is overdue at once.
func NewActivity(in Activity, id uuid.UUID, actor string, now time.Time) (*Activity, Change, error) {
	a := in
	a.ID = id
	if a.ID == uuid.Nil {
		a.ID = uuid.Must(uuid.NewV7())
	}
	a.normalize()
	if a.Owner == "" {
		a.Owner = actor
	}
	if err := a.check(); err != nil {
		return nil, Change{}, err
	}
	if a.IsTask() {
		a.Status, a.OccurAt = StatusOpen, time.Time{}
	} else {
		a.Status = StatusDone
		if a.OccurAt.IsZero() {
			a.OccurAt = now
		}
		if !a.ReminderAt.IsZero() {
			return nil, Change{}, apperr.InvalidField("reminder_time", "REMINDER_WITHOUT_DUE_TIME", "only a scheduled activity (with a due time) has a reminder")
		}
	}
	a.CreatedAt, a.CreatedBy, a.UpdatedAt, a.UpdatedBy, a.Version = now, actor, now, actor, 1
	return &a, Change{Events: []Event{ActivityCreated{}}, Timers: a.timers()}, nil
}

func (a *Activity) normalize() {
	for _, s := range []*string{&a.Subject, &a.Owner, &a.Outcome, &a.Key} {
		*s = strings.TrimSpace(*s)
	}
	if a.Participants == nil {
		a.Participants = []string{}
	}
}

func (a *Activity) check() error {
	var vs apperr.Violations
	if !a.Type.Valid() {
		vs.Add("type", "INVALID_TYPE", "type is NOTE, CALL, EMAIL, MEETING or TODO")
	}
	if a.Direction != "" && a.Direction != DirectionInbound && a.Direction != DirectionOutbound {
		vs.Add("direction", "INVALID_DIRECTION", "direction is INBOUND or OUTBOUND")
	}
	if a.Duration < 0 || a.Duration > 24*time.Hour {
		vs.Add("duration", "INVALID_DURATION", "a duration is 0 to 24 hours")
	}
	if !a.ReminderAt.IsZero() && a.IsTask() && a.ReminderAt.After(a.DueAt) {
		vs.Add("reminder_time", "REMINDER_AFTER_DUE", "the reminder comes before the due time")
	}
	for i, p := range a.Participants {
		if t, _, ok := ParseRecordName(p); !ok || t != RecordContact {
			vs.Add("participants["+itoa(i)+"]", "INVALID_PARTICIPANT", "participants are contacts/{id}")
		}
	}
	return vs.Err()
}

// timers are the overdue and reminder timers of an open task.
func (a *Activity) timers() []TimerChange {
	if a.Status != StatusOpen {
		return []TimerChange{{Purpose: TimerOverdue}, {Purpose: TimerReminder}}
	}
	ts := []TimerChange{{Purpose: TimerOverdue, Due: a.DueAt}, {Purpose: TimerReminder, Due: a.ReminderAt}}
	return ts
}

func (a *Activity) touch(actor string, now time.Time) {
	a.UpdatedAt, a.UpdatedBy = now, actor
	a.Version++
}

func (a *Activity) notOpen(what string) error {
	e := apperr.FailedPrecondition("ACTIVITY_NOT_OPEN", "activity %s is %s, not an open task: it cannot be %s", a.ID, a.Status, what)
	e.Preconditions = []apperr.PreconditionViolation{{Type: "ACTIVITY_NOT_OPEN", Subject: "activities/" + a.ID.String(), Description: e.Message}}
	return e.WithMeta("status", string(a.Status))
}

// Complete logs an open task as done now.
func (a *Activity) Complete(outcome, actor string, now time.Time) (Change, error) {
	if a.Status != StatusOpen {
		return Change{}, a.notOpen("completed")
	}
	if o := strings.TrimSpace(outcome); o != "" {
		a.Outcome = o
	}
	a.Status, a.OccurAt, a.CompletedAt = StatusDone, now, now
	a.touch(actor, now)
	return Change{Events: []Event{ActivityCompleted{}}, Timers: a.timers()}, nil
}

// Cancel cancels an open task.
func (a *Activity) Cancel(reason, actor string, now time.Time) (Change, error) {
	if a.Status != StatusOpen {
		return Change{}, a.notOpen("cancelled")
	}
	a.Status, a.CancelReason = StatusCancelled, strings.TrimSpace(reason)
	a.touch(actor, now)
	return Change{Events: []Event{ActivityCancelled{}}, Timers: a.timers()}, nil
}

// Reschedule moves an open task's due and reminder times; its timers move
// with them.
func (a *Activity) Reschedule(due, reminder time.Time, actor string, now time.Time) (Change, error) {
	if a.Status != StatusOpen {
		return Change{}, a.notOpen("rescheduled")
	}
	if due.IsZero() {
		return Change{}, apperr.InvalidField("due_time", "DUE_TIME_REQUIRED", "a task has a due time")
	}
	if !reminder.IsZero() && reminder.After(due) {
		return Change{}, apperr.InvalidField("reminder_time", "REMINDER_AFTER_DUE", "the reminder comes before the due time")
	}
	if due.Equal(a.DueAt) && reminder.Equal(a.ReminderAt) {
		return Change{}, nil
	}
	a.DueAt, a.ReminderAt = due, reminder
	a.touch(actor, now)
	return Change{Events: []Event{ActivityUpdated{Changed: []string{"due_time", "reminder_time"}}}, Timers: a.timers()}, nil
}

// Update sets the fields in mask to their values in patch.
func (a *Activity) Update(patch Activity, mask []Field, actor string, now time.Time) (Change, error) {
	next := *a
	next.Participants = slices.Clone(a.Participants)
	patch.normalize()
	var vs apperr.Violations
	for _, f := range mask {
		switch f {
		case FieldSubject:
			next.Subject = patch.Subject
		case FieldBody:
			next.Body = patch.Body
		case FieldDirection:
			next.Direction = patch.Direction
		case FieldOutcome:
			next.Outcome = patch.Outcome
		case FieldDuration:
			next.Duration = patch.Duration
		case FieldParticipants:
			next.Participants = slices.Clone(patch.Participants)
		case FieldOwner:
			if patch.Owner == "" {
				vs.Add(string(f), "OWNER_REQUIRED", "owner cannot be cleared")
			}
			next.Owner = patch.Owner
		default:
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
		}
	}
	if err := vs.Err(); err != nil {
		return Change{}, err
	}
	next.normalize()
	if err := next.check(); err != nil {
		return Change{}, err
	}
	var changed []string
	add := func(f Field, differs bool) {
		if differs {
			changed = append(changed, string(f))
		}
	}
	add(FieldSubject, a.Subject != next.Subject)
	add(FieldBody, a.Body != next.Body)
	add(FieldDirection, a.Direction != next.Direction)
	add(FieldOutcome, a.Outcome != next.Outcome)
	add(FieldDuration, a.Duration != next.Duration)
	add(FieldParticipants, !slices.Equal(a.Participants, next.Participants))
	add(FieldOwner, a.Owner != next.Owner)
	if len(changed) == 0 {
		return Change{}, nil
	}
	*a = next
	a.touch(actor, now)
	return Change{Events: []Event{ActivityUpdated{Changed: changed}}}, nil
}

// MoveTo re-points the activity at another record (a merge).
func (a *Activity) MoveTo(r *Record, actor string, now time.Time) Change {
	if a.Regarding == r.Name {
		return Change{}
	}
	a.Regarding, a.RegardingType, a.RegardingName, a.Account = r.Name, r.Type, r.DisplayName, r.Account
	a.touch(actor, now)
	return Change{Events: []Event{ActivityUpdated{Changed: []string{"regarding"}}}}
}

// ErrActivityNotFound is returned for an activity that does not exist.
func ErrActivityNotFound(id uuid.UUID) error {
	return apperr.NotFound("ACTIVITY_NOT_FOUND", "activity %s not found", id)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
