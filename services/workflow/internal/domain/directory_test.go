package domain

import (
	"slices"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
)

func TestWorkingHoursAreTheUsersWallClock(t *testing.T) {
	berlin, err := LoadZone("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	h := WorkingHours{Zone: berlin, Intervals: []WorkingInterval{{Day: time.Monday, Start: 9 * 60, End: 12 * 60}, {Day: time.Monday, Start: 13 * 60, End: 17 * 60}, {Day: time.Friday, Start: 22 * 60, End: 24 * 60}}}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for when, want := range map[string]bool{
		"2027-01-04T08:00:00Z": true,  // Monday 09:00 in Berlin (winter, UTC+1)
		"2027-01-04T07:59:00Z": false, // 08:59
		"2027-01-04T11:30:00Z": false, // lunch, 12:30
		"2027-01-04T15:59:00Z": true,  // 16:59
		"2027-01-04T16:00:00Z": false, // 17:00, the end is not in
		"2027-07-05T07:00:00Z": true,  // Monday 09:00 in summer (UTC+2)
		"2027-01-08T22:59:00Z": true,  // Friday 23:59
		"2027-01-08T23:00:00Z": false, // Saturday 00:00
		"2027-01-05T10:00:00Z": false, // Tuesday
	} {
		if got := h.Within(at(when)); got != want {
			t.Errorf("Within(%s) = %v, want %v", when, got, want)
		}
	}
	if !(WorkingHours{}).Within(at("2027-01-05T03:00:00Z")) {
		t.Error("no working hours: any time is working time")
	}
}

func TestUserCheckNamesEachBadField(t *testing.T) {
	start := time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)
	u := User{DisplayName: "", Email: "not an email", TimeZone: "Mars/Olympus",
		WorkingHours: []WorkingInterval{{Day: time.Monday, Start: 540, End: 720}, {Day: time.Monday, Start: 700, End: 800}, {Day: time.Tuesday, Start: 600, End: 500}},
		OutOfOffice:  []OutOfOffice{{Start: start, End: start.Add(-time.Hour)}},
		Teams:        []string{"EMEA inbound"}, Territories: []string{"Germany"}, Capacity: -1}
	err := u.Check()
	e, ok := apperr.As(err)
	if !ok {
		t.Fatalf("Check: %v", err)
	}
	var fields []string
	for _, v := range e.Violations {
		fields = append(fields, v.Field+" "+v.Reason)
	}
	for _, want := range []string{"display_name DISPLAY_NAME_REQUIRED", "email INVALID_EMAIL", "time_zone INVALID_TIME_ZONE",
		"working_hours[1] OVERLAPPING_INTERVALS", "working_hours[2].end_time INVALID_INTERVAL", "out_of_office[0].end_time END_BEFORE_START",
		"teams[0] INVALID_TEAM", "territories[0] INVALID_TERRITORY", "capacity INVALID_CAPACITY"} {
		if !slices.Contains(fields, want) {
			t.Errorf("no violation %q in %v", want, fields)
		}
	}
}

func TestAssignmentRuleWithNoCandidatesIsRefused(t *testing.T) {
	r := AssignmentRule{DisplayName: "web", RecordType: RecordLead, Strategy: StrategyRoundRobin}
	e, ok := apperr.As(r.Check())
	if !ok || len(e.Violations) != 1 || e.Violations[0].Field != "candidates" || e.Violations[0].Reason != "NO_CANDIDATES" {
		t.Fatalf("Check: %v", e)
	}
	r.Strategy, r.ByField = StrategyByField, &FieldRouting{Field: FieldSource, Routes: []FieldRoute{{Values: []string{"WEB_FORM"}, Candidates: Candidates{Users: []string{"sam"}}}}}
	if err := r.Check(); err != nil {
		t.Fatalf("a SOURCE rule whose routes have candidates: %v", err)
	}
}

func TestTerritoriesMatchMostSpecifically(t *testing.T) {
	f := RoutingFacts{Region: "DE", Postal: "80331"}
	for terr, want := range map[string]int{"DE": 1, "DE:8": 2, "DE:803": 4, "DE:81": 0, "AT": 0} {
		if got := TerritoryMatch(terr, f); got != want {
			t.Errorf("TerritoryMatch(%s) = %d, want %d", terr, got, want)
		}
	}
	now := time.Now()
	user := func(id string, ts ...string) Considered {
		return Considered{ID: id, User: &User{ID: id, Active: true, Territories: ts}}
	}
	r := &AssignmentRule{Strategy: StrategyByField, ByField: &FieldRouting{Field: FieldTerritory}, AnyTime: true}
	ds, eligible, bucket := Eligibility(r, []Considered{user("de", "DE"), user("munich", "DE:80", "AT"), user("munich2", "DE:803"), user("at", "AT")}, f, now)
	if len(eligible) != 1 || ds[eligible[0]].User != "munich2" || bucket != "territory:DE:80331" {
		t.Fatalf("eligible %v, bucket %q: %+v", eligible, bucket, ds)
	}
	for _, d := range ds {
		if d.User != "munich2" && d.Skip != SkipNotInTerritory {
			t.Errorf("%s: skip %s, want NOT_IN_TERRITORY", d.User, d.Skip)
		}
	}
}

