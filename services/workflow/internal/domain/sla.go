package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/services/workflow/internal/bizcal"
)

// Timer purposes of SLA clocks (platform/timer).
const (
	// TimerSlaWarning and TimerSlaBreach fire a clock's warning and
	// breach; key: the clock id, due: the clock's deadline.
	TimerSlaWarning = "sla.warning"
	TimerSlaBreach  = "sla.breach"
	// TimerSlaRearm recomputes the deadlines of the running clocks of a
	// changed policy or calendar, a page at a time; key: the policy's or
	// calendar's resource name, payload: the last clock done.
	TimerSlaRearm = "sla.rearm"
)

// SLA limits.
const (
	// MaxSlaTarget is the longest target, in business time.
	MaxSlaTarget = 366 * 24 * time.Hour
	// MaxSlaPolicies enabled policies per record type: a record's event
	// evaluates them in turn.
	MaxSlaPolicies        = 100
	DefaultWarningPercent = 75
	// MaxCalendarYears a calendar's year range may span.
	MaxCalendarYears = 100
)

// ---- business calendars ----

// WorkingInterval is working time on a weekday, [Start, End) in minutes
// after local midnight. -1 marks a time the API could not read as HH:MM.
type WorkingInterval struct {
	Day        time.Weekday
	Start, End int
}

// Holiday is a whole day off.
type Holiday struct {
	Date bizcal.Date
	Name string
}

// BusinessCalendar is working hours per weekday, holidays and a time
// zone.
type BusinessCalendar struct {
	ID           uuid.UUID
	DisplayName  string
	TimeZone     string
	WorkingHours []WorkingInterval
	Holidays     []Holiday
	// FirstYear..LastYear are the years the holidays are listed for.
	FirstYear, LastYear int
	Deleted             bool
	CreatedAt           time.Time
	CreatedBy           string
	UpdatedAt           time.Time
	UpdatedBy           string
	Version             int64
}

// BusinessCalendarFields can change through UpdateBusinessCalendar.
var BusinessCalendarFields = []string{"display_name", "time_zone", "working_hours", "holidays", "first_year", "last_year"}

