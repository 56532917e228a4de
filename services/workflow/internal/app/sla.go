package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/workflow/internal/bizcal"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

// SlaStore is what SLAs need of the repository. Methods run in the
// transaction ctx carries, if any.
type SlaStore interface {
	InsertBusinessCalendar(ctx context.Context, c *domain.BusinessCalendar, requestID string) error
	// GetBusinessCalendar and LockBusinessCalendar read one that is not
	// deleted.
	GetBusinessCalendar(ctx context.Context, id uuid.UUID) (*domain.BusinessCalendar, error)
	LockBusinessCalendar(ctx context.Context, id uuid.UUID) (*domain.BusinessCalendar, error)
	SaveBusinessCalendar(ctx context.Context, before, c *domain.BusinessCalendar) error
	ListBusinessCalendars(ctx context.Context, pageSize int, pageToken string) ([]*domain.BusinessCalendar, string, error)
	// BusinessCalendars reads calendars by id, deleted ones too.
	BusinessCalendars(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.BusinessCalendar, error)

	InsertSlaPolicy(ctx context.Context, p *domain.SlaPolicy, requestID string) error
	GetSlaPolicy(ctx context.Context, id uuid.UUID) (*domain.SlaPolicy, error)
	LockSlaPolicy(ctx context.Context, id uuid.UUID) (*domain.SlaPolicy, error)
	SaveSlaPolicy(ctx context.Context, before, p *domain.SlaPolicy) error
	ListSlaPolicies(ctx context.Context, pageSize int, pageToken string) ([]*domain.SlaPolicy, string, error)
	// ApplicableSlaPolicies are the enabled policies of a record type,
	// highest priority first (then oldest first).
	ApplicableSlaPolicies(ctx context.Context, t domain.RecordType) ([]*domain.SlaPolicy, error)
	// SlaPoliciesUsing are the policies (not deleted) counting on a calendar.
	SlaPoliciesUsing(ctx context.Context, calendar uuid.UUID) ([]*domain.SlaPolicy, error)
	// SlaPolicies reads policies by id, deleted ones too.
	SlaPolicies(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.SlaPolicy, error)

	// LockSlaClocks locks and returns every clock of the records.
	LockSlaClocks(ctx context.Context, records []string) ([]*domain.SlaClock, error)
	LockSlaClocksByID(ctx context.Context, ids []uuid.UUID) ([]*domain.SlaClock, error)
	// SaveSlaClocks writes clocks, new or changed, and sets or cancels
	// their warning and breach timers at their deadlines.
	SaveSlaClocks(ctx context.Context, clocks []*domain.SlaClock) error
	// DeleteSlaClocks deletes the clocks of records, and their timers.
	DeleteSlaClocks(ctx context.Context, records []string) error
	ListSlaClocks(ctx context.Context, record string) ([]*domain.SlaClock, error)
	// RunningSlaClocks locks a page of the running clocks of a policy
	// (or of a calendar), by id after `after`.
	RunningSlaClocks(ctx context.Context, policy, calendar uuid.UUID, after uuid.UUID, limit int) ([]*domain.SlaClock, error)
	// FirstResponses is, per record, when its first response happened.
	FirstResponses(ctx context.Context, records []string) (map[string]time.Time, error)
	// SlaFired writes what fired: the clocks' facts, and the events (with
	// the calendar's zone) to the outbox, which it returns in order; the
	// fired timers are the engine's to delete.
	SlaFired(ctx context.Context, fired []SlaFiring) ([]proto.Message, error)
	SlaReport(ctx context.Context, from, to time.Time) (byOwner, byPolicy []domain.SlaReportRow, err error)
}

// SlaFiring is a warning or breach of a clock, announced by an event.
type SlaFiring struct {
	Clock    *domain.SlaClock
	Breach   bool
	EventID  uuid.UUID
	TimeZone string
	// Elapsed is the business time at the deadline.
	Elapsed time.Duration
}

// Event types of SLA firings, rule triggers.
const (
	SlaWarningEvent  = "crm.events.v1.SlaWarning"
	SlaBreachedEvent = "crm.events.v1.SlaBreached"
)

