// Package bizcal is business-calendar arithmetic: working hours per
// weekday (several intervals a day), whole-day holidays and an IANA time
// zone. It adds business time to an instant and measures the business
// time between two instants by walking the working intervals day by day,
// never by stepping seconds or minutes, so a deadline weeks away costs a
// few dozen interval comparisons.
//
// Working hours are wall-clock times in the calendar's zone, turned into
// instants for each day with time.Date: on a day that changes to or from
// daylight saving time an interval is as long in real time as the clocks
// make it (09:00-17:00 spanning a change to summer time is 7 hours; a
// 00:00-24:00 day is 23 or 25 hours).
package bizcal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	// The zone database inside the binary: a calendar's zone resolves the
	// same on a machine (or container image) without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// MinutesPerDay bounds a working interval's end (24:00).
const MinutesPerDay = 24 * 60

// MaxWalkDays bounds Add: a deadline further than this many days away
// is ErrUnreachable (a calendar with almost no working time, or a target
// too long for it).
const MaxWalkDays = 3660

// ErrUnreachable is Add's answer for a deadline beyond MaxWalkDays.
var ErrUnreachable = errors.New("bizcal: the duration is not reached within 10 years of working time on this calendar")

// Span is a working interval of a day, in minutes after local midnight:
// [Start, End), End at most 24:00.
type Span struct{ Start, End int }

func (s Span) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.Start/60, s.Start%60, s.End/60, s.End%60)
}

// Date is a civil date (a holiday), in the calendar's zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the civil date of t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// Valid reports a real date (not February 30).
func (d Date) Valid() bool {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

func (d Date) next() Date {
	t := time.Date(d.Year, d.Month, d.Day+1, 0, 0, 0, 0, time.UTC)
	return Date{t.Year(), t.Month(), t.Day()}
}

func (d Date) weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Weekday()
}

// LoadZone resolves an IANA zone name ("Europe/Berlin", "UTC"). The
// empty name and "Local" are refused: a calendar names its zone.
func LoadZone(name string) (*time.Location, error) {
	if strings.TrimSpace(name) == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone of the IANA database", name)
	}
	return loc, nil
}

// Calendar is a checked business calendar. Its methods are safe for
// concurrent use.
type Calendar struct {
	loc      *time.Location
	week     [7][]Span
	holidays map[Date]bool
}

// New checks and builds a calendar: spans within a day, none
// overlapping another of its day (touching ones merge), some working
// time in the week, real holiday dates. week is indexed by
// time.Weekday.
func New(loc *time.Location, week [7][]Span, holidays []Date) (*Calendar, error) {
	c := &Calendar{loc: loc, holidays: make(map[Date]bool, len(holidays))}
	total := 0
	for day, spans := range week {
		sorted := slices.Clone(spans)
		slices.SortFunc(sorted, func(a, b Span) int { return a.Start - b.Start })
		for i, s := range sorted {
			if s.Start < 0 || s.End > MinutesPerDay || s.End <= s.Start {
				return nil, fmt.Errorf("%s %v: a working interval ends after it starts, within the day", time.Weekday(day), s)
			}
			if i > 0 && s.Start < sorted[i-1].End {
				return nil, fmt.Errorf("%s: %v overlaps %v", time.Weekday(day), s, sorted[i-1])
			}
		}
		for _, s := range sorted {
			total += s.End - s.Start
			if n := len(c.week[day]); n > 0 && c.week[day][n-1].End == s.Start {
				c.week[day][n-1].End = s.End
				continue
			}
			c.week[day] = append(c.week[day], s)
		}
	}
	if total == 0 {
		return nil, errors.New("a calendar has working time on at least one day of the week")
	}
	for _, h := range holidays {
		if !h.Valid() {
			return nil, fmt.Errorf("%s is not a date", h)
		}
		c.holidays[h] = true
	}
	return c, nil
}

// Location is the calendar's zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// window is a working interval of one day as instants.
type window struct{ start, end time.Time }

// windows are the working intervals of local date d, in order; none on
// a holiday. A wall time that does not exist (in a change to summer
// time) resolves as time.Date resolves it; a window is clamped so that it
// never starts before the previous one ends.
func (c *Calendar) windows(d Date, buf []window) []window {
	buf = buf[:0]
	if c.holidays[d] {
		return buf
	}
	for _, s := range c.week[d.weekday()] {
		start := time.Date(d.Year, d.Month, d.Day, 0, s.Start, 0, 0, c.loc)
		end := time.Date(d.Year, d.Month, d.Day, 0, s.End, 0, 0, c.loc)
		if n := len(buf); n > 0 && start.Before(buf[n-1].end) {
			start = buf[n-1].end
		}
		if end.After(start) {
			buf = append(buf, window{start, end})
		}
	}
	return buf
}

// Add is the instant at which d of business time has passed from t: the
// end of a working interval when it runs out exactly there (17:00, not
// the next morning). Add(t, 0) is t. A negative d is an error.
func (c *Calendar) Add(t time.Time, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, fmt.Errorf("bizcal: add %v: negative", d)
	}
	if d == 0 {
		return t, nil
	}
	var buf [4]window
	day := DateOf(t, c.loc)
	for range MaxWalkDays {
		for _, w := range c.windows(day, buf[:0]) {
			if !w.end.After(t) {
				continue
			}
			from := w.start
			if t.After(from) {
				from = t
			}
			left := w.end.Sub(from)
			if d <= left {
				return from.Add(d), nil
			}
			d -= left
		}
		day = day.next()
	}
	return time.Time{}, ErrUnreachable
}

// Between is the business time in [from, to): zero when to is not after
// from.
func (c *Calendar) Between(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	var sum time.Duration
	var buf [4]window
	last := DateOf(to, c.loc)
	for day := DateOf(from, c.loc); ; day = day.next() {
		for _, w := range c.windows(day, buf[:0]) {
			s, e := w.start, w.end
			if from.After(s) {
				s = from
			}
			if to.Before(e) {
				e = to
			}
			if e.After(s) {
				sum += e.Sub(s)
			}
		}
		if day == last {
			return sum
		}
	}
}
