package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

// RuleStore is what the rules need of the repository.
type RuleStore interface {
	InsertRule(ctx context.Context, r *domain.Rule, requestID string) error
	GetRule(ctx context.Context, id uuid.UUID) (*domain.Rule, error)
	LockRule(ctx context.Context, id uuid.UUID) (*domain.Rule, error)
	SaveRule(ctx context.Context, before, r *domain.Rule) error
	ListRules(ctx context.Context, pageSize int, pageToken string) ([]*domain.Rule, string, error)
	// CountEventRules counts the enabled rules triggered by eventType,
	// other than except.
	CountEventRules(ctx context.Context, eventType string, except uuid.UUID) (int, error)
	EventRules(ctx context.Context, eventType string) ([]*domain.Rule, error)
	TimeRules(ctx context.Context, t domain.RecordType) ([]*domain.Rule, error)

	// InsertRuns records runs and says which were new: not the ones of a
	// rule that already ran for that event (or due time) and record.
	InsertRuns(ctx context.Context, runs []*domain.Run) (inserted map[uuid.UUID]bool, err error)
	LockRun(ctx context.Context, id uuid.UUID) (*domain.Run, error)
	SaveRun(ctx context.Context, r *domain.Run) error
	ListRuns(ctx context.Context, rule uuid.UUID, filter string, pageSize int, pageToken string) ([]*domain.Run, string, error)
	// CountLoopRuns counts a rule's runs for a record since a time on
	// events actor caused, that did something.
	CountLoopRuns(ctx context.Context, rule uuid.UUID, record, actor string, since time.Time) (int, error)

	SetTimer(ctx context.Context, purpose, key string, due time.Time, payload []byte) error
	CancelTimer(ctx context.Context, purpose, key string) error
	// RecordsAfter pages through the records of a type by name.
	RecordsAfter(ctx context.Context, t domain.RecordType, after string, limit int) ([]*domain.Record, error)
	// Notify writes a WorkflowNotification to the outbox.
	Notify(ctx context.Context, n Notification) error
}

// Notification is a rule's notify action's event.
type Notification struct {
	Rule, Run                         uuid.UUID
	Record, Recipient, Topic, Message string
	At                                time.Time
}

// Updater sets a field of a record through its owning service, as the
// workflow service's own identity.
type Updater interface {
	Update(ctx context.Context, t domain.RecordType, record proto.Message, field string) error
}

// RuleConfig is what the rules need besides the repository.
type RuleConfig struct {
	Store   RuleStore
	Engine  *rules.Engine
	Updater Updater
	// Self is the workflow service's own subject: events it caused count
	// towards a rule's loop bound.
	Self string
}

// WithRules gives the service its rules.
func (s *Service) WithRules(c RuleConfig) *Service {
	s.rules = c
	return s
}

// ---- rule definitions ----