// slaEvents namespaces the ids of SLA events: a clock's warning and
// breach have ids of their own, the same however often they are decided.
var slaEvents = uuid.MustParse("0192f5a0-5a1a-7000-8000-5a1a00000000")

// SlaEventID is the id of a clock's warning (or breach) event.
func SlaEventID(clock uuid.UUID, breach bool) uuid.UUID {
	kind := "warning"
	if breach {
		kind = "breach"
	}
	return uuid.NewSHA1(slaEvents, []byte(clock.String()+"/"+kind))
}

// calendars caches the arithmetic of calendars by id and version: a
// zone's rules are parsed once, not for every event.
type calendars struct {
	mu sync.Mutex
	m  map[uuid.UUID]cachedCalendar
}

type cachedCalendar struct {
	version int64
	cal     *bizcal.Calendar
	zone    string
}

// slaParts are what the SLA use cases keep: their store and the
// calendars' arithmetic.
type slaParts struct {
	store SlaStore
	cals  *calendars
	fired func(SlaFiring)
}

// WithSla gives the service its SLAs; fired, if set, hears of every
// warning and breach announced (metrics), in the transaction that
// announces it.
func (s *Service) WithSla(store SlaStore, fired func(SlaFiring)) *Service {
	s.slas = slaParts{store: store, cals: &calendars{m: map[uuid.UUID]cachedCalendar{}}, fired: fired}
	return s
}

// arithmetic returns the calendars' arithmetic by id (those that exist).
func (s *Service) arithmetic(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]cachedCalendar, error) {
	stored, err := s.slas.store.BusinessCalendars(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]cachedCalendar, len(stored))
	s.slas.cals.mu.Lock()
	defer s.slas.cals.mu.Unlock()
	for id, c := range stored {
		if cc, ok := s.slas.cals.m[id]; ok && cc.version == c.Version {
			out[id] = cc
			continue
		}
		cal, err := c.Calendar()
		if err != nil {
			return nil, fmt.Errorf("business calendar %s: %w", id, err)
		}
		cc := cachedCalendar{version: c.Version, cal: cal, zone: c.TimeZone}
		s.slas.cals.m[id], out[id] = cc, cc
	}
	return out, nil
}

// plan recomputes the deadlines of clocks on their calendars. A deadline
// a calendar cannot reach (refused when policies and calendars are saved)
// leaves the clock without that timer.
func (s *Service) plan(ctx context.Context, clocks []*domain.SlaClock) error {
	if len(clocks) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, 1)
	for _, c := range clocks {
		if !contains(ids, c.CalendarID) {
			ids = append(ids, c.CalendarID)
		}
	}
	cals, err := s.arithmetic(ctx, ids)
	if err != nil {
		return err
	}
	for _, c := range clocks {
		if cc, ok := cals[c.CalendarID]; ok {
			_ = c.Plan(cc.cal)
		}
	}
	return nil
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ---- business calendars ----

// CreateBusinessCalendar saves a new calendar.
func (s *Service) CreateBusinessCalendar(ctx context.Context, in domain.BusinessCalendar, requestID string) (*domain.BusinessCalendar, error) {
	actor, now := auth.Actor(ctx), s.now()
	c := in
	c.ID, c.Version, c.Deleted = uuid.Must(uuid.NewV7()), 1, false
	c.CreatedAt, c.CreatedBy, c.UpdatedAt, c.UpdatedBy = now, actor, now, actor
	if err := c.Check(); err != nil {
		return nil, err
	}
	if err := s.slas.store.InsertBusinessCalendar(ctx, &c, requestID); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *Service) GetBusinessCalendar(ctx context.Context, id uuid.UUID) (*domain.BusinessCalendar, error) {
	return s.slas.store.GetBusinessCalendar(ctx, id)
}

func (s *Service) ListBusinessCalendars(ctx context.Context, pageSize int, pageToken string) ([]*domain.BusinessCalendar, string, error) {
	return s.slas.store.ListBusinessCalendars(ctx, pageSize, pageToken)
}

