package domain

import (
	"fmt"
	"math/big"

	moneypb "google.golang.org/genproto/googleapis/type/money"
)

// The checker of a schedule's invariants, shared by the property test and
// the fuzz target. It recomputes boundaries, day counts and prorated
// amounts by itself (integer arithmetic on minor units), not with the code
// under test.

// testScale is the minor unit of the currencies the tests use.
var testScale = map[string]int{"EUR": 2, "JPY": 0, "BHD": 3}

// refBoundary is the n-th billing boundary straight from the anchor: the
// day min(anchor, last day) of the month n x months after start's.
func refBoundary(start Date, anchor, months, n int) Date {
	idx := start.Year*12 + start.Month - 1 + n*months
	y, m := idx/12, idx%12+1
	return Date{y, m, min(anchor, lastDay(y, m))}
}

// lastDay is the number of days of month m in year y, by the Gregorian
// rule (not with package time, which the code under test uses).
func lastDay(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ordinal is d's day number (days from civil, H. Hinnant's algorithm).
func ordinal(d Date) int {
	y := d.Year
	if d.Month <= 2 {
		y--
	}
	era := y / 400 // years > 0 here
	yoe := y - era*400
	mp := (d.Month + 9) % 12
	doy := (153*mp+2)/5 + d.Day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe
}

func refDays(a, b Date) int { return ordinal(b) - ordinal(a) }

