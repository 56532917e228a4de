package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/services/workflow/internal/bizcal"
)

// A user's working hours are a business calendar (internal/bizcal, as
// SLAs use): its weekly working intervals in its time zone, with no
// holidays of its own. Assignment asks one question of them: is the user
// working at t.

// WorkingHours are the intervals a user works in its zone; none means
// any time.
type WorkingHours struct {
	Zone      *time.Location
	Intervals []WorkingInterval
}

// LoadZone resolves an IANA zone name; "" is UTC.
func LoadZone(name string) (*time.Location, error) {
	if name = strings.TrimSpace(name); name == "" {
		return time.UTC, nil
	}
	return bizcal.LoadZone(name)
}

// CheckIntervals refuses intervals that are empty, out of the day or
// overlapping on one day, as violations of field[i].
func CheckIntervals(field string, ivs []WorkingInterval, vs *apperr.Violations) {
	byDay := map[time.Weekday][]int{}
	for i, w := range ivs {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case w.Day < time.Sunday || w.Day > time.Saturday:
			vs.Add(f+".day", "INVALID_DAY", "a working interval is on a weekday, MONDAY to SUNDAY")
		case w.Start < 0 || w.Start >= bizcal.MinutesPerDay || w.End <= 0 || w.End > bizcal.MinutesPerDay:
			vs.Add(f, "INVALID_INTERVAL", "%s %s-%s: times are whole minutes within the day (end at most 24:00)", w.Day, hhmm(w.Start), hhmm(w.End))
		case w.End <= w.Start:
			vs.Add(f+".end_time", "INVALID_INTERVAL", "%s %s-%s: the end is after the start", w.Day, hhmm(w.Start), hhmm(w.End))
		default:
			byDay[w.Day] = append(byDay[w.Day], i)
		}
	}
	for _, idx := range byDay {
		slices.SortFunc(idx, func(a, b int) int { return ivs[a].Start - ivs[b].Start })
		for k := 1; k < len(idx); k++ {
			if prev, cur := ivs[idx[k-1]], ivs[idx[k]]; cur.Start < prev.End {
				vs.Add(fmt.Sprintf("%s[%d]", field, idx[k]), "OVERLAPPING_INTERVALS", "%s %s-%s overlaps %s-%s",
					cur.Day, hhmm(cur.Start), hhmm(cur.End), hhmm(prev.Start), hhmm(prev.End))
			}
		}
	}
}

// Within reports whether t is working time: inside one of the intervals
// of t's local day. With no intervals every time is.
func (h WorkingHours) Within(t time.Time) bool {
	if len(h.Intervals) == 0 {
		return true
	}
	zone := h.Zone
	if zone == nil {
		zone = time.UTC
	}
	var week [7][]bizcal.Span
	for _, w := range h.Intervals {
		week[w.Day] = append(week[w.Day], bizcal.Span{Start: w.Start, End: w.End})
	}
	cal, err := bizcal.New(zone, week, nil)
	if err != nil {
		return false // not a calendar (checked when saved): never working
	}
	return cal.Between(t, t.Add(time.Nanosecond)) > 0
}