// UpdateBusinessCalendar changes a calendar; every target of the policies
// counting on it must stay reachable, and the deadlines of the clocks
// running on it are recomputed (a page at a time, on a timer).
func (s *Service) UpdateBusinessCalendar(ctx context.Context, id uuid.UUID, patch domain.BusinessCalendar, mask []string, ifMatch string) (*domain.BusinessCalendar, error) {
	var out *domain.BusinessCalendar
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		c, err := s.slas.store.LockBusinessCalendar(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, c.Version); err != nil {
			return err
		}
		before := *c
		for _, f := range mask {
			switch f {
			case "display_name":
				c.DisplayName = patch.DisplayName
			case "time_zone":
				c.TimeZone = patch.TimeZone
			case "working_hours":
				c.WorkingHours = patch.WorkingHours
			case "holidays":
				c.Holidays = patch.Holidays
			case "first_year":
				c.FirstYear = patch.FirstYear
			case "last_year":
				c.LastYear = patch.LastYear
			default:
				return apperr.InvalidField("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
			}
		}
		if err := c.Check(); err != nil {
			return err
		}
		cal, err := c.Calendar()
		if err != nil {
			return apperr.InvalidField("working_hours", "INVALID_CALENDAR", "%v", err)
		}
		ps, err := s.slas.store.SlaPoliciesUsing(ctx, id)
		if err != nil {
			return err
		}
		for _, p := range ps {
			for _, t := range p.Targets {
				if _, err := cal.Add(s.now(), t.Duration); err != nil {
					return apperr.FailedPrecondition("UNREACHABLE_TARGET", "policy %s: its %s target of %v would not be reached within %d days on this calendar",
						p.ID, t.Kind, t.Duration, bizcal.MaxWalkDays)
				}
			}
		}
		c.Version++
		c.UpdatedAt, c.UpdatedBy = s.now(), auth.Actor(ctx)
		if err := s.slas.store.SaveBusinessCalendar(ctx, &before, c); err != nil {
			return err
		}
		out = c
		return s.rules.Store.SetTimer(ctx, domain.TimerSlaRearm, calendarKey(id), s.now(), nil)
	})
	return out, err
}

// DeleteBusinessCalendar deletes a calendar no policy counts on.
func (s *Service) DeleteBusinessCalendar(ctx context.Context, id uuid.UUID, ifMatch string) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		c, err := s.slas.store.LockBusinessCalendar(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, c.Version); err != nil {
			return err
		}
		ps, err := s.slas.store.SlaPoliciesUsing(ctx, id)
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			return apperr.FailedPrecondition("CALENDAR_IN_USE", "%d SLA policies count on this calendar (e.g. slaPolicies/%s): change or delete them first", len(ps), ps[0].ID)
		}
		before := *c
		c.Deleted = true
		c.Version++
		c.UpdatedAt, c.UpdatedBy = s.now(), auth.Actor(ctx)
		return s.slas.store.SaveBusinessCalendar(ctx, &before, c)
	})
}

func calendarKey(id uuid.UUID) string { return "businessCalendars/" + id.String() }
func policyKey(id uuid.UUID) string   { return "slaPolicies/" + id.String() }

// ---- policies ----

// checkSlaPolicy validates a policy against what it refers to: its
// stages and pause statuses, its calendar (each target reachable on it),
// its condition (compiled as rule conditions are), and the limit of
// enabled policies per record type.
func (s *Service) checkSlaPolicy(ctx context.Context, p *domain.SlaPolicy) error {
	if err := p.Check(rules.Statuses(p.RecordType)); err != nil {
		return err
	}
	var vs apperr.Violations
	cal, err := s.slas.store.GetBusinessCalendar(ctx, p.CalendarID)
	switch {
	case apperr.IsKind(err, apperr.KindNotFound):
		vs.Add("calendar", "UNKNOWN_CALENDAR", "businessCalendars/%s does not exist", p.CalendarID)
	case err != nil:
		return err
	default:
		arith, err := cal.Calendar()
		if err != nil {
			return err
		}
		for i, t := range p.Targets {
			if _, err := arith.Add(s.now(), t.Duration); err != nil {
				vs.Add(fmt.Sprintf("targets[%d].duration", i), "UNREACHABLE_TARGET", "%v is not reached within %d days on %s", t.Duration, bizcal.MaxWalkDays, cal.DisplayName)
			}
		}
	}
	if err := s.rules.Engine.Compile(p.Condition, p.RecordType, nil); err != nil {
		vs.Add("condition", "INVALID_CONDITION", "%v", err)
	}
	if err := vs.Err(); err != nil {
		return err
	}
	if p.Enabled {
		ps, err := s.slas.store.ApplicableSlaPolicies(ctx, p.RecordType)
		if err != nil {
			return err
		}
		n := 0
		for _, o := range ps {
			if o.ID != p.ID {
				n++
			}
		}
		if n >= domain.MaxSlaPolicies {
			return apperr.FailedPrecondition("TOO_MANY_SLA_POLICIES", "%d enabled SLA policies apply to %s records already, the most there may be", n, p.RecordType)
		}
	}
	return nil
}

