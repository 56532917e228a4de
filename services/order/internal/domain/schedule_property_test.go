package domain

import (
	"errors"
	"math/big"
	"testing"
)

// TestScheduleProperties checks every schedule over each anchor day x
// start month x year (2027..2030, with the leap year 2028) x interval x
// start day (1, 15, 28, 29, 30, 31 clamped to the month, and the anchor
// day) x term (1, 7, 12, 24 months) at a non-round euro amount, and the
// same from 2028 and 2029 only at a yen amount: see checkSchedule. (About
// 140,000 schedules; the two currencies run in parallel.)
func TestScheduleProperties(t *testing.T) {
	intervals := []BillingInterval{IntervalMonthly, IntervalQuarterly, IntervalYearly}
	terms := []int{1, 7, 12, 24}
	for _, c := range []struct {
		currency, amount string
		from, to         int
	}{{"EUR", "1234.57", 2027, 2030}, {"JPY", "98765", 2028, 2029}} {
		t.Run(c.currency, func(t *testing.T) {
			t.Parallel()
			propertyRun(t, c.currency, c.amount, c.from, c.to, intervals, terms)
		})
	}
}

func propertyRun(t *testing.T, currency, amount string, from, to int, intervals []BillingInterval, terms []int) {
	f := rat(amount)
	schedules := 0
	for anchor := 1; anchor <= 31; anchor++ {
		for year := from; year <= to; year++ {
			for month := 1; month <= 12; month++ {
				var days []int
				for _, d := range []int{1, 15, 28, 29, 30, 31, anchor} {
					d = min(d, lastDay(year, month))
					if !containsInt(days, d) {
						days = append(days, d)
					}
				}
				for _, d := range days {
					start := Date{year, month, d}
					for _, iv := range intervals {
						for _, term := range terms {
							in := ScheduleInput{
								Currency: currency, Start: start, End: TermEnd(start, term),
								AnchorDay: anchor, Interval: iv,
								Rates: []Rate{{start, f}},
							}
							ps, err := Schedule(in)
							if err == nil {
								err = checkSchedule(in, ps)
							}
							if err != nil {
								t.Fatalf("%s %s from %v for %d months, anchor %d, %s: %v", amount, currency, start, term, anchor, iv, err)
							}
							schedules++
						}
					}
				}
			}
		}
	}
	t.Logf("%s: %d schedules", currency, schedules)
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// FuzzSchedule: Schedule never panics, refuses with ErrInvalidSchedule or
// ErrTooManyPeriods, and what it accepts passes checkSchedule. The inputs
// are folded into ranges that are mostly, not always, valid.
func FuzzSchedule(f *testing.F) {
	f.Add(uint8(31), uint16(0), uint8(1), uint8(31), uint16(12), uint8(0), uint32(123457), false, int16(0), uint32(0), int8(0), false)
	f.Add(uint8(29), uint16(1), uint8(2), uint8(29), uint16(60), uint8(2), uint32(120000), false, int16(400), uint32(99), int8(0), false)
	f.Add(uint8(1), uint16(0), uint8(1), uint8(10), uint16(3), uint8(0), uint32(10000), true, int16(69), uint32(15000), int8(-3), false)
	f.Add(uint8(15), uint16(3), uint8(11), uint8(30), uint16(40), uint8(1), uint32(1), true, int16(-5), uint32(7), int8(5), true)
	f.Add(uint8(0), uint16(0), uint8(0), uint8(0), uint16(0), uint8(3), uint32(0), false, int16(0), uint32(0), int8(0), false)
	f.Fuzz(func(t *testing.T, anchor uint8, year uint16, month, dayOfMonth uint8, term uint16, interval uint8,
		amount uint32, yen bool, amendAfter int16, amount2 uint32, endShift int8, evergreen bool) {
		start := Date{1900 + int(year%600), int(month % 13), int(dayOfMonth % 32)}
		in := ScheduleInput{
			Currency:  "EUR",
			Start:     start,
			AnchorDay: int(anchor) % 33,
			Interval:  []BillingInterval{IntervalMonthly, IntervalQuarterly, IntervalYearly, "WEEKLY"}[interval%4],
			Rates:     []Rate{{start, big.NewRat(int64(amount), 100)}},
		}
		if yen {
			in.Currency = "JPY"
			in.Rates[0].Amount = big.NewRat(int64(amount), 1)
		}
		if start.Valid() {
			end := TermEnd(start, int(term)%150).AddDays(int(endShift))
			if evergreen {
				in.Horizon = end
			} else {
				in.End = end
			}
			// An amendment amendAfter days after the start; when that is
			// before the start, an older rate the start's supersedes.
			if amendAfter != 0 {
				scale := int64(100)
				if yen {
					scale = 1
				}
				in.Rates = append(in.Rates, Rate{start.AddDays(int(amendAfter)), big.NewRat(int64(amount2), scale)})
				if amendAfter < 0 {
					in.Rates[0], in.Rates[1] = in.Rates[1], in.Rates[0]
				}
			}
		}
		ps, err := Schedule(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchedule) && !errors.Is(err, ErrTooManyPeriods) {
				t.Fatalf("%+v: %v", in, err)
			}
			return
		}
		if err := checkSchedule(in, ps); err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
	})
}
