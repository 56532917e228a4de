package bizcal

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func hm(h, m int) int { return h*60 + m }

// officeWeek is Monday to Friday 09:00-12:00 and 13:00-17:00.
func officeWeek() [7][]Span {
	var w [7][]Span
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = []Span{{hm(9, 0), hm(12, 0)}, {hm(13, 0), hm(17, 0)}}
	}
	return w
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustCal(t *testing.T, loc *time.Location, week [7][]Span, holidays ...Date) *Calendar {
	t.Helper()
	c, err := New(loc, week, holidays)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func at(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Friday afternoon plus 4 business hours skips the weekend and a Monday
// holiday, and both lunch breaks: Tuesday 11:30.
func TestAddSkipsWeekendHolidayAndBreaks(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	c := mustCal(t, berlin, officeWeek(), Date{2025, time.December, 22})
	for _, tc := range []struct {
		from string
		d    time.Duration
		want string
	}{
		{"2025-12-19 15:30", 4 * time.Hour, "2025-12-23 11:30"},    // 1:30 Friday, 2:30 Tuesday
		{"2025-12-19 15:30", 3 * time.Hour, "2025-12-23 10:30"},    // the 75 % warning
		{"2025-12-19 15:30", 90 * time.Minute, "2025-12-19 17:00"}, // runs out at the end of a window
		{"2025-12-19 11:00", 2 * time.Hour, "2025-12-19 14:00"},    // over lunch
		{"2025-12-20 10:00", time.Minute, "2025-12-23 09:01"},      // from a Saturday
		{"2025-12-19 12:30", 0, "2025-12-19 12:30"},                // nothing to add
		{"2025-12-19 07:00", 7 * time.Hour, "2025-12-19 17:00"},    // the whole of Friday
		{"2025-12-19 07:00", 8 * time.Hour, "2025-12-23 10:00"},
		{"2025-12-19 07:00", 7*time.Hour + time.Minute, "2025-12-23 09:01"},
	} {
		got, err := c.Add(at(t, berlin, tc.from), tc.d)
		if err != nil {
			t.Fatal(err)
		}
		if want := at(t, berlin, tc.want); !got.Equal(want) {
			t.Errorf("%s + %v = %v, want %v", tc.from, tc.d, got.In(berlin), want)
		}
	}
}

func TestBetweenCountsOnlyWorkingTime(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	c := mustCal(t, berlin, officeWeek(), Date{2025, time.December, 22})
	for _, tc := range []struct {
		from, to string
		want     time.Duration
	}{
		{"2025-12-19 15:30", "2025-12-23 11:30", 4 * time.Hour},
		{"2025-12-19 12:00", "2025-12-19 13:00", 0},
		{"2025-12-20 00:00", "2025-12-23 00:00", 0}, // weekend and holiday
		{"2025-12-19 11:59", "2025-12-19 13:01", 2 * time.Minute},
		{"2025-12-23 11:30", "2025-12-19 15:30", 0}, // backwards
	} {
		if got := c.Between(at(t, berlin, tc.from), at(t, berlin, tc.to)); got != tc.want {
			t.Errorf("%s..%s = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

// The walk crosses a year end with its holidays: New Year's Eve and Day
// off, so the last business hour of the year is followed by January 2nd.
func TestAcrossYearEnd(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	c := mustCal(t, ny, officeWeek(), Date{2025, time.December, 31}, Date{2026, time.January, 1})
	got, err := c.Add(at(t, ny, "2025-12-30 16:00"), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := at(t, ny, "2026-01-02 10:00"); !got.Equal(want) {
		t.Fatalf("got %v, want %v", got.In(ny), want)
	}
	if d := c.Between(at(t, ny, "2025-12-30 16:00"), at(t, ny, "2026-01-02 10:00")); d != 2*time.Hour {
		t.Fatalf("between %v", d)
	}
}

// Working hours are wall-clock hours: across the changes to and from
// summer time a day's interval is as long as the clocks make it.
func TestDaylightSavingChanges(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	var allDay, night [7][]Span
	for d := range 7 {
		allDay[d] = []Span{{0, MinutesPerDay}}
		night[d] = []Span{{hm(1, 0), hm(4, 0)}}
	}
	full := mustCal(t, berlin, allDay)
	for _, tc := range []struct {
		day  string
		want time.Duration
	}{{"2025-03-30", 23 * time.Hour}, {"2025-10-26", 25 * time.Hour}, {"2025-06-01", 24 * time.Hour}} {
		from := at(t, berlin, tc.day+" 00:00")
		to := from.AddDate(0, 0, 1)
		if got := full.Between(from, to); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.day, got, tc.want)
		}
		end, err := full.Add(from, tc.want)
		if err != nil || !end.Equal(to) {
			t.Errorf("%s: add %v = %v, %v; want the next midnight", tc.day, tc.want, end, err)
		}
	}
	// 01:00-04:00 holds two real hours on the spring day (02:00-03:00
	// does not exist) and four on the autumn day (02:00-03:00 twice).
	n := mustCal(t, berlin, night)
	if got := n.Between(at(t, berlin, "2025-03-30 00:00"), at(t, berlin, "2025-03-31 00:00")); got != 2*time.Hour {
		t.Errorf("spring night: %v", got)
	}
	if got := n.Between(at(t, berlin, "2025-10-26 00:00"), at(t, berlin, "2025-10-27 00:00")); got != 4*time.Hour {
		t.Errorf("autumn night: %v", got)
	}
	// 6 office hours from Friday 13:00 before the spring change: 4 on
	// Friday, 2 on Monday, which is in summer time: 11:00 CEST is 09:00
	// UTC where Friday's 11:00 was 10:00 UTC.
	office := mustCal(t, berlin, officeWeek())
	got, err := office.Add(at(t, berlin, "2025-03-28 13:00"), 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, time.March, 31, 9, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("over the change: %v, want %v", got.UTC(), want)
	}
}

// Several intervals a day, given out of order, touching ones merged.
func TestSeveralIntervalsADay(t *testing.T) {
	var w [7][]Span
	w[time.Wednesday] = []Span{{hm(14, 0), hm(16, 0)}, {hm(8, 0), hm(10, 0)}, {hm(10, 0), hm(11, 0)}}
	c := mustCal(t, time.UTC, w)
	from := time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC) // a Wednesday
	if got := c.Between(from, from.AddDate(0, 0, 7)); got != 5*time.Hour {
		t.Fatalf("a week of %v, want 5h", got)
	}
	got, err := c.Add(from, 4*time.Hour)
	if err != nil || !got.Equal(from.Add(15*time.Hour)) {
		t.Fatalf("add: %v, %v", got, err)
	}
	got, err = c.Add(from, 6*time.Hour) // into the next Wednesday
	if err != nil || !got.Equal(from.AddDate(0, 0, 7).Add(9*time.Hour)) {
		t.Fatalf("add into next week: %v, %v", got, err)
	}
}

func TestRefusals(t *testing.T) {
	var empty [7][]Span
	if _, err := New(time.UTC, empty, nil); err == nil {
		t.Error("a calendar without working time")
	}
	var overlap [7][]Span
	overlap[time.Monday] = []Span{{hm(9, 0), hm(12, 0)}, {hm(11, 0), hm(13, 0)}}
	if _, err := New(time.UTC, overlap, nil); err == nil {
		t.Error("overlapping intervals")
	}
	var backwards [7][]Span
	backwards[time.Monday] = []Span{{hm(12, 0), hm(9, 0)}}
	if _, err := New(time.UTC, backwards, nil); err == nil {
		t.Error("an interval ending before it starts")
	}
	var late [7][]Span
	late[time.Monday] = []Span{{hm(9, 0), MinutesPerDay + 1}}
	if _, err := New(time.UTC, late, nil); err == nil {
		t.Error("an interval past midnight")
	}
	if _, err := New(time.UTC, officeWeek(), []Date{{2025, time.February, 30}}); err == nil {
		t.Error("February 30th")
	}
	for _, z := range []string{"", "Local", "Mars/Olympus_Mons", "Europe/Berln"} {
		if _, err := LoadZone(z); err == nil {
			t.Errorf("zone %q", z)
		}
	}
	c := mustCal(t, time.UTC, officeWeek())
	if _, err := c.Add(time.Now(), -time.Second); err == nil {
		t.Error("a negative duration")
	}
	// A calendar with one working minute a week cannot hold a year of
	// business time within the walk's bound.
	var tiny [7][]Span
	tiny[time.Monday] = []Span{{hm(9, 0), hm(9, 1)}}
	if _, err := mustCal(t, time.UTC, tiny).Add(time.Now(), 365*24*time.Hour); !errors.Is(err, ErrUnreachable) {
		t.Errorf("unreachable: %v", err)
	}
}

// Add and Between are inverses: from any instant, adding d and measuring
// back gives d; measuring to any instant and adding back lands on it, or
// on the end of the working interval before it.
func TestAddAndBetweenAreInverses(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	c := mustCal(t, berlin, officeWeek(), Date{2025, time.December, 25}, Date{2025, time.December, 26}, Date{2026, time.January, 1},
		Date{2026, time.April, 3}, Date{2026, time.April, 6})
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2025, time.October, 1, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		from := base.Add(time.Duration(r.Int64N(int64(240 * 24 * time.Hour)))).Truncate(time.Second)
		d := time.Duration(r.Int64N(int64(200 * time.Hour))).Truncate(time.Second)
		to, err := c.Add(from, d)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Between(from, to); got != d {
			t.Fatalf("from %v add %v = %v, measured back %v", from, d, to, got)
		}
		u := from.Add(time.Duration(r.Int64N(int64(60 * 24 * time.Hour))))
		back, err := c.Add(from, c.Between(from, u))
		if err != nil || back.After(u) || c.Between(back, u) != 0 {
			t.Fatalf("from %v to %v: added back to %v (%v)", from, u, back, err)
		}
	}
}

func BenchmarkAddFourHours(b *testing.B) {
	berlin, _ := LoadZone("Europe/Berlin")
	c, _ := New(berlin, officeWeek(), []Date{{2025, time.December, 22}})
	from := time.Date(2025, time.December, 19, 14, 30, 0, 0, time.UTC)
	for b.Loop() {
		if _, err := c.Add(from, 4*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