// CreateSlaPolicy saves a new policy (version 1): it applies to records
// from their next event on.
func (s *Service) CreateSlaPolicy(ctx context.Context, in domain.SlaPolicy, requestID string) (*domain.SlaPolicy, error) {
	actor, now := auth.Actor(ctx), s.now()
	p := in
	p.ID, p.Version, p.Deleted = uuid.Must(uuid.NewV7()), 1, false
	p.CreatedAt, p.CreatedBy, p.UpdatedAt, p.UpdatedBy = now, actor, now, actor
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.checkSlaPolicy(ctx, &p); err != nil {
			return err
		}
		return s.slas.store.InsertSlaPolicy(ctx, &p, requestID)
	})
	return &p, err
}

func (s *Service) GetSlaPolicy(ctx context.Context, id uuid.UUID) (*domain.SlaPolicy, error) {
	return s.slas.store.GetSlaPolicy(ctx, id)
}

func (s *Service) ListSlaPolicies(ctx context.Context, pageSize int, pageToken string) ([]*domain.SlaPolicy, string, error) {
	return s.slas.store.ListSlaPolicies(ctx, pageSize, pageToken)
}

// UpdateSlaPolicy changes a policy; the deadlines of its running clocks
// are recomputed (a page at a time, on a timer). Its record type is
// fixed.
func (s *Service) UpdateSlaPolicy(ctx context.Context, id uuid.UUID, patch domain.SlaPolicy, mask []string, ifMatch string) (*domain.SlaPolicy, error) {
	var out *domain.SlaPolicy
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		p, err := s.slas.store.LockSlaPolicy(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, p.Version); err != nil {
			return err
		}
		before := *p
		for _, f := range mask {
			switch f {
			case "display_name":
				p.DisplayName = patch.DisplayName
			case "description":
				p.Description = patch.Description
			case "enabled":
				p.Enabled = patch.Enabled
			case "condition":
				p.Condition = patch.Condition
			case "priority":
				p.Priority = patch.Priority
			case "calendar":
				p.CalendarID = patch.CalendarID
			case "targets":
				p.Targets = patch.Targets
			case "warning_percent":
				p.WarningPercent = patch.WarningPercent
			case "pause_statuses":
				p.PauseStatuses = patch.PauseStatuses
			default:
				return apperr.InvalidField("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
			}
		}
		if err := s.checkSlaPolicy(ctx, p); err != nil {
			return err
		}
		p.Version++
		p.UpdatedAt, p.UpdatedBy = s.now(), auth.Actor(ctx)
		if err := s.slas.store.SaveSlaPolicy(ctx, &before, p); err != nil {
			return err
		}
		out = p
		return s.rules.Store.SetTimer(ctx, domain.TimerSlaRearm, policyKey(id), s.now(), nil)
	})
	return out, err
}

// DeleteSlaPolicy deletes a policy: it applies to no record from now on;
// the clocks running on it keep its targets to their end.
func (s *Service) DeleteSlaPolicy(ctx context.Context, id uuid.UUID, ifMatch string) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		p, err := s.slas.store.LockSlaPolicy(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, p.Version); err != nil {
			return err
		}
		before := *p
		p.Deleted, p.Enabled = true, false
		p.Version++
		p.UpdatedAt, p.UpdatedBy = s.now(), auth.Actor(ctx)
		return s.slas.store.SaveSlaPolicy(ctx, &before, p)
	})
}