func hhmm(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// Check validates a calendar: a name, an IANA zone, a year range,
// intervals within their day that do not overlap, some working time, and
// holidays that are dates within the year range, each once.
func (c *BusinessCalendar) Check() error {
	var vs apperr.Violations
	c.DisplayName, c.TimeZone = strings.TrimSpace(c.DisplayName), strings.TrimSpace(c.TimeZone)
	if c.DisplayName == "" {
		vs.Add("display_name", "DISPLAY_NAME_REQUIRED", "a calendar has a name")
	}
	if _, err := bizcal.LoadZone(c.TimeZone); err != nil {
		vs.Add("time_zone", "INVALID_TIME_ZONE", "%v: name a zone such as Europe/Berlin or America/New_York", err)
	}
	years := c.FirstYear >= 1970 && c.LastYear >= c.FirstYear && c.LastYear-c.FirstYear < MaxCalendarYears
	if !years {
		vs.Add("last_year", "INVALID_YEAR_RANGE", "first_year (from 1970) to last_year spans 1 to %d years", MaxCalendarYears)
	}
	byDay := map[time.Weekday][]int{}
	for i, w := range c.WorkingHours {
		f := fmt.Sprintf("working_hours[%d]", i)
		switch {
		case w.Day < time.Sunday || w.Day > time.Saturday:
			vs.Add(f+".day", "INVALID_DAY", "a working interval is on a day of the week")
		case w.Start < 0 || w.Start >= bizcal.MinutesPerDay:
			vs.Add(f+".start_time", "INVALID_TIME", "a start time is HH:MM from 00:00 to 23:59")
		case w.End <= 0 || w.End > bizcal.MinutesPerDay:
			vs.Add(f+".end_time", "INVALID_TIME", "an end time is HH:MM from 00:01 to 24:00")
		case w.End <= w.Start:
			vs.Add(f+".end_time", "END_BEFORE_START", "%s ends at %s, not after it starts at %s", w.Day, hhmm(w.End), hhmm(w.Start))
		default:
			byDay[w.Day] = append(byDay[w.Day], i)
		}
	}
	for day, idx := range byDay {
		slices.SortFunc(idx, func(a, b int) int { return c.WorkingHours[a].Start - c.WorkingHours[b].Start })
		for k := 1; k < len(idx); k++ {
			prev, cur := c.WorkingHours[idx[k-1]], c.WorkingHours[idx[k]]
			if cur.Start < prev.End {
				vs.Add(fmt.Sprintf("working_hours[%d]", idx[k]), "OVERLAPPING_INTERVALS", "%s %s-%s overlaps working_hours[%d] (%s-%s)",
					day, hhmm(cur.Start), hhmm(cur.End), idx[k-1], hhmm(prev.Start), hhmm(prev.End))
			}
		}
	}
	if len(byDay) == 0 && len(vs) == 0 {
		vs.Add("working_hours", "NO_WORKING_TIME", "a calendar has working time on at least one day of the week")
	}
	seen := map[bizcal.Date]int{}
	for i, h := range c.Holidays {
		f := fmt.Sprintf("holidays[%d].date", i)
		switch j, dup := seen[h.Date]; {
		case !h.Date.Valid():
			vs.Add(f, "INVALID_DATE", "%s is not a date", h.Date)
		case years && (h.Date.Year < c.FirstYear || h.Date.Year > c.LastYear):
			vs.Add(f, "HOLIDAY_OUTSIDE_YEARS", "%s is outside the calendar's years %d to %d", h.Date, c.FirstYear, c.LastYear)
		case dup:
			vs.Add(f, "DUPLICATE_HOLIDAY", "%s is holidays[%d] already", h.Date, j)
		default:
			seen[h.Date] = i
		}
	}
	return vs.Err()
}

// Calendar is the arithmetic of a checked calendar.
func (c *BusinessCalendar) Calendar() (*bizcal.Calendar, error) {
	loc, err := bizcal.LoadZone(c.TimeZone)
	if err != nil {
		return nil, err
	}
	var week [7][]bizcal.Span
	for _, w := range c.WorkingHours {
		week[w.Day] = append(week[w.Day], bizcal.Span{Start: w.Start, End: w.End})
	}
	days := make([]bizcal.Date, len(c.Holidays))
	for i, h := range c.Holidays {
		days[i] = h.Date
	}
	return bizcal.New(loc, week, days)
}

// ErrBusinessCalendarNotFound is returned for a calendar that does not
// exist.
func ErrBusinessCalendarNotFound(id uuid.UUID) error {
	return apperr.NotFound("BUSINESS_CALENDAR_NOT_FOUND", "business calendar %s not found", id)
}

// ---- policies ----

// SlaTargetKind is what a target measures.
type SlaTargetKind string

const (
	TargetFirstResponse   SlaTargetKind = "FIRST_RESPONSE"
	TargetTimeInStage     SlaTargetKind = "TIME_IN_STAGE"
	TargetTimeToClose     SlaTargetKind = "TIME_TO_CLOSE"
	TargetConfirmToFulfil SlaTargetKind = "CONFIRM_TO_FULFIL"
)

// Valid reports a known kind.
func (k SlaTargetKind) Valid() bool {
	return slices.Contains([]SlaTargetKind{TargetFirstResponse, TargetTimeInStage, TargetTimeToClose, TargetConfirmToFulfil}, k)
}

// SlaTarget is one target of a policy: business time on its calendar.
type SlaTarget struct {
	Kind     SlaTargetKind
	Duration time.Duration
	// Stages a TIME_IN_STAGE target counts in (empty: every one).
	Stages []string
}

// SlaPolicy gives records of a type that match its condition targets
// of business time on a calendar.
type SlaPolicy struct {
	ID          uuid.UUID
	DisplayName string
	Description string
	Enabled     bool
	RecordType  RecordType
	// Condition is CEL over `record`; "" matches every record.
	Condition      string
	Priority       int
	CalendarID     uuid.UUID
	Targets        []SlaTarget
	WarningPercent int
	// PauseStatuses are the stages (statuses; opportunities: stage ids)
	// in which its clocks stand still.
	PauseStatuses []string
	Deleted       bool
	CreatedAt     time.Time
	CreatedBy     string
	UpdatedAt     time.Time
	UpdatedBy     string
	Version       int64
}

// SlaPolicyFields can change through UpdateSlaPolicy.
var SlaPolicyFields = []string{"display_name", "description", "enabled", "condition", "priority", "calendar", "targets", "warning_percent", "pause_statuses"}

// SlaRecordTypes are the record types SLA policies apply to.
var SlaRecordTypes = []RecordType{RecordLead, RecordOpportunity, RecordOrder, RecordContract}

// closedStatuses end a record's clocks: converted or out of the funnel,
// won or lost, done with, out of draft.
var closedStatuses = map[RecordType][]string{
	RecordLead:        {"QUALIFIED", "DISQUALIFIED", "MERGED"},
	RecordOpportunity: {"WON", "LOST", "DISQUALIFIED"},
	RecordOrder:       {"FULFILLED", "CLOSED", "CANCELLED"},
	RecordContract:    {"ACTIVE", "RENEWED", "NON_RENEWING", "EXPIRED", "CANCELLED"},
}

// IsClosed reports a record status (an opportunity's state) that ends
// its SLA clocks.
func IsClosed(t RecordType, status string) bool { return slices.Contains(closedStatuses[t], status) }

// confirmedStatuses start an order's confirm-to-fulfil clock.
var confirmedStatuses = []string{"CONFIRMED", "ON_HOLD"}

// Check validates a policy's shape; the condition, the calendar and the
// statuses are checked by the use case, which knows them. statuses are
// the record type's status names (nil: any stage id, opportunities).
func (p *SlaPolicy) Check(statuses []string) error {
	var vs apperr.Violations
	p.DisplayName, p.Condition = strings.TrimSpace(p.DisplayName), strings.TrimSpace(p.Condition)
	if p.DisplayName == "" {
		vs.Add("display_name", "DISPLAY_NAME_REQUIRED", "a policy has a name")
	}
	if !slices.Contains(SlaRecordTypes, p.RecordType) {
		vs.Add("record_type", "INVALID_RECORD_TYPE", "a policy applies to leads, opportunities, orders or contracts")
	}
	if p.WarningPercent == 0 {
		p.WarningPercent = DefaultWarningPercent
	}
	if p.WarningPercent < 1 || p.WarningPercent > 99 {
		vs.Add("warning_percent", "INVALID_WARNING_PERCENT", "a warning comes at 1 to 99 percent of the target")
	}
	if len(p.Targets) == 0 || len(p.Targets) > 4 {
		vs.Add("targets", "TARGETS_REQUIRED", "a policy has 1 to 4 targets, one of each kind")
	}
	kinds := map[SlaTargetKind]int{}
	for i, t := range p.Targets {
		f := fmt.Sprintf("targets[%d]", i)
		if j, dup := kinds[t.Kind]; dup {
			vs.Add(f+".kind", "DUPLICATE_TARGET", "targets[%d] is a %s target already", j, t.Kind)
		}
		kinds[t.Kind] = i
		switch {
		case !t.Kind.Valid():
			vs.Add(f+".kind", "INVALID_TARGET_KIND", "a target is FIRST_RESPONSE, TIME_IN_STAGE, TIME_TO_CLOSE or CONFIRM_TO_FULFIL")
		case t.Kind == TargetConfirmToFulfil && p.RecordType != RecordOrder:
			vs.Add(f+".kind", "INVALID_TARGET_KIND", "confirm to fulfil is a target of orders")
		case len(t.Stages) > 0 && t.Kind != TargetTimeInStage:
			vs.Add(f+".stages", "STAGES_NOT_ALLOWED", "only a TIME_IN_STAGE target names stages")
		}
		switch {
		case t.Duration <= 0:
			vs.Add(f+".duration", "INVALID_TARGET", "a target is a positive business time, not %v", t.Duration)
		case t.Duration > MaxSlaTarget:
			vs.Add(f+".duration", "INVALID_TARGET", "a target is at most %v of business time", MaxSlaTarget)
		case t.Duration%time.Second != 0:
			vs.Add(f+".duration", "INVALID_TARGET", "a target is whole seconds")
		}
		for k, s := range t.Stages {
			if !knownStage(statuses, s) {
				vs.Add(fmt.Sprintf("%s.stages[%d]", f, k), "UNKNOWN_STAGE", "%q is not a status of %s records (%s)", s, p.RecordType, strings.Join(statuses, ", "))
			}
		}
	}
	for i, s := range p.PauseStatuses {
		f := fmt.Sprintf("pause_statuses[%d]", i)
		switch {
		case !knownStage(statuses, s):
			vs.Add(f, "UNKNOWN_STATUS", "%q is not a status of %s records (%s)", s, p.RecordType, strings.Join(statuses, ", "))
		case IsClosed(p.RecordType, s):
			vs.Add(f, "CLOSED_STATUS", "%s ends the clocks: it cannot pause them", s)
		}
	}
	return vs.Err()
}

// knownStage: one of statuses, or (statuses nil) any stage id.
func knownStage(statuses []string, s string) bool {
	if statuses == nil {
		return strings.TrimSpace(s) != ""
	}
	return slices.Contains(statuses, s)
}

// Target is the policy's target of a kind, if it has one.
func (p *SlaPolicy) Target(k SlaTargetKind) (SlaTarget, bool) {
	for _, t := range p.Targets {
		if t.Kind == k {
			return t, true
		}
	}
	return SlaTarget{}, false
}

// ErrSlaPolicyNotFound is returned for a policy that does not exist.
func ErrSlaPolicyNotFound(id uuid.UUID) error {
	return apperr.NotFound("SLA_POLICY_NOT_FOUND", "SLA policy %s not found", id)
}

// ---- clocks ----

// SlaStatus is where a clock stands.
type SlaStatus string

const (
	SlaOnTrack  SlaStatus = "ON_TRACK"
	SlaWarning  SlaStatus = "WARNING"
	SlaBreached SlaStatus = "BREACHED"
	SlaMet      SlaStatus = "MET"
	SlaPaused   SlaStatus = "PAUSED"
)

// Segment is an interval a clock ran, [Start, End).
type Segment struct{ Start, End time.Time }

// SlaClock measures a record against one target of its policy: the
// intervals it ran, their business time on the policy's calendar, and
// the deadlines that follow. Deadlines and facts are UTC instants to the
// microsecond, as Postgres and the timers keep them.
type SlaClock struct {
	ID         uuid.UUID
	Record     string
	RecordType RecordType
	RecordName string
	Owner      string
	PolicyID   uuid.UUID
	Target     SlaTargetKind
	// Stage measured by a TIME_IN_STAGE clock.
	Stage     string
	StartedAt time.Time
	// Segments it ran, closed; RunningSince is the start of the open one
	// (zero: paused or finished).
	Segments     []Segment
	RunningSince time.Time
	Paused       bool
	// From the policy: the calendar, target and warning share.
	CalendarID     uuid.UUID
	TargetDuration time.Duration
	WarningPercent int
	// Elapsed is the business time of the closed segments; WarnAt and
	// BreachAt the deadlines still to come (the timers' due times).
	Elapsed          time.Duration
	WarnAt, BreachAt time.Time
	// What happened: warned, breached (at their deadlines), met (or
	// stopped: the record closed) and finished.
	WarnedAt, BreachedAt, MetAt, FinishedAt time.Time
	UpdatedAt                               time.Time
}

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Running reports a clock that runs now.
func (c *SlaClock) Running() bool { return !c.RunningSince.IsZero() }

// Finished reports a clock that is done.
func (c *SlaClock) Finished() bool { return !c.FinishedAt.IsZero() }

// WarnThreshold is the business time at which it warns.
func (c *SlaClock) WarnThreshold() time.Duration {
	return c.TargetDuration * time.Duration(c.WarningPercent) / 100
}

// apply takes the policy's target, calendar and warning share; changed
// says whether any differed.
func (c *SlaClock) apply(p *SlaPolicy, t SlaTarget) (changed bool) {
	changed = c.PolicyID != p.ID || c.CalendarID != p.CalendarID || c.TargetDuration != t.Duration || c.WarningPercent != p.WarningPercent
	c.PolicyID, c.CalendarID, c.TargetDuration, c.WarningPercent = p.ID, p.CalendarID, t.Duration, p.WarningPercent
	return changed
}

// Retarget takes the policy's current target of the clock's kind (a
// policy changed); changed says whether anything differed.
func (c *SlaClock) Retarget(p *SlaPolicy) bool {
	t, ok := p.Target(c.Target)
	if !ok {
		return false
	}
	return c.apply(p, t)
}

func (c *SlaClock) closeSegment(at time.Time) {
	if !c.Running() {
		return
	}
	if at = utc(at); at.After(c.RunningSince) {
		c.Segments = append(c.Segments, Segment{c.RunningSince, at})
	}
	c.RunningSince = time.Time{}
}

// Pause stops a running clock at at.
func (c *SlaClock) Pause(at time.Time) bool {
	if !c.Running() {
		return false
	}
	c.closeSegment(at)
	c.Paused = true
	return true
}

// Resume runs a paused clock again from at.
func (c *SlaClock) Resume(at time.Time) bool {
	if !c.Paused || c.Finished() {
		return false
	}
	c.Paused, c.RunningSince = false, utc(at)
	if last := c.lastEnd(); c.RunningSince.Before(last) {
		c.RunningSince = last
	}
	return true
}

// Finish ends the clock at at: its goal was reached, or the record
// closed (which owes nothing more).
func (c *SlaClock) Finish(at time.Time) {
	at = utc(at)
	if last := c.lastEnd(); at.Before(last) {
		at = last
	}
	if c.Running() && at.Before(c.RunningSince) {
		at = c.RunningSince
	}
	c.closeSegment(at)
	c.Paused = false
	c.MetAt, c.FinishedAt = at, at
	c.WarnAt, c.BreachAt = time.Time{}, time.Time{}
}

// lastEnd is when the clock last stopped (its start when it never ran).
func (c *SlaClock) lastEnd() time.Time {
	if n := len(c.Segments); n > 0 {
		return c.Segments[n-1].End
	}
	return c.StartedAt
}

// Plan recomputes the business time of the closed segments on cal and
// the deadlines still to come: for a running clock, the instants its
// warning share and target are reached; for a paused one, none, unless
// its business time is past them already (a target shortened while it
// stood still: due at once). A finished clock has none.
func (c *SlaClock) Plan(cal *bizcal.Calendar) error {
	var elapsed time.Duration
	for _, s := range c.Segments {
		elapsed += cal.Between(s.Start, s.End)
	}
	c.Elapsed = elapsed
	c.WarnAt, c.BreachAt = time.Time{}, time.Time{}
	if c.Finished() || !c.BreachedAt.IsZero() {
		return nil
	}
	warn := c.WarnThreshold()
	if !c.Running() {
		if elapsed >= c.TargetDuration {
			c.BreachAt = c.lastEnd()
		}
		if c.WarnedAt.IsZero() && elapsed >= warn {
			c.WarnAt = c.lastEnd()
		}
		return nil
	}
	breach, err := cal.Add(c.RunningSince, max(0, c.TargetDuration-elapsed))
	if err != nil {
		return err
	}
	c.BreachAt = utc(breach)
	if c.WarnedAt.IsZero() {
		at, err := cal.Add(c.RunningSince, max(0, warn-elapsed))
		if err != nil {
			return err
		}
		c.WarnAt = utc(at)
	}
	return nil
}

// ElapsedAt is the business time the clock holds at now.
func (c *SlaClock) ElapsedAt(cal *bizcal.Calendar, now time.Time) time.Duration {
	if !c.Running() || cal == nil {
		return c.Elapsed
	}
	return c.Elapsed + cal.Between(c.RunningSince, now)
}

// Status is where the clock stands at now: a deadline passed counts as
// reached even before its timer fires.
func (c *SlaClock) Status(now time.Time) SlaStatus {
	switch {
	case !c.BreachedAt.IsZero() || !c.BreachAt.IsZero() && !now.Before(c.BreachAt):
		return SlaBreached
	case c.Finished():
		return SlaMet
	case c.Paused:
		return SlaPaused
	case !c.WarnedAt.IsZero() || !c.WarnAt.IsZero() && !now.Before(c.WarnAt):
		return SlaWarning
	}
	return SlaOnTrack
}

// Warn records the clock's warning, fired by its timer due at due;
// false when the timer is stale (the deadline moved, or it warned or
// finished already).
func (c *SlaClock) Warn(due time.Time) bool {
	if c.Finished() || !c.WarnedAt.IsZero() || !c.BreachedAt.IsZero() || !c.WarnAt.Equal(due) {
		return false
	}
	c.WarnedAt, c.WarnAt = due, time.Time{}
	return true
}

// Breach records the clock's breach, fired by its timer due at due, and
// its warning too if that has not fired (a warning always comes first);
// ok is false when the timer is stale. The clock keeps running, to
// measure how long the record took in the end.
func (c *SlaClock) Breach(due time.Time) (warned, ok bool) {
	if c.Finished() || !c.BreachedAt.IsZero() || !c.BreachAt.Equal(due) {
		return false, false
	}
	if c.WarnedAt.IsZero() {
		c.WarnedAt, warned = due, true
		if !c.WarnAt.IsZero() && c.WarnAt.Before(due) {
			c.WarnedAt = c.WarnAt
		}
	}
	c.BreachedAt, c.BreachAt, c.WarnAt = due, time.Time{}, time.Time{}
	return warned, true
}

// SlaRecord is a record as an event leaves it, as its clocks see it.
type SlaRecord struct {
	Record *Record
	// Stage is the status (an opportunity's stage id) it is in.
	Stage string
	// CreatedAt and ConfirmedAt (orders) start clocks; At is when the
	// event happened.
	CreatedAt, ConfirmedAt, At time.Time
}

// SlaStep applies an event of a record to its clocks (all of them,
// finished ones too): p is the policy that applies now (nil: none);
// policies holds the policies of its running clocks, by id. The clocks
// it changed or made are returned; their deadlines are planned by the
// caller, which knows the calendars.
//
//   - A record that closes finishes every running clock.
//   - A stage clock finishes when its record leaves the stage, and the
//     next stage (if its policy counts it) starts one.
//   - p's targets start the clocks the record has not had yet (first
//     response and time to close once, from the record's creation;
//     confirm to fulfil once, from the confirmation), and retarget the
//     running ones; a running clock whose kind p lacks keeps its policy.
//   - Each running clock pauses in its policy's pause statuses and runs
//     again when the record leaves them.
func SlaStep(r SlaRecord, p *SlaPolicy, clocks []*SlaClock, policies map[uuid.UUID]*SlaPolicy, newID func() uuid.UUID) []*SlaClock {
	rec, at := r.Record, utc(r.At)
	var changed []*SlaClock
	mark := func(c *SlaClock) {
		if !slices.Contains(changed, c) {
			changed = append(changed, c)
		}
	}
	running := map[SlaTargetKind]*SlaClock{}
	had := map[SlaTargetKind]bool{}
	for _, c := range clocks {
		had[c.Target] = true
		if c.Finished() {
			continue
		}
		running[c.Target] = c
		if c.Owner != rec.Owner || c.RecordName != rec.DisplayName {
			c.Owner, c.RecordName = rec.Owner, rec.DisplayName
			mark(c)
		}
	}
	closed := IsClosed(rec.Type, rec.Status)
	if c := running[TargetTimeInStage]; c != nil && (c.Stage != r.Stage || closed) {
		c.Finish(at)
		mark(c)
		delete(running, TargetTimeInStage)
	}
	if closed {
		for _, c := range running {
			c.Finish(at)
			mark(c)
		}
		return changed
	}
	if p != nil {
		for _, t := range p.Targets {
			c := running[t.Kind]
			if c == nil {
				start, ok := r.startOf(t, had[t.Kind])
				if !ok {
					continue
				}
				c = &SlaClock{ID: newID(), Record: rec.Name, RecordType: rec.Type, RecordName: rec.DisplayName, Owner: rec.Owner,
					Target: t.Kind, StartedAt: start, RunningSince: start}
				if t.Kind == TargetTimeInStage {
					c.Stage = r.Stage
				}
				running[t.Kind] = c
				mark(c)
			}
			if c.apply(p, t) {
				mark(c)
			}
		}
	}
	for _, c := range running {
		cp := policies[c.PolicyID]
		if p != nil && c.PolicyID == p.ID {
			cp = p
		}
		if cp == nil {
			continue
		}
		if pause := slices.Contains(cp.PauseStatuses, r.Stage); pause && c.Pause(at) || !pause && c.Resume(at) {
			mark(c)
		}
	}
	return changed
}

// startOf is when a new clock for target t starts, if the record is to
// have one now (had: it has had a clock of that kind).
func (r SlaRecord) startOf(t SlaTarget, had bool) (time.Time, bool) {
	created := r.CreatedAt
	if created.IsZero() || created.After(r.At) {
		created = r.At
	}
	switch t.Kind {
	case TargetFirstResponse, TargetTimeToClose:
		return utc(created), !had
	case TargetTimeInStage:
		if len(t.Stages) > 0 && !slices.Contains(t.Stages, r.Stage) {
			return time.Time{}, false
		}
		return utc(r.At), r.Stage != ""
	case TargetConfirmToFulfil:
		if had || r.Record.Type != RecordOrder || !slices.Contains(confirmedStatuses, r.Record.Status) {
			return time.Time{}, false
		}
		confirmed := r.ConfirmedAt
		if confirmed.IsZero() || confirmed.After(r.At) {
			confirmed = r.At
		}
		return utc(confirmed), true
	}
	return time.Time{}, false
}

// FirstResponseTypes are the activities that answer a record: a call,
// meeting or email logged or completed on it (not an inbound email).
var FirstResponseTypes = []ActivityType{TypeCall, TypeMeeting, TypeEmail}

// IsFirstResponse reports whether a is a response that meets a first
// response target: done, of a responding type, not an inbound email.
func (a *Activity) IsFirstResponse() bool {
	return a.Status == StatusDone && slices.Contains(FirstResponseTypes, a.Type) && !(a.Type == TypeEmail && a.Direction == DirectionInbound)
}

// SlaReportRow is one line of the SLA report.
type SlaReportRow struct {
	Owner      string
	PolicyID   uuid.UUID
	PolicyName string
	Target     SlaTargetKind
	Clocks     int64
	Decided    int64
	Breached   int64
	// Median business time of the finished clocks (HasMedian false when
	// none are).
	Median    time.Duration
	HasMedian bool
}
