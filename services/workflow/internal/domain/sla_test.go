package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/services/workflow/internal/bizcal"
)

// alwaysOpen is a calendar where business time is real time.
func alwaysOpen(t *testing.T) *bizcal.Calendar {
	t.Helper()
	var week [7][]bizcal.Span
	for d := range week {
		week[d] = []bizcal.Span{{Start: 0, End: bizcal.MinutesPerDay}}
	}
	c, err := bizcal.New(time.UTC, week, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func hours(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

// step applies an event at h hours to the order's clocks and plans them.
func step(t *testing.T, cal *bizcal.Calendar, p *SlaPolicy, clocks []*SlaClock, status string, h float64) []*SlaClock {
	t.Helper()
	rec := &Record{Name: "orders/x", Type: RecordOrder, Owner: "olga", Status: status}
	changed := SlaStep(SlaRecord{Record: rec, Stage: status, CreatedAt: t0, At: hours(h)}, p, clocks, map[uuid.UUID]*SlaPolicy{p.ID: p}, uuid.New)
	for _, c := range changed {
		if err := c.Plan(cal); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, o := range clocks {
			found = found || o == c
		}
		if !found {
			clocks = append(clocks, c)
		}
	}
	return clocks
}

func byKind(clocks []*SlaClock, k SlaTargetKind, stage string) *SlaClock {
	for _, c := range clocks {
		if c.Target == k && (stage == "" || c.Stage == stage) {
			return c
		}
	}
	return nil
}

// An order's clocks through its life: time in stage per status, confirm
// to fulfil from the confirmation, standing still on hold, all finished
// when it is fulfilled.
func TestOrderClocksThroughItsLife(t *testing.T) {
	cal := alwaysOpen(t)
	p := &SlaPolicy{ID: uuid.New(), RecordType: RecordOrder, WarningPercent: 50, PauseStatuses: []string{"ON_HOLD"}, Targets: []SlaTarget{
		{Kind: TargetTimeInStage, Duration: 10 * time.Hour, Stages: []string{"DRAFT", "CONFIRMED"}},
		{Kind: TargetConfirmToFulfil, Duration: 8 * time.Hour},
		{Kind: TargetTimeToClose, Duration: 24 * time.Hour},
	}}
	clocks := step(t, cal, p, nil, "DRAFT", 0)
	if len(clocks) != 2 || byKind(clocks, TargetConfirmToFulfil, "") != nil {
		t.Fatalf("a draft has a stage and a close clock, not %d", len(clocks))
	}
	draft := byKind(clocks, TargetTimeInStage, "DRAFT")
	if !draft.BreachAt.Equal(hours(10)) || !draft.WarnAt.Equal(hours(5)) {
		t.Fatalf("draft deadlines %v %v", draft.WarnAt, draft.BreachAt)
	}
	clocks = step(t, cal, p, clocks, "CONFIRMED", 2)
	if !draft.Finished() || draft.Elapsed != 2*time.Hour || draft.Status(hours(3)) != SlaMet {
		t.Fatalf("the draft clock on confirmation: %+v", draft)
	}
	fulfil := byKind(clocks, TargetConfirmToFulfil, "")
	if fulfil == nil || !fulfil.StartedAt.Equal(hours(2)) || !fulfil.BreachAt.Equal(hours(10)) {
		t.Fatalf("confirm to fulfil %+v", fulfil)
	}
	// On hold from 3h to 13h: every clock stands still; ON_HOLD is no
	// counted stage, so the confirmed stage's clock is done.
	clocks = step(t, cal, p, clocks, "ON_HOLD", 3)
	if fulfil.Status(hours(20)) != SlaPaused || !fulfil.BreachAt.IsZero() || fulfil.Elapsed != time.Hour {
		t.Fatalf("on hold: %+v", fulfil)
	}
	if byKind(clocks, TargetTimeInStage, "ON_HOLD") != nil {
		t.Fatal("a clock for a stage the target does not count")
	}
	clocks = step(t, cal, p, clocks, "CONFIRMED", 13)
	if !fulfil.BreachAt.Equal(hours(20)) || fulfil.Status(hours(15)) != SlaOnTrack || fulfil.Status(hours(17)) != SlaWarning || fulfil.Status(hours(20)) != SlaBreached {
		t.Fatalf("resumed: %+v", fulfil)
	}
	again := byKind(clocks, TargetTimeInStage, "CONFIRMED")
	if len(clocks) != 5 || again == nil || byKind(clocks, TargetConfirmToFulfil, "") != fulfil {
		t.Fatalf("%d clocks after the hold", len(clocks))
	}
	step(t, cal, p, clocks, "FULFILLED", 15)
	for _, c := range clocks {
		if !c.Finished() {
			t.Fatalf("%s %s still running after fulfilment", c.Target, c.Stage)
		}
	}
	if fulfil.Elapsed != 3*time.Hour || fulfil.Status(hours(30)) != SlaMet {
		t.Fatalf("fulfilled after %v: %s", fulfil.Elapsed, fulfil.Status(hours(30)))
	}
	if close := byKind(clocks, TargetTimeToClose, ""); close.Elapsed != 5*time.Hour { // 0-3 and 13-15
		t.Fatalf("time to close %v", close.Elapsed)
	}
}

// Timers fire only for the deadline they were set for; a breach brings
// its warning first; a breached clock stays breached when its target
// grows.
func TestFiringIsOnceAndForTheCurrentDeadline(t *testing.T) {
	cal := alwaysOpen(t)
	p := &SlaPolicy{ID: uuid.New(), RecordType: RecordOrder, WarningPercent: 75, Targets: []SlaTarget{{Kind: TargetTimeToClose, Duration: 4 * time.Hour}}}
	clocks := step(t, cal, p, nil, "DRAFT", 0)
	c := clocks[0]
	if c.Warn(hours(2)) {
		t.Fatal("a stale warning fired")
	}
	warned, ok := c.Breach(hours(4))
	if !ok || !warned || !c.WarnedAt.Equal(hours(3)) || !c.BreachedAt.Equal(hours(4)) {
		t.Fatalf("breach: %v %v %+v", warned, ok, c)
	}
	if _, ok := c.Breach(hours(4)); ok {
		t.Fatal("breached twice")
	}
	if c.Warn(hours(3)) {
		t.Fatal("warned after the breach")
	}
	longer := *p
	longer.Targets = []SlaTarget{{Kind: TargetTimeToClose, Duration: 40 * time.Hour}}
	if !c.Retarget(&longer) || c.Plan(cal) != nil || c.Status(hours(5)) != SlaBreached || !c.BreachAt.IsZero() {
		t.Fatalf("a breached clock retargeted: %+v", c)
	}
	// A paused clock whose target shrinks below its time is due at once.
	d := step(t, cal, p, nil, "DRAFT", 0)[0]
	d.Pause(hours(2))
	shorter := *p
	shorter.Targets = []SlaTarget{{Kind: TargetTimeToClose, Duration: time.Hour}}
	d.Retarget(&shorter)
	if err := d.Plan(cal); err != nil || !d.BreachAt.Equal(hours(2)) || !d.WarnAt.Equal(hours(2)) {
		t.Fatalf("paused past its new target: %+v", d)
	}
}

// Whatever a calendar request holds, Check refuses it or the calendar
// works: its arithmetic builds, and adding business time and measuring it
// back agree.
func FuzzBusinessCalendarCheck(f *testing.F) {
	f.Add("Europe/Berlin", 1, 540, 720, 1, 780, 1020, 2025, 2027, 2025, 12, 22, int64(4*time.Hour))
	f.Add("America/New_York", 0, 0, 1440, 6, 600, 601, 2024, 2024, 2024, 2, 29, int64(time.Minute))
	f.Add("UTC", 3, 720, 540, 3, 500, 800, 1970, 2069, 2030, 2, 30, int64(-time.Hour))
	f.Fuzz(func(t *testing.T, zone string, d1, s1, e1, d2, s2, e2, first, last, hy, hm, hd int, add int64) {
		c := BusinessCalendar{DisplayName: "fuzz", TimeZone: zone, FirstYear: first, LastYear: last,
			WorkingHours: []WorkingInterval{{time.Weekday(d1), s1, e1}, {time.Weekday(d2), s2, e2}},
			Holidays:     []Holiday{{Date: bizcal.Date{Year: hy, Month: time.Month(hm), Day: hd}}}}
		if c.Check() != nil {
			return
		}
		cal, err := c.Calendar()
		if err != nil {
			t.Fatalf("checked calendar %+v does not build: %v", c, err)
		}
		d := time.Duration(add) % MaxSlaTarget
		if d < 0 {
			d = -d
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		to, err := cal.Add(from, d)
		if err != nil {
			return // a target the calendar cannot reach: refused when policies are saved
		}
		if got := cal.Between(from, to); got != d {
			t.Fatalf("%+v: add %v, measured back %v", c, d, got)
		}
	})
}