// ---- clocks ----

// applySla updates the SLA clocks of the records an event changed, in
// the event's transaction: the policy that applies now (the first whose
// condition holds, highest priority first) starts and retargets clocks;
// the record's stage pauses, resumes and finishes them (domain.SlaStep).
func (s *Service) applySla(ctx context.Context, ev Event, records []EventRecord) error {
	if s.slas.store == nil {
		return nil
	}
	var names, deleted []string
	byName := map[string]EventRecord{}
	for _, er := range records {
		if !contains(domain.SlaRecordTypes, er.Record.Type) {
			continue
		}
		if er.Record.Deleted {
			deleted = append(deleted, er.Record.Name)
			continue
		}
		if _, dup := byName[er.Record.Name]; !dup {
			names = append(names, er.Record.Name)
		}
		byName[er.Record.Name] = er // the last of an event is how it leaves the record
	}
	if len(deleted) > 0 {
		if err := s.slas.store.DeleteSlaClocks(ctx, deleted); err != nil {
			return err
		}
	}
	if len(names) == 0 {
		return nil
	}
	applicable := map[domain.RecordType][]*domain.SlaPolicy{}
	some := false
	for _, er := range byName {
		if _, ok := applicable[er.Record.Type]; ok {
			continue
		}
		ps, err := s.slas.store.ApplicableSlaPolicies(ctx, er.Record.Type)
		if err != nil {
			return err
		}
		applicable[er.Record.Type] = ps
		some = some || len(ps) > 0
	}
	clocks, err := s.slas.store.LockSlaClocks(ctx, names)
	if err != nil {
		return err
	}
	if !some && len(clocks) == 0 {
		return nil
	}
	byRecord := map[string][]*domain.SlaClock{}
	var policyIDs []uuid.UUID
	for _, c := range clocks {
		byRecord[c.Record] = append(byRecord[c.Record], c)
		if !c.Finished() && !contains(policyIDs, c.PolicyID) {
			policyIDs = append(policyIDs, c.PolicyID)
		}
	}
	policies, err := s.slas.store.SlaPolicies(ctx, policyIDs)
	if err != nil {
		return err
	}
	at := ev.At
	if at.IsZero() {
		at = s.now()
	}
	var changed []*domain.SlaClock
	var responders []string
	for _, name := range names {
		er := byName[name]
		var p *domain.SlaPolicy
		for _, cand := range applicable[er.Record.Type] {
			// A condition that fails to evaluate (a field the record
			// lacks) does not match.
			if ok, err := s.rules.Engine.Eval(cand.Condition, er.Record.Type, er.Message, nil); ok && err == nil {
				p = cand
				break
			}
		}
		if p == nil && len(byRecord[name]) == 0 {
			continue
		}
		made := domain.SlaStep(rules.SlaRecord(er.Record, er.Message, at), p, byRecord[name], policies, func() uuid.UUID { return uuid.Must(uuid.NewV7()) })
		for _, c := range made {
			if c.Target == domain.TargetFirstResponse && !c.Finished() && !contains(byRecord[name], c) && !contains(responders, name) {
				responders = append(responders, name)
			}
		}
		changed = append(changed, made...)
	}
	if len(responders) > 0 {
		// A response logged before the clock started (the record came to
		// match a policy later) meets it at once.
		first, err := s.slas.store.FirstResponses(ctx, responders)
		if err != nil {
			return err
		}
		for _, c := range changed {
			if t, ok := first[c.Record]; ok && c.Target == domain.TargetFirstResponse && !c.Finished() {
				c.Finish(t)
			}
		}
	}
	if err := s.plan(ctx, changed); err != nil {
		return err
	}
	return s.slas.store.SaveSlaClocks(ctx, changed)
}