// check validates a rule against the types it works on: event types
// (one record type), the time trigger's field, the condition (compiled
// for each event type), the actions' fields and users, and the limit of
// rules per event type.
func (s *Service) checkRule(ctx context.Context, r *domain.Rule) (domain.RecordType, error) {
	if err := r.Check(); err != nil {
		return "", err
	}
	var rt domain.RecordType
	var vs apperr.Violations
	var anyType, typed bool
	for i, et := range r.EventTypes {
		full, t, err := rules.EventType(et)
		if err != nil {
			vs.Add(fmt.Sprintf("trigger.events.event_types[%d]", i), "UNKNOWN_EVENT_TYPE", "%v", err)
			continue
		}
		if t == "" {
			anyType, r.EventTypes[i] = true, full
			continue
		}
		typed = true
		if rt != "" && t != rt {
			vs.Add(fmt.Sprintf("trigger.events.event_types[%d]", i), "MIXED_RECORD_TYPES", "%s is about %s records, the others about %s records", et, t, rt)
		}
		rt, r.EventTypes[i] = t, full
	}
	if anyType && typed {
		vs.Add("trigger.events.event_types", "MIXED_RECORD_TYPES", "SLA events are about records of any type: trigger on them in a rule of their own")
	}
	if r.Time != nil {
		rt = r.Time.RecordType
		if err := rules.CheckDateField(rt, r.Time.Field, r.Time.Yearly); err != nil {
			vs.Add("trigger.time.field", "INVALID_DATE_FIELD", "%v", err)
		}
	}
	if err := vs.Err(); err != nil {
		return "", err
	}
	if rt == "" && r.Time == nil {
		// SLA events: the rule runs for the record types its condition
		// compiles for; it must compile for one.
		var first error
		for _, t := range domain.SlaRecordTypes {
			if err := s.rules.Engine.Compile(r.Condition, t, r.EventTypes); err == nil {
				first = nil
				break
			} else if first == nil {
				first = err
			}
		}
		if first != nil {
			return "", apperr.InvalidField("condition", "INVALID_CONDITION", "%v (for no record type)", first)
		}
	} else if err := s.rules.Engine.Compile(r.Condition, rt, r.EventTypes); err != nil {
		return "", apperr.InvalidField("condition", "INVALID_CONDITION", "%v", err)
	}
	for i, a := range r.Actions {
		f := fmt.Sprintf("actions[%d]", i)
		switch {
		case a.CreateTask != nil && a.CreateTask.Assignee != "":
			ok, err := s.repo.UserExists(ctx, a.CreateTask.Assignee)
			if err != nil {
				return "", err
			}
			if !ok {
				vs.Add(f+".create_task.assignee", "UNKNOWN_USER", "%q is not a user the suite knows", a.CreateTask.Assignee)
			}
		case a.UpdateField != nil && rt == "" && r.Time == nil:
			vs.Add(f+".update_field", "INVALID_UPDATE", "a rule on SLA events is about records of any type: it creates tasks and notifies")
		case a.UpdateField != nil:
			if err := rules.CheckUpdate(rt, a.UpdateField.Field, a.UpdateField.Value); err != nil {
				vs.Add(f+".update_field", "INVALID_UPDATE", "%v", err)
			}
		case a.Notify != nil && a.Notify.Recipient != "":
			ok, err := s.repo.UserExists(ctx, a.Notify.Recipient)
			if err != nil {
				return "", err
			}
			if !ok {
				vs.Add(f+".notify.recipient", "UNKNOWN_USER", "%q is not a user the suite knows", a.Notify.Recipient)
			}
		}
	}
	if err := vs.Err(); err != nil {
		return "", err
	}
	if r.Enabled {
		for _, et := range r.EventTypes {
			n, err := s.rules.Store.CountEventRules(ctx, et, r.ID)
			if err != nil {
				return "", err
			}
			if n >= domain.MaxRulesPerEvent {
				return "", apperr.FailedPrecondition("TOO_MANY_RULES", "%d enabled rules already trigger on %s, the most there may be: disable or merge some", n, et)
			}
		}
	}
	return rt, nil
}

// CreateRule saves a new rule (version 1); a time rule's timers are armed
// for the records that exist.
func (s *Service) CreateRule(ctx context.Context, in domain.Rule, requestID string) (*domain.Rule, error) {
	actor, now := auth.Actor(ctx), s.now()
	r := in
	r.ID, r.Version, r.Seeded, r.Deleted = uuid.Must(uuid.NewV7()), 1, false, false
	r.CreatedAt, r.CreatedBy, r.UpdatedAt, r.UpdatedBy = now, actor, now, actor
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.checkRule(ctx, &r); err != nil {
			return err
		}
		if err := s.rules.Store.InsertRule(ctx, &r, requestID); err != nil {
			return err
		}
		return s.armTimeRule(ctx, &r)
	})
	return &r, err
}

func (s *Service) armTimeRule(ctx context.Context, r *domain.Rule) error {
	if r.Time == nil || !r.Enabled {
		return nil
	}
	return s.rules.Store.SetTimer(ctx, domain.TimerRuleArm, r.ID.String(), s.now(), nil)
}

func (s *Service) GetRule(ctx context.Context, id uuid.UUID) (*domain.Rule, error) {
	return s.rules.Store.GetRule(ctx, id)
}

func (s *Service) ListRules(ctx context.Context, pageSize int, pageToken string) ([]*domain.Rule, string, error) {
	return s.rules.Store.ListRules(ctx, pageSize, pageToken)
}