func TestEligibilitySkipsInactiveAwayAndOffDutyUsers(t *testing.T) {
	now := time.Date(2027, 1, 4, 10, 0, 0, 0, time.UTC) // a Monday
	away := []OutOfOffice{{Start: now.Add(-time.Hour), End: now.Add(time.Hour), Note: "holiday"}}
	nights := []WorkingInterval{{Day: time.Monday, Start: 20 * 60, End: 24 * 60}}
	cs := []Considered{
		{ID: "ok", User: &User{ID: "ok", Active: true}},
		{ID: "off", User: &User{ID: "off", Active: false}},
		{ID: "away", User: &User{ID: "away", Active: true, OutOfOffice: away}},
		{ID: "night", User: &User{ID: "night", Active: true, WorkingHours: nights, TimeZone: "UTC"}},
		{ID: "ghost"},
	}
	want := map[string]SkipReason{"ok": "", "off": SkipInactive, "away": SkipOutOfOffice, "night": SkipOutsideHours, "ghost": SkipUnknownUser}
	ds, eligible, _ := Eligibility(&AssignmentRule{Strategy: StrategyRoundRobin}, slices.Clone(cs), RoutingFacts{}, now)
	if len(eligible) != 1 {
		t.Fatalf("eligible %v: %+v", eligible, ds)
	}
	for _, d := range ds {
		if d.Skip != want[d.User] {
			t.Errorf("%s: skip %q, want %q", d.User, d.Skip, want[d.User])
		}
	}
	_, eligible, _ = Eligibility(&AssignmentRule{Strategy: StrategyRoundRobin, AnyTime: true}, slices.Clone(cs), RoutingFacts{}, now)
	if len(eligible) != 2 {
		t.Fatalf("any time: %d eligible, want ok and night", len(eligible))
	}
}

func TestRoundRobinAndLeastLoaded(t *testing.T) {
	ids := []string{"a", "b", "c"}
	last, got := "", ""
	for range 7 {
		last = NextAfter(ids, last)
		got += last
	}
	if got != "abcabca" {
		t.Fatalf("round robin: %s", got)
	}
	if NextAfter([]string{"a", "c"}, "b") != "c" || NextAfter([]string{"a", "c"}, "c") != "a" {
		t.Fatal("round robin skips to the next eligible id")
	}
	load := map[string]int64{"a": 4, "b": 2, "c": 3}
	weight := map[string]int{"a": 2, "b": 1, "c": 1}
	if got := LeastLoaded(ids, load, weight, ""); got != "a" && got != "b" {
		t.Fatalf("least loaded: %s", got)
	}
	// a: 4/2 = 2, b: 2/1 = 2 tie; after a comes b.
	if got := LeastLoaded(ids, load, weight, "a"); got != "b" {
		t.Fatalf("least loaded tie after a: %s", got)
	}
	if got := LeastLoaded(ids, load, weight, "b"); got != "a" {
		t.Fatalf("least loaded tie after b: %s", got)
	}
}

// Whatever a caller sends, checking a user or a rule answers with field
// violations, never a panic; and what passes is a user assignment can
// read (its zone loads, its intervals are within the day).
func FuzzUserAndRuleChecks(f *testing.F) {
	f.Add("Ada", "ada@example.com", "Europe/Berlin", "emea", "DE:80", 1, 540, 1020, int64(0), int64(3600), "ROUND_ROBIN", "sam", "")
	f.Add("", "x", "Local", "A B", "de", 8, -1, 2000, int64(10), int64(5), "BY_FIELD", "", "SOURCE")
	f.Fuzz(func(t *testing.T, name, email, zone, team, territory string, day, start, end int, oooStart, oooEnd int64, strategy, user, field string) {
		u := User{DisplayName: name, Email: email, TimeZone: zone, Teams: []string{team}, Territories: []string{territory},
			WorkingHours: []WorkingInterval{{Day: time.Weekday(day), Start: start, End: end}},
			OutOfOffice:  []OutOfOffice{{Start: time.Unix(oooStart, 0), End: time.Unix(oooEnd, 0)}}}
		u.Normalize()
		if err := u.Check(); err != nil {
			if e, ok := apperr.As(err); !ok || len(e.Violations) == 0 {
				t.Fatalf("Check: %v", err)
			}
		} else {
			if _, err := LoadZone(u.TimeZone); err != nil {
				t.Fatalf("a valid user's zone %q: %v", u.TimeZone, err)
			}
			u.Hours().Within(time.Unix(oooStart, 0))
		}
		r := AssignmentRule{DisplayName: name, RecordType: RecordLead, Strategy: Strategy(strategy), Candidates: Candidates{Users: []string{user}}}
		if field != "" {
			r.ByField = &FieldRouting{Field: RoutingField(field), Routes: []FieldRoute{{Values: []string{team}, Candidates: Candidates{Teams: []string{team}}}}}
		}
		r.Normalize()
		if err := r.Check(); err != nil {
			if e, ok := apperr.As(err); !ok || len(e.Violations) == 0 {
				t.Fatalf("rule Check: %v", err)
			}
		}
	})
}