// slaResponded meets the running first-response clock of the record an
// activity regards, if the activity is a response: at when it happened
// (not in the future, not before the clock started).
func (s *Service) slaResponded(ctx context.Context, a *domain.Activity) error {
	if s.slas.store == nil || !a.IsFirstResponse() || !contains(domain.SlaRecordTypes, a.RegardingType) {
		return nil
	}
	clocks, err := s.slas.store.LockSlaClocks(ctx, []string{a.Regarding})
	if err != nil {
		return err
	}
	at := a.OccurAt
	if now := s.now(); at.IsZero() || at.After(now) {
		at = now
	}
	var changed []*domain.SlaClock
	for _, c := range clocks {
		if c.Target == domain.TargetFirstResponse && !c.Finished() {
			c.Finish(at)
			changed = append(changed, c)
		}
	}
	if err := s.plan(ctx, changed); err != nil {
		return err
	}
	return s.slas.store.SaveSlaClocks(ctx, changed)
}

// SlaDue fires SLA timers (sla.warning or sla.breach) in the timer's
// transaction: each clock still due at the timer's time warns or breaches
// once, announced by SlaWarning / SlaBreached (a breach whose warning has
// not fired announces both, warning first); stale timers do nothing. The
// rules triggered by the events run in the same transaction.
func (s *Service) SlaDue(ctx context.Context, purpose string, due map[uuid.UUID]time.Time) error {
	ids := make([]uuid.UUID, 0, len(due))
	for id := range due {
		ids = append(ids, id)
	}
	if s.rules.Self != "" {
		ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: s.rules.Self})
	}
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		clocks, err := s.slas.store.LockSlaClocksByID(ctx, ids)
		if err != nil {
			return err
		}
		var fired []SlaFiring
		var calIDs []uuid.UUID
		for _, c := range clocks {
			at := due[c.ID]
			switch purpose {
			case domain.TimerSlaWarning:
				if c.Warn(at) {
					fired = append(fired, SlaFiring{Clock: c, EventID: SlaEventID(c.ID, false)})
				}
			case domain.TimerSlaBreach:
				warned, ok := c.Breach(at)
				if warned {
					cp := *c
					cp.BreachedAt, cp.BreachAt = time.Time{}, at
					fired = append(fired, SlaFiring{Clock: &cp, EventID: SlaEventID(c.ID, false)})
				}
				if ok {
					fired = append(fired, SlaFiring{Clock: c, Breach: true, EventID: SlaEventID(c.ID, true)})
				}
			}
			if !contains(calIDs, c.CalendarID) {
				calIDs = append(calIDs, c.CalendarID)
			}
		}
		if len(fired) == 0 {
			return nil
		}
		cals, err := s.arithmetic(ctx, calIDs)
		if err != nil {
			return err
		}
		for i := range fired {
			f := &fired[i]
			cc := cals[f.Clock.CalendarID]
			f.TimeZone = cc.zone
			at := f.Clock.WarnedAt
			if f.Breach {
				at = f.Clock.BreachedAt
			}
			f.Elapsed = f.Clock.ElapsedAt(cc.cal, at)
		}
		msgs, err := s.slas.store.SlaFired(ctx, fired)
		if err != nil {
			return err
		}
		if s.slas.fired != nil {
			for _, f := range fired {
				s.slas.fired(f)
			}
		}
		return s.runSlaRules(ctx, fired, msgs)
	})
}

// runSlaRules runs the rules triggered by SLA events, as the workflow
// service's own events (their actor is the service).
func (s *Service) runSlaRules(ctx context.Context, fired []SlaFiring, msgs []proto.Message) error {
	if s.rules.Store == nil {
		return nil
	}
	var records []string
	for _, et := range []string{SlaWarningEvent, SlaBreachedEvent} {
		rs, err := s.rules.Store.EventRules(ctx, et)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			continue
		}
		for _, f := range fired {
			if f.Breach == (et == SlaBreachedEvent) && !contains(records, f.Clock.Record) {
				records = append(records, f.Clock.Record)
			}
		}
	}
	if len(records) == 0 {
		return nil
	}
	recs := map[string]*domain.Record{}
	for _, name := range records {
		r, err := s.repo.GetRecord(ctx, name)
		if err != nil {
			continue // gone from the projection: no rule to run
		}
		recs[name] = r
	}
	for i, f := range fired {
		r := recs[f.Clock.Record]
		if r == nil {
			continue
		}
		m := rules.NewRecordMessage(r.Type)
		if err := proto.Unmarshal(r.Message, m); err != nil {
			continue
		}
		et := SlaWarningEvent
		if f.Breach {
			et = SlaBreachedEvent
		}
		at := f.Clock.WarnedAt
		if f.Breach {
			at = f.Clock.BreachedAt
		}
		if err := s.runEventRules(ctx, Event{ID: f.EventID.String(), Type: et, Actor: s.rules.Self, At: at, Message: msgs[i]},
			[]EventRecord{{Record: r, Message: m}}, nil, s.now()); err != nil {
			return err
		}
	}
	return nil
}