func less(a, b Date) bool {
	return a.Year < b.Year || a.Year == b.Year && (a.Month < b.Month || a.Month == b.Month && a.Day < b.Day)
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// minorOf is r in minor units of a currency with scale decimals, if whole
// (and small).
func minorOf(r *big.Rat, scale int) (int64, bool) {
	num, den := r.Num(), r.Denom()
	if !num.IsInt64() || !den.IsInt64() || num.Int64() > 1<<40 {
		return 0, false
	}
	x := num.Int64() * pow10(scale)
	if x%den.Int64() != 0 {
		return 0, false
	}
	return x / den.Int64(), true
}

// moneyMinor is m in minor units, if whole.
func moneyMinor(m *moneypb.Money, scale int) (int64, bool) {
	per := 1_000_000_000 / pow10(scale)
	if m.GetNanos()%int32(per) != 0 {
		return 0, false
	}
	return m.GetUnits()*pow10(scale) + int64(m.GetNanos())/per, true
}

// refC is round(f x x / n) half away from zero, for f >= 0.
func refC(f int64, x, n int) int64 {
	return (2*f*int64(x) + int64(n)) / (2 * int64(n))
}

// rateAt is the full-period rate in effect on d, in minor units (fs are
// the rates' amounts).
func rateAt(rates []Rate, fs []int64, d Date) (int64, error) {
	i := -1
	for j, r := range rates {
		if !less(d, r.From) {
			i = j
		}
	}
	if i < 0 {
		return 0, fmt.Errorf("no rate on %v", d)
	}
	return fs[i], nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// checkSchedule returns the first broken invariant of ps, the schedule of
// in (which Schedule accepted).
func checkSchedule(in ScheduleInput, ps []Period) error {
	scale, ok := testScale[in.Currency]
	if !ok {
		return fmt.Errorf("no test scale for %s", in.Currency)
	}
	months := map[BillingInterval]int{IntervalMonthly: 1, IntervalQuarterly: 3, IntervalYearly: 12}[in.Interval]
	evergreen := in.End.IsZero()
	if len(ps) == 0 {
		return fmt.Errorf("no periods")
	}
	last := ps[len(ps)-1]
	switch {
	case ps[0].Start != in.Start:
		return fmt.Errorf("first period starts %v, not on the start %v", ps[0].Start, in.Start)
	case !evergreen && last.End != in.End:
		return fmt.Errorf("last period ends %v, not on the end %v", last.End, in.End)
	case evergreen && (!less(last.Start, in.Horizon) || less(last.End, in.Horizon)):
		return fmt.Errorf("evergreen: last period %v..%v does not span the horizon %v", last.Start, last.End, in.Horizon)
	}
	// The nominal period holding the start: B(0) if it is on or before the
	// start, else B(-1).
	n := 0
	if less(in.Start, refBoundary(in.Start, in.AnchorDay, months, 0)) {
		n = -1
	}
	fs := make([]int64, len(in.Rates))
	for i, r := range in.Rates {
		f, ok := minorOf(r.Amount, scale)
		if !ok {
			return fmt.Errorf("rate %s unusable by the checker", r.Amount.RatString())
		}
		fs[i] = f
	}
	singleRate := true
	// diff is the sum of amounts less the exact proration, in minor units
	// (only prorated periods add to it).
	diff := new(big.Rat)
	for i := 0; i < len(ps); n++ {
		nomS := refBoundary(in.Start, in.AnchorDay, months, n)
		nomE := refBoundary(in.Start, in.AnchorDay, months, n+1)
		nDays := refDays(nomS, nomE)
		if nomS.Day != min(in.AnchorDay, lastDay(nomS.Year, nomS.Month)) {
			return fmt.Errorf("boundary %v is not on the anchor day %d", nomS, in.AnchorDay)
		}
		j := i
		for j < len(ps) && ps[j].NominalStart == nomS {
			j++
		}
		if j == i {
			return fmt.Errorf("period %d: nominal %v..%v, want B(%d) = %v..%v", i+1, ps[i].NominalStart, ps[i].NominalEnd, n, nomS, nomE)
		}
		var groupSum int64
		groupF, oneRate := int64(-1), true
		var firstA, lastB int
		for k := i; k < j; k++ {
			p := ps[k]
			switch {
			case p.Number != k+1:
				return fmt.Errorf("period %d is numbered %d", k+1, p.Number)
			case p.NominalEnd != nomE || p.NominalDays != nDays:
				return fmt.Errorf("period %d: nominal end %v (%d days), want %v (%d)", k+1, p.NominalEnd, p.NominalDays, nomE, nDays)
			case !less(p.Start, p.End):
				return fmt.Errorf("period %d: %v..%v is empty", k+1, p.Start, p.End)
			case k > 0 && p.Start != ps[k-1].End:
				return fmt.Errorf("period %d starts %v, the previous ended %v", k+1, p.Start, ps[k-1].End)
			case less(p.Start, nomS) || less(nomE, p.End):
				return fmt.Errorf("period %d: %v..%v outside its nominal %v..%v", k+1, p.Start, p.End, nomS, nomE)
			case p.Days != refDays(p.Start, p.End):
				return fmt.Errorf("period %d: %d days, want %d", k+1, p.Days, refDays(p.Start, p.End))
			case p.Prorated != (p.Start != nomS || p.End != nomE):
				return fmt.Errorf("period %d: prorated %v", k+1, p.Prorated)
			case p.Amount.GetCurrencyCode() != in.Currency:
				return fmt.Errorf("period %d: currency %q", k+1, p.Amount.GetCurrencyCode())
			}
			// Cut only at the nominal end, the term's end or a rate change;
			// no rate change inside a period.
			if p.End != nomE && p.End != in.End && !isRateChange(in.Rates, p.End) {
				return fmt.Errorf("period %d ends %v, neither a boundary nor a rate change", k+1, p.End)
			}
			for _, r := range in.Rates {
				if less(p.Start, r.From) && less(r.From, p.End) {
					return fmt.Errorf("period %d: %v..%v spans the rate change %v", k+1, p.Start, p.End, r.From)
				}
			}
			f, err := rateAt(in.Rates, fs, p.Start)
			if err != nil {
				return err
			}
			if groupF >= 0 && f != groupF {
				oneRate = false
			}
			groupF = f
			amt, ok := moneyMinor(p.Amount, scale)
			if !ok {
				return fmt.Errorf("period %d: %v is not whole minor units", k+1, p.Amount)
			}
			a, b := refDays(nomS, p.Start), refDays(nomS, p.End)
			if k == i {
				firstA = a
			}
			lastB = b
			switch {
			case amt < 0 || amt > f:
				return fmt.Errorf("period %d: %d not within 0..%d", k+1, amt, f)
			case !p.Prorated && amt != f:
				return fmt.Errorf("period %d: full period bills %d, not %d", k+1, amt, f)
			case amt != refC(f, b, nDays)-refC(f, a, nDays):
				return fmt.Errorf("period %d: %d, want C(%d)-C(%d) = %d of %d over %d days", k+1, amt, b, a, refC(f, b, nDays)-refC(f, a, nDays), f, nDays)
			}
			// Each end inside the nominal period is rounded by at most half a
			// minor unit: 2|amt N - f (b-a)| <= ends x N.
			ends := int64(0)
			if a != 0 {
				ends++
			}
			if b != nDays {
				ends++
			}
			if 2*abs64(amt*int64(nDays)-f*int64(b-a)) > ends*int64(nDays) {
				return fmt.Errorf("period %d: %d is too far from %d x %d/%d", k+1, amt, f, b-a, nDays)
			}
			groupSum += amt
			if p.Prorated {
				diff.Add(diff, big.NewRat(amt*int64(nDays)-f*int64(b-a), int64(nDays)))
			}
		}
		if f := groupF; oneRate {
			if want := refC(f, lastB, nDays) - refC(f, firstA, nDays); groupSum != want {
				return fmt.Errorf("nominal %v..%v: pieces add to %d, not C(%d)-C(%d) = %d", nomS, nomE, groupSum, lastB, firstA, want)
			}
			if firstA == 0 && lastB == nDays && groupSum != f {
				return fmt.Errorf("nominal %v..%v fully covered bills %d, not %d", nomS, nomE, groupSum, f)
			}
		} else {
			singleRate = false
		}
		i = j
	}
	// With one rate per nominal period the pieces of each add up to
	// C(last end) - C(first start), and only the schedule's own two ends
	// can be inside a nominal period: the total is within half a minor unit
	// per such end of the exact proration. (The per-piece bound above
	// covers rate changes.)
	if singleRate {
		ends := int64(0)
		if ps[0].Start != ps[0].NominalStart {
			ends++
		}
		if last.End != last.NominalEnd {
			ends++
		}
		if new(big.Rat).Abs(diff).Cmp(big.NewRat(ends, 2)) > 0 {
			return fmt.Errorf("the total is %s minor units from the exact proration", diff.FloatString(3))
		}
	}
	return nil
}

func isRateChange(rates []Rate, d Date) bool {
	for _, r := range rates[1:] {
		if r.From == d {
			return true
		}
	}
	return false
}