// UpdateRule makes a new version of a rule; runs already recorded stay as
// they are and never run again.
func (s *Service) UpdateRule(ctx context.Context, id uuid.UUID, patch domain.Rule, mask []string, ifMatch string) (*domain.Rule, error) {
	var out *domain.Rule
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.rules.Store.LockRule(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, r.Version); err != nil {
			return err
		}
		if r.Process != uuid.Nil {
			return domain.ErrRuleOwnedByProcess(r)
		}
		before := *r
		for _, f := range mask {
			switch f {
			case "display_name":
				r.DisplayName = patch.DisplayName
			case "description":
				r.Description = patch.Description
			case "enabled":
				r.Enabled = patch.Enabled
			case "trigger":
				r.EventTypes, r.Time = patch.EventTypes, patch.Time
			case "condition":
				r.Condition = patch.Condition
			case "actions":
				r.Actions = patch.Actions
			default:
				return apperr.InvalidField("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
			}
		}
		if _, err := s.checkRule(ctx, r); err != nil {
			return err
		}
		r.Version++
		r.UpdatedAt, r.UpdatedBy = s.now(), auth.Actor(ctx)
		out = r
		if err := s.rules.Store.SaveRule(ctx, &before, r); err != nil {
			return err
		}
		return s.armTimeRule(ctx, r)
	})
	return out, err
}

// DeleteRule deletes a rule; its runs stay.
func (s *Service) DeleteRule(ctx context.Context, id uuid.UUID, ifMatch string) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.rules.Store.LockRule(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, r.Version); err != nil {
			return err
		}
		if r.Process != uuid.Nil {
			return domain.ErrRuleOwnedByProcess(r)
		}
		before := *r
		r.Deleted, r.Enabled = true, false
		r.Version++
		r.UpdatedAt, r.UpdatedBy = s.now(), auth.Actor(ctx)
		return s.rules.Store.SaveRule(ctx, &before, r)
	})
}

// ListRuleRuns lists a rule's runs (every rule's for uuid.Nil).
func (s *Service) ListRuleRuns(ctx context.Context, rule uuid.UUID, filter string, pageSize int, pageToken string) ([]*domain.Run, string, error) {
	if rule != uuid.Nil {
		if _, err := s.rules.Store.GetRule(ctx, rule); err != nil {
			return nil, "", err
		}
	}
	return s.rules.Store.ListRuns(ctx, rule, filter, pageSize, pageToken)
}

// ---- runs ----

// plan is what a batch of rule runs writes, gathered first so that the
// runs of a whole event (an import's thousand leads) take a few round
// trips rather than a few per run. A run's writes are kept only if the
// run itself is new (not recorded for the same trigger before).
type plan struct {
	runs    []*domain.Run
	creates map[uuid.UUID][]NewActivity
	updates map[uuid.UUID][]ChangedActivity
	notes   map[uuid.UUID][]Notification
	// open is the open task of each record and key: locked, or made by
	// this plan ("regarding\x00key").
	open map[string]*domain.Activity
}

// NewActivity is an activity to insert with its change.
type NewActivity struct {
	Activity  *domain.Activity
	Change    domain.Change
	RequestID string
}

// ChangedActivity is a change of a stored activity.
type ChangedActivity struct {
	Before, Activity *domain.Activity
	Change           domain.Change
	RequestID        string
}

func newPlan() *plan {
	return &plan{creates: map[uuid.UUID][]NewActivity{}, updates: map[uuid.UUID][]ChangedActivity{},
		notes: map[uuid.UUID][]Notification{}, open: map[string]*domain.Activity{}}
}

func openKey(regarding, key string) string { return regarding + "\x00" + key }

// trial is one rule to run for one record.
type trial struct {
	rule          *domain.Rule
	rec           *domain.Record
	record, event proto.Message
	trigger       string
	// late: the projection holds a newer event's record (see planTask).
	late bool
	// holds and err are the condition's result.
	holds bool
	err   error
}

