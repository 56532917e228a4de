package domain

import (
	"testing"
	"time"
)

// day parses "2027-01-31".
func day(s string) Date {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return DateOf(t)
}

func TestDate(t *testing.T) {
	d := Date{2027, 1, 31}
	if d.String() != "2027-01-31" || day("2027-01-31") != d {
		t.Fatalf("String %q, parsed %v", d.String(), day("2027-01-31"))
	}
	if !d.Time().Equal(time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatal(d.Time())
	}
	if (Date{}).Valid() || !(Date{}).IsZero() || d.IsZero() || !d.Valid() {
		t.Fatal("zero date")
	}
	for _, bad := range []Date{{2027, 2, 29}, {2027, 4, 31}, {2027, 13, 1}, {2027, 0, 1}, {2027, 1, 0}, {0, 1, 1}, {10000, 1, 1}} {
		if bad.Valid() {
			t.Errorf("%v valid", bad)
		}
	}
	if !(Date{2028, 2, 29}).Valid() {
		t.Error("2028-02-29 invalid")
	}
	// DateOf takes t's own location: 01:00 at UTC+2 is still Jan 1 there.
	if got := DateOf(time.Date(2027, 1, 1, 1, 0, 0, 0, time.FixedZone("", 2*3600))); got != (Date{2027, 1, 1}) {
		t.Errorf("DateOf = %v", got)
	}
	if got := d.AddDays(29); got != (Date{2027, 3, 1}) {
		t.Errorf("AddDays(29) = %v", got)
	}
	if got := d.AddDays(-31); got != (Date{2026, 12, 31}) {
		t.Errorf("AddDays(-31) = %v", got)
	}
	for _, c := range []struct {
		a, b string
		days int
	}{
		{"2027-01-31", "2027-01-31", 0},
		{"2027-01-31", "2027-02-01", 1},
		{"2027-02-01", "2027-01-31", -1},
		{"2028-02-01", "2028-03-01", 29},
		{"2027-01-01", "2028-01-01", 365},
		{"2028-01-01", "2029-01-01", 366},
		{"2027-03-27", "2027-03-29", 2}, // over a European DST change: UTC has none
	} {
		if got := day(c.a).DaysUntil(day(c.b)); got != c.days {
			t.Errorf("%s.DaysUntil(%s) = %d, want %d", c.a, c.b, got, c.days)
		}
	}
	a, b := Date{2027, 12, 31}, Date{2028, 1, 1}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 || !a.Before(b) || a.After(b) || !b.After(a) || a.Before(a) {
		t.Error("Compare")
	}
	if (Date{2027, 2, 1}).Compare(Date{2027, 1, 31}) != 1 || (Date{2027, 1, 2}).Compare(Date{2027, 1, 3}) != -1 {
		t.Error("Compare month/day")
	}
}

func TestAddMonthsClamped(t *testing.T) {
	jan := Date{2027, 1, 15} // its day is ignored
	for _, c := range []struct {
		d      Date
		months int
		day    int
		want   string
	}{
		{jan, 0, 31, "2027-01-31"},
		{jan, 1, 31, "2027-02-28"},
		{Date{2028, 1, 1}, 1, 31, "2028-02-29"},
		{jan, 2, 31, "2027-03-31"},
		{jan, 3, 31, "2027-04-30"},
		{jan, 1, 29, "2027-02-28"},
		{jan, 13, 29, "2028-02-29"},
		{jan, 11, 31, "2027-12-31"},
		{jan, 12, 31, "2028-01-31"},
		{jan, -1, 31, "2026-12-31"},
		{jan, -11, 30, "2026-02-28"},
		{jan, -12, 31, "2026-01-31"},
		{jan, -13, 31, "2025-12-31"},
		{jan, -23, 29, "2025-02-28"},
		{jan, 24, 1, "2029-01-01"},
		{jan, 1, 0, "2027-02-01"},
	} {
		if got := AddMonthsClamped(c.d, c.months, c.day); got.String() != c.want {
			t.Errorf("AddMonthsClamped(%v, %d, %d) = %v, want %s", c.d, c.months, c.day, got, c.want)
		}
	}
}

func TestTermEnd(t *testing.T) {
	for _, c := range []struct {
		start  string
		months int
		want   string
	}{
		{"2028-02-29", 12, "2029-02-28"},
		{"2028-02-29", 48, "2032-02-29"},
		{"2027-01-31", 1, "2027-02-28"},
		{"2028-01-31", 1, "2028-02-29"},
		{"2027-01-31", 2, "2027-03-31"}, // from the start's day, not from Feb 28
		{"2027-01-10", 3, "2027-04-10"},
		{"2027-08-31", 6, "2028-02-29"},
		{"2027-11-30", 3, "2028-02-29"},
	} {
		if got := TermEnd(day(c.start), c.months); got.String() != c.want {
			t.Errorf("TermEnd(%s, %d) = %v, want %s", c.start, c.months, got, c.want)
		}
	}
}
