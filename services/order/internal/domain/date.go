package domain

import (
	"fmt"
	"time"
)

// Date is a calendar date, with no time of day and no zone (a contract's
// start, a billing boundary).
type Date struct{ Year, Month, Day int }

// IsZero reports an unset date.
func (d Date) IsZero() bool { return d == Date{} }

// String is the ISO 8601 form, "2027-01-31".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Valid reports a real calendar date in years 1 to 9999.
func (d Date) Valid() bool {
	return d.Year >= 1 && d.Year <= 9999 && d.Month >= 1 && d.Month <= 12 && d.Day >= 1 && d.Day <= daysIn(d.Year, d.Month)
}

// Time is midnight UTC at the start of d.
func (d Date) Time() time.Time {
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC)
}

// DateOf is the calendar date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, int(m), d}
}

// AddDays is the date n days after d (before it for a negative n).
func (d Date) AddDays(n int) Date {
	return DateOf(d.Time().AddDate(0, 0, n))
}

// DaysUntil is the number of days from d to other: 1 from a date to the
// next day, negative when other is before d.
func (d Date) DaysUntil(other Date) int {
	return int((other.Time().Unix() - d.Time().Unix()) / 86400)
}

// Compare is -1, 0 or +1 as d is before, equal to or after other.
func (d Date) Compare(other Date) int {
	switch {
	case d.Year != other.Year:
		return sign(d.Year - other.Year)
	case d.Month != other.Month:
		return sign(d.Month - other.Month)
	default:
		return sign(d.Day - other.Day)
	}
}

// Before reports d earlier than other.
func (d Date) Before(other Date) bool { return d.Compare(other) < 0 }

// After reports d later than other.
func (d Date) After(other Date) bool { return d.Compare(other) > 0 }

// AddMonthsClamped is the date in month d.Month+months (of d.Year, carried
// into other years) whose day is min(day, the last day of that month); d's
// own day is ignored. A day below 1 counts as 1. With a 31st:
// 2027-01 +1 is 2027-02-28, 2028-01 +1 is 2028-02-29, 2027-01 +2 is
// 2027-03-31, 2027-01 +3 is 2027-04-30.
func AddMonthsClamped(d Date, months int, day int) Date {
	m := d.Year*12 + (d.Month - 1) + months
	y, mo := floorDiv(m, 12), m-floorDiv(m, 12)*12+1
	return Date{y, mo, max(1, min(day, daysIn(y, mo)))}
}

// daysIn is the number of days in month m of year y.
func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}