// RearmSla recomputes the deadlines of a page of the running clocks of a
// changed policy or calendar (its sla.rearm timer, keyed by the policy's
// or calendar's name), and re-arms itself for the next page.
func (s *Service) RearmSla(ctx context.Context, key string, after string) error {
	const page = 500
	collection, rest, _ := strings.Cut(key, "/")
	id, err := uuid.Parse(rest)
	if err != nil {
		return nil
	}
	var policy, calendar uuid.UUID
	switch collection {
	case "slaPolicies":
		policy = id
	case "businessCalendars":
		calendar = id
	default:
		return nil
	}
	from, _ := uuid.Parse(after)
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		clocks, err := s.slas.store.RunningSlaClocks(ctx, policy, calendar, from, page)
		if err != nil || len(clocks) == 0 {
			return err
		}
		var ids []uuid.UUID
		for _, c := range clocks {
			if !contains(ids, c.PolicyID) {
				ids = append(ids, c.PolicyID)
			}
		}
		policies, err := s.slas.store.SlaPolicies(ctx, ids)
		if err != nil {
			return err
		}
		for _, c := range clocks {
			if p := policies[c.PolicyID]; p != nil {
				c.Retarget(p)
			}
		}
		if err := s.plan(ctx, clocks); err != nil {
			return err
		}
		if err := s.slas.store.SaveSlaClocks(ctx, clocks); err != nil {
			return err
		}
		if len(clocks) == page {
			return s.rules.Store.SetTimer(ctx, domain.TimerSlaRearm, key, s.now(), []byte(clocks[len(clocks)-1].ID.String()))
		}
		return nil
	})
}

// ---- reading ----

// SlaClockView is a clock as a reader sees it now.
type SlaClockView struct {
	*domain.SlaClock
	TimeZone string
	// Elapsed is its business time now (at its end, if finished).
	Elapsed time.Duration
	Status  domain.SlaStatus
}

// View is the clock as of now.
func (s *Service) view(c *domain.SlaClock, cc cachedCalendar, now time.Time) SlaClockView {
	return SlaClockView{SlaClock: c, TimeZone: cc.zone, Elapsed: c.ElapsedAt(cc.cal, now), Status: c.Status(now)}
}

// ListSlaClocks lists the clocks of a record the caller may read, oldest
// first, as of now.
func (s *Service) ListSlaClocks(ctx context.Context, parent string) ([]SlaClockView, error) {
	if _, err := s.readable(ctx, parent); err != nil {
		return nil, err
	}
	clocks, err := s.slas.store.ListSlaClocks(ctx, parent)
	if err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	for _, c := range clocks {
		if !contains(ids, c.CalendarID) {
			ids = append(ids, c.CalendarID)
		}
	}
	cals, err := s.arithmetic(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]SlaClockView, len(clocks))
	for i, c := range clocks {
		out[i] = s.view(c, cals[c.CalendarID], now)
	}
	return out, nil
}

// SlaReport is the breach rates and median business times of the clocks
// started in [from, to), per owner and per policy.
func (s *Service) SlaReport(ctx context.Context, from, to time.Time) (byOwner, byPolicy []domain.SlaReportRow, err error) {
	var vs apperr.Violations
	if from.IsZero() {
		vs.Add("start_time", "START_REQUIRED", "a report covers a time range: give start_time")
	}
	if to.IsZero() {
		vs.Add("end_time", "END_REQUIRED", "a report covers a time range: give end_time")
	} else if !to.After(from) {
		vs.Add("end_time", "END_BEFORE_START", "end_time must be after start_time")
	}
	if err := vs.Err(); err != nil {
		return nil, nil, err
	}
	return s.slas.store.SlaReport(ctx, from, to)
}