// runEventRules runs the rules an event triggers for each record it
// carries, in the event's transaction: current records are those the
// event set in the projection, late ones those a newer event had set
// already. Conditions see the record as the event carried it, either way,
// so an event's rules do what they would have done in order; only time
// triggers, which follow the record as it is now, are armed for current
// records alone.
func (s *Service) runEventRules(ctx context.Context, ev Event, current, late []EventRecord, now time.Time) error {
	if s.rules.Store == nil {
		return nil
	}
	eventID, err := uuid.Parse(ev.ID)
	if err != nil {
		return nil // not an event of the suite's outbox
	}
	// Tasks are due from when the event happened.
	at := ev.At
	if at.IsZero() {
		at = now
	}
	if err := s.armRecordsTimers(ctx, current); err != nil {
		return err
	}
	cache := map[string][]*domain.Rule{}
	var trials []trial
	for i, er := range slices.Concat(current, late) {
		trigger := er.Trigger
		if trigger == "" {
			trigger = ev.Type
		}
		rs, ok := cache[trigger]
		if !ok {
			if rs, err = s.rules.Store.EventRules(ctx, trigger); err != nil {
				return err
			}
			cache[trigger] = rs
		}
		event := er.Event
		if event == nil {
			event = ev.Message
		}
		for _, r := range rs {
			if rules.AnyRecordEvent(trigger) && s.rules.Engine.Compile(r.Condition, er.Record.Type, []string{trigger}) != nil {
				continue // an SLA rule whose condition is about another record type
			}
			trials = append(trials, trial{rule: r, rec: er.Record, record: er.Message, event: event, trigger: trigger, late: i >= len(current)})
		}
	}
	if trials, err = s.onProcessVersion(ctx, trials); err != nil {
		return err
	}
	if len(trials) == 0 {
		return nil
	}
	p := newPlan()
	if err := s.evaluate(ctx, p, trials); err != nil {
		return err
	}
	for _, tr := range trials {
		run := &domain.Run{ID: uuid.Must(uuid.NewV7()), RuleID: tr.rule.ID, RuleVersion: tr.rule.Version, Record: tr.rec.Name,
			EventID: eventID, EventType: tr.trigger, EventActor: ev.Actor, CreatedAt: now}
		if err := s.planRun(ctx, p, tr, run, at); err != nil {
			return err
		}
	}
	return s.write(ctx, p)
}

