package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

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

	// InsertRun records a run; inserted is false when the rule already ran
	// for that event (or due time) and record.
	InsertRun(ctx context.Context, r *domain.Run) (inserted bool, err error)
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
	for i, et := range r.EventTypes {
		full, t, err := rules.EventType(et)
		if err != nil {
			vs.Add(fmt.Sprintf("trigger.events.event_types[%d]", i), "UNKNOWN_EVENT_TYPE", "%v", err)
			continue
		}
		if rt != "" && t != rt {
			vs.Add(fmt.Sprintf("trigger.events.event_types[%d]", i), "MIXED_RECORD_TYPES", "%s is about %s records, the others about %s records", et, t, rt)
		}
		rt, r.EventTypes[i] = t, full
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
	if err := s.rules.Engine.Compile(r.Condition, rt, r.EventTypes); err != nil {
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

// runEventRules runs the rules an event triggers for each record it
// carries (that was not already newer), in the event's transaction.
func (s *Service) runEventRules(ctx context.Context, ev Event, records []EventRecord, now time.Time) error {
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
	cache := map[string][]*domain.Rule{}
	for _, er := range records {
		if err := s.armRecordTimers(ctx, er); err != nil {
			return err
		}
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
		for _, r := range rs {
			run := &domain.Run{ID: uuid.Must(uuid.NewV7()), RuleID: r.ID, RuleVersion: r.Version, Record: er.Record.Name,
				EventID: eventID, EventType: trigger, EventActor: ev.Actor, CreatedAt: now}
			event := er.Event
			if event == nil {
				event = ev.Message
			}
			if err := s.run(ctx, r, run, er.Record, er.Message, event, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// run evaluates a rule's condition for a record and does its actions:
// tasks and notifications at once, updates of other services' records
// later (the run PENDING, on a timer that retries). A run already
// recorded for the same event (due time) and record is not run again.
func (s *Service) run(ctx context.Context, r *domain.Rule, run *domain.Run, rec *domain.Record, record, event proto.Message, at time.Time) error {
	rt := rec.Type
	ok, evalErr := s.rules.Engine.Eval(r.Condition, rt, record, event)
	run.ConditionResult = ok && evalErr == nil
	run.Status = domain.RunSkipped
	if evalErr != nil {
		run.Status, run.Error = domain.RunFailed, "the condition failed: "+evalErr.Error()
	}
	if run.ConditionResult {
		run.Input = input(record, event)
	}
	if run.Status == domain.RunSkipped && !run.ConditionResult {
		run.FinishedAt = run.CreatedAt
		_, err := s.rules.Store.InsertRun(ctx, run)
		return err
	}
	if run.ConditionResult {
		if loop, err := s.loops(ctx, r, run); err != nil {
			return err
		} else if loop {
			run.Status = domain.RunFailed
			run.Error = fmt.Sprintf("RULE_LOOP: the rule ran %d times for %s within %v on changes the workflow service itself made; stopped", domain.LoopBound, rec.Name, domain.LoopWindow)
		}
	}
	inserted, err := s.rules.Store.InsertRun(ctx, run)
	if err != nil || !inserted || run.Status == domain.RunFailed {
		return err
	}
	pending := false
	for i := range r.Actions {
		a := r.Actions[i]
		res := domain.ActionResult{Index: i, Action: &a}
		switch {
		case a.CreateTask != nil:
			res.Detail, err = s.createTask(ctx, r, run, a.CreateTask, rec, at)
			res.Done = err == nil
		case a.Notify != nil:
			recipient := a.Notify.Recipient
			if recipient == "" {
				recipient = rec.Owner
			}
			err = s.rules.Store.Notify(ctx, Notification{Rule: r.ID, Run: run.ID, Record: rec.Name, Recipient: recipient,
				Topic: a.Notify.Topic, Message: a.Notify.Message, At: at})
			res.Done, res.Detail = err == nil, "notified "+recipient
		case a.UpdateField != nil:
			pending = true
		}
		if err != nil {
			res.Error = err.Error()
			run.Status, run.Error = domain.RunFailed, fmt.Sprintf("action %d: %v", i, err)
		}
		run.Actions = append(run.Actions, res)
		if err != nil && !apperr.IsKind(err, apperr.KindInvalidArgument) && !apperr.IsKind(err, apperr.KindFailedPrecondition) {
			return err // the database: the whole event is retried
		}
		err = nil
	}
	switch {
	case run.Status == domain.RunFailed:
		run.FinishedAt = s.now()
	case pending:
		run.Status = domain.RunPending
		if err := s.rules.Store.SetTimer(ctx, domain.TimerRuleRun, run.ID.String(), s.now(), nil); err != nil {
			return err
		}
	default:
		run.Status, run.FinishedAt = domain.RunSucceeded, s.now()
	}
	return s.rules.Store.SaveRun(ctx, run)
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

func input(record, event proto.Message) json.RawMessage {
	m := map[string]json.RawMessage{}
	opts := protojson.MarshalOptions{UseProtoNames: true}
	if record != nil {
		m["record"], _ = opts.Marshal(record)
	}
	if event != nil {
		m["event"], _ = opts.Marshal(event)
	}
	b, _ := json.Marshal(m)
	return b
}

// createTask makes a rule's task regarding the record, for the assignee
// (the record's owner by default); with a key, an open task with that key
// is rescheduled instead.
func (s *Service) createTask(ctx context.Context, r *domain.Rule, run *domain.Run, t *domain.TaskAction, rec *domain.Record, from time.Time) (string, error) {
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
		a, ok, err := s.repo.LockOpenTask(ctx, rec.Name, t.Key)
		if err != nil {
			return "", err
		}
		if ok {
			before := *a
			ch, err := a.Reschedule(due, time.Time{}, actor, now)
			if err != nil {
				return "", err
			}
			if len(ch.Events) == 0 {
				return "kept activities/" + a.ID.String(), nil
			}
			return "rescheduled activities/" + a.ID.String(), s.repo.SaveActivity(ctx, &before, a, ch, run.ID.String())
		}
	}
	a, ch, err := domain.NewActivity(domain.Activity{Type: t.Type, Regarding: rec.Name, RegardingType: rec.Type, RegardingName: rec.DisplayName,
		Account: rec.Account, Subject: t.Subject, Body: t.Body, Owner: owner, DueAt: due, Rule: r.ID, Key: t.Key}, uuid.Nil, actor, now)
	if err != nil {
		return "", err
	}
	_, err = s.repo.InsertActivity(ctx, a, ch, run.ID.String())
	return "created activities/" + a.ID.String(), err
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

// armRecordTimers sets (or cancels) the time-rule timers of a record
// whose dates may have changed.
func (s *Service) armRecordTimers(ctx context.Context, er EventRecord) error {
	rs, err := s.rules.Store.TimeRules(ctx, er.Record.Type)
	if err != nil || len(rs) == 0 {
		return err
	}
	for _, r := range rs {
		if err := s.armRecord(ctx, r, er.Record, er.Message); err != nil {
			return err
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
		if err := s.run(ctx, r, run, rec, m, nil, due); err != nil {
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