// evaluate evaluates the trials' conditions and locks the open tasks
// their task actions with a key may reschedule.
func (s *Service) evaluate(ctx context.Context, p *plan, trials []trial) error {
	var keys [][2]string
	for i := range trials {
		tr := &trials[i]
		tr.holds, tr.err = s.rules.Engine.Eval(tr.rule.Condition, tr.rec.Type, tr.record, tr.event)
		if !tr.holds || tr.err != nil {
			continue
		}
		for _, a := range tr.rule.Actions {
			if a.CreateTask != nil && a.CreateTask.Key != "" {
				keys = append(keys, [2]string{tr.rec.Name, a.CreateTask.Key})
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	open, err := s.repo.LockOpenTasks(ctx, keys)
	if err != nil {
		return err
	}
	for _, a := range open {
		p.open[openKey(a.Regarding, a.Key)] = a
	}
	return nil
}

// planRun decides a run of a rule for a record from its condition's
// result: tasks and notifications at once, updates of other services'
// records later (the run PENDING, on a timer that retries).
func (s *Service) planRun(ctx context.Context, p *plan, tr trial, run *domain.Run, at time.Time) error {
	r, rec := tr.rule, tr.rec
	run.ConditionResult = tr.holds && tr.err == nil
	run.Status = domain.RunSkipped
	if tr.err != nil {
		run.Status, run.Error = domain.RunFailed, "the condition failed: "+tr.err.Error()
	}
	if run.ConditionResult {
		run.Input = input(tr.record, tr.event)
		loop, err := s.loops(ctx, r, run)
		if err != nil {
			return err
		}
		if loop {
			run.Status = domain.RunFailed
			run.Error = fmt.Sprintf("RULE_LOOP: the rule ran %d times for %s within %v on changes the workflow service itself made; stopped", domain.LoopBound, rec.Name, domain.LoopWindow)
		}
	}
	p.runs = append(p.runs, run)
	if !run.ConditionResult || run.Status == domain.RunFailed {
		run.FinishedAt = run.CreatedAt
		return nil
	}
	pending := false
	for i := range r.Actions {
		a := r.Actions[i]
		res := domain.ActionResult{Index: i, Action: &a}
		var err error
		switch {
		case a.CreateTask != nil:
			res.Detail, err = s.planTask(p, r, run, a.CreateTask, rec, at, tr.late)
			res.Done = err == nil
		case a.Notify != nil:
			recipient := a.Notify.Recipient
			if recipient == "" {
				recipient = rec.Owner
			}
			p.notes[run.ID] = append(p.notes[run.ID], Notification{Rule: r.ID, Run: run.ID, Record: rec.Name, Recipient: recipient,
				Topic: a.Notify.Topic, Message: a.Notify.Message, At: at})
			res.Done, res.Detail = true, "notified "+recipient
		case a.UpdateField != nil:
			pending = true
		}
		if err != nil {
			res.Error = err.Error()
			run.Status, run.Error = domain.RunFailed, fmt.Sprintf("action %d: %v", i, err)
		}
		run.Actions = append(run.Actions, res)
	}
	switch {
	case run.Status == domain.RunFailed:
		run.FinishedAt = s.now()
		// Nothing of a failed run is done.
		for _, c := range p.creates[run.ID] {
			if p.open[openKey(c.Activity.Regarding, c.Activity.Key)] == c.Activity {
				delete(p.open, openKey(c.Activity.Regarding, c.Activity.Key))
			}
		}
		delete(p.creates, run.ID)
		delete(p.updates, run.ID)
		delete(p.notes, run.ID)
	case pending:
		run.Status = domain.RunPending
	default:
		run.Status, run.FinishedAt = domain.RunSucceeded, s.now()
	}
	return nil
}

// write records the plan's runs and, for those that are new, writes what
// they do.
func (s *Service) write(ctx context.Context, p *plan) error {
	if len(p.runs) == 0 {
		return nil
	}
	inserted, err := s.rules.Store.InsertRuns(ctx, p.runs)
	if err != nil {
		return err
	}
	var creates []NewActivity
	for _, run := range p.runs {
		if !inserted[run.ID] {
			continue // ran for this trigger before
		}
		creates = append(creates, p.creates[run.ID]...)
	}
	if err := s.repo.InsertActivities(ctx, creates); err != nil {
		return err
	}
	for _, run := range p.runs {
		if !inserted[run.ID] {
			continue
		}
		for _, u := range p.updates[run.ID] {
			if err := s.repo.SaveActivity(ctx, u.Before, u.Activity, u.Change, u.RequestID); err != nil {
				return err
			}
		}
		for _, n := range p.notes[run.ID] {
			if err := s.rules.Store.Notify(ctx, n); err != nil {
				return err
			}
		}
		if run.Status == domain.RunPending {
			if err := s.rules.Store.SetTimer(ctx, domain.TimerRuleRun, run.ID.String(), s.now(), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// loops reports whether a rule keeps re-triggering itself on one record
// through the workflow service's own changes.
func (s *Service) loops(ctx context.Context, r *domain.Rule, run *domain.Run) (bool, error) {
	if s.rules.Self == "" || run.EventActor != s.rules.Self {
		return false, nil
	}
	n, err := s.rules.Store.CountLoopRuns(ctx, r.ID, run.Record, s.rules.Self, s.now().Add(-domain.LoopWindow))
	return n >= domain.LoopBound, err
}

// input is what a run's condition saw, as JSON: the record, and the
// event without its copy of the record (events carry the record they are
// about; it is the same message, kept once).
func input(record, event proto.Message) json.RawMessage {
	m := map[string]json.RawMessage{}
	opts := protojson.MarshalOptions{UseProtoNames: true}
	if record != nil {
		m["record"], _ = opts.Marshal(record)
	}
	if event != nil {
		ev := event.ProtoReflect()
		var same protoreflect.FieldDescriptor
		ev.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && record != nil && v.Message().Interface() == record {
				same = fd
				return false
			}
			return true
		})
		if same != nil {
			// The event is this worker's own decoded message: the field is
			// put back at once.
			v := ev.Get(same)
			ev.Clear(same)
			m["event"], _ = opts.Marshal(event)
			ev.Set(same, v)
		} else {
			m["event"], _ = opts.Marshal(event)
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// planTask makes a rule's task regarding the record, for the assignee
// (the record's owner by default); with a key, the open task with that
// key is rescheduled instead, unless the event is late: the open task is
// then as a newer event of the record had it, which in order would have
// come after this one.
func (s *Service) planTask(p *plan, r *domain.Rule, run *domain.Run, t *domain.TaskAction, rec *domain.Record, from time.Time, late bool) (string, error) {
	owner := t.Assignee
	if owner == "" {
		owner = rec.Owner
	}
	if owner == "" {
		return "", apperr.FailedPrecondition("NO_ASSIGNEE", "%s has no owner to give the task to", rec.Name)
	}
	actor, now := "rule:"+r.ID.String(), s.now()
	due := t.Due(from)
	if t.Key != "" {
		if a, ok := p.open[openKey(rec.Name, t.Key)]; ok {
			if late && s.madeBy(p, a) == nil {
				return "kept activities/" + a.ID.String() + ": a newer event of the record set it", nil
			}
			if made := s.madeBy(p, a); made != nil {
				// Made by this plan: it is due as the later rule says.
				made.Activity.DueAt = due
				made.Change.Timers = []domain.TimerChange{{Purpose: domain.TimerOverdue, Due: due}}
				return "rescheduled activities/" + a.ID.String(), nil
			}
			before := *a
			ch, err := a.Reschedule(due, time.Time{}, actor, now)
			if err != nil {
				return "", err
			}
			if len(ch.Events) == 0 {
				return "kept activities/" + a.ID.String(), nil
			}
			p.updates[run.ID] = append(p.updates[run.ID], ChangedActivity{Before: &before, Activity: a, Change: ch, RequestID: run.ID.String()})
			return "rescheduled activities/" + a.ID.String(), nil
		}
	}
	a, ch, err := domain.NewActivity(domain.Activity{Type: t.Type, Regarding: rec.Name, RegardingType: rec.Type, RegardingName: rec.DisplayName,
		Account: rec.Account, Subject: t.Subject, Body: t.Body, Owner: owner, DueAt: due, Rule: r.ID, Key: t.Key}, uuid.Nil, actor, now)
	if err != nil {
		return "", err
	}
	p.creates[run.ID] = append(p.creates[run.ID], NewActivity{Activity: a, Change: ch, RequestID: run.ID.String()})
	if t.Key != "" {
		p.open[openKey(rec.Name, t.Key)] = a
	}
	return "created activities/" + a.ID.String(), nil
}

// madeBy is the plan's creation of a, if the plan made it.
func (s *Service) madeBy(p *plan, a *domain.Activity) *NewActivity {
	for id, cs := range p.creates {
		for i := range cs {
			if cs[i].Activity == a {
				return &p.creates[id][i]
			}
		}
	}
	return nil
}

// RunPending does a pending run's remaining actions (its timer, in the
// timer's transaction): each update through the owning service. A refusal
// fails the run; no answer is retried (the timer's backoff) up to
// maxAttempts, then the run fails with the reason.
func (s *Service) RunPending(ctx context.Context, id uuid.UUID, attempt int) error {
	const maxAttempts = 5
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		run, err := s.rules.Store.LockRun(ctx, id)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if run.Status != domain.RunPending {
			return nil
		}
		run.Attempts = attempt + 1
		for i := range run.Actions {
			res := &run.Actions[i]
			if res.Done || res.Action == nil || res.Action.UpdateField == nil {
				continue
			}
			err := s.update(ctx, run.Record, res.Action.UpdateField)
			switch {
			case err == nil:
				res.Done, res.Detail, res.Error = true, "set "+res.Action.UpdateField.Field, ""
				continue
			case transient(err) && run.Attempts < maxAttempts:
				return err // the timer retries with backoff; this transaction rolls back
			}
			res.Error = err.Error()
			run.Status, run.Error, run.FinishedAt = domain.RunFailed, fmt.Sprintf("action %d: %v", res.Index, err), s.now()
			return s.rules.Store.SaveRun(ctx, run)
		}
		run.Status, run.FinishedAt = domain.RunSucceeded, s.now()
		return s.rules.Store.SaveRun(ctx, run)
	})
}

func transient(err error) bool {
	e, ok := apperr.As(err)
	if !ok {
		return true
	}
	switch e.Kind {
	case apperr.KindUnavailable, apperr.KindAborted, apperr.KindResourceExhausted:
		return true
	}
	return false
}

func (s *Service) update(ctx context.Context, name string, u *domain.FieldAction) error {
	rec, err := s.repo.GetRecord(ctx, name)
	if err != nil {
		return err
	}
	m := rules.NewRecordMessage(rec.Type)
	if err := proto.Unmarshal(rec.Message, m); err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	next, err := rules.SetField(m, u.Field, u.Value)
	if err != nil {
		return apperr.InvalidField("update_field", "INVALID_UPDATE", "%v", err)
	}
	// As the workflow service itself: the change's events name it, and
	// count towards the rules' loop bound.
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: s.rules.Self})
	return s.rules.Updater.Update(ctx, rec.Type, next, u.Field)
}

// ---- time triggers ----

func timeKey(rule uuid.UUID, record string) string { return rule.String() + "|" + record }

// armRecordsTimers sets (or cancels) the time-rule timers of records
// whose dates may have changed.
func (s *Service) armRecordsTimers(ctx context.Context, records []EventRecord) error {
	cache := map[domain.RecordType][]*domain.Rule{}
	for _, er := range records {
		rs, ok := cache[er.Record.Type]
		if !ok {
			var err error
			if rs, err = s.rules.Store.TimeRules(ctx, er.Record.Type); err != nil {
				return err
			}
			cache[er.Record.Type] = rs
		}
		for _, r := range rs {
			if err := s.armRecord(ctx, r, er.Record, er.Message); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) armRecord(ctx context.Context, r *domain.Rule, rec *domain.Record, m proto.Message) error {
	key := timeKey(r.ID, rec.Name)
	d, ok := rules.DateOf(m, r.Time.Field)
	if !ok || rec.Deleted {
		return s.rules.Store.CancelTimer(ctx, domain.TimerRuleTime, key)
	}
	due := rules.NextDue(d, r.Time, s.now().Add(-time.Minute))
	return s.rules.Store.SetTimer(ctx, domain.TimerRuleTime, key, due, nil)
}

// ArmTimeRule arms a time rule's timers for a page of the records that
// exist (its rule.arm timer), and re-arms itself for the next page.
func (s *Service) ArmTimeRule(ctx context.Context, id uuid.UUID, after string) error {
	const page = 1000
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.rules.Store.GetRule(ctx, id)
		if err != nil || r.Time == nil || !r.Enabled || r.Deleted {
			return ignoreNotFound(err)
		}
		recs, err := s.rules.Store.RecordsAfter(ctx, r.Time.RecordType, after, page)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			m := rules.NewRecordMessage(rec.Type)
			if err := proto.Unmarshal(rec.Message, m); err != nil {
				continue
			}
			if err := s.armRecord(ctx, r, rec, m); err != nil {
				return err
			}
		}
		if len(recs) == page {
			return s.rules.Store.SetTimer(ctx, domain.TimerRuleArm, id.String(), s.now(), []byte(recs[len(recs)-1].Name))
		}
		return nil
	})
}

// TimeRuleDue fires a time rule for a record (its rule.time timer): the
// rule runs once for that due time, if the record's date still gives it;
// a yearly rule is armed for the next year.
func (s *Service) TimeRuleDue(ctx context.Context, key string, due time.Time) error {
	ruleID, name, ok := strings.Cut(key, "|")
	id, err := uuid.Parse(ruleID)
	if !ok || err != nil {
		return nil
	}
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.rules.Store.GetRule(ctx, id)
		if err != nil || r.Time == nil || !r.Enabled || r.Deleted {
			return ignoreNotFound(err)
		}
		rec, err := s.repo.GetRecord(ctx, name)
		if err != nil || rec.Deleted {
			return ignoreNotFound(err)
		}
		m := rules.NewRecordMessage(rec.Type)
		if err := proto.Unmarshal(rec.Message, m); err != nil {
			return nil
		}
		d, ok := rules.DateOf(m, r.Time.Field)
		if !ok || !rules.NextDue(d, r.Time, due.Add(-time.Second)).Equal(due) {
			return nil // the date moved: its new timer fires instead
		}
		run := &domain.Run{ID: uuid.Must(uuid.NewV7()), RuleID: r.ID, RuleVersion: r.Version, Record: name, DueAt: due, CreatedAt: s.now()}
		p, trials := newPlan(), []trial{{rule: r, rec: rec, record: m}}
		if err := s.evaluate(ctx, p, trials); err != nil {
			return err
		}
		if err := s.planRun(ctx, p, trials[0], run, due); err != nil {
			return err
		}
		if err := s.write(ctx, p); err != nil {
			return err
		}
		if r.Time.Yearly {
			return s.rules.Store.SetTimer(ctx, domain.TimerRuleTime, key, rules.NextDue(d, r.Time, due), nil)
		}
		return nil
	})
}

func ignoreNotFound(err error) error {
	var e *apperr.Error
	if errors.As(err, &e) && (e.Kind == apperr.KindNotFound || e.Kind == apperr.KindFailedPrecondition) {
		return nil
	}
	return err
}
