package domain

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	moneypb "google.golang.org/genproto/googleapis/type/money"

	"github.com/crmsuite/crm/platform/money"
)

// BillingInterval is how often a contract bills.
type BillingInterval string

const (
	IntervalMonthly   BillingInterval = "MONTHLY"
	IntervalQuarterly BillingInterval = "QUARTERLY"
	IntervalYearly    BillingInterval = "YEARLY"
)

// Months is the interval's length in months: 1, 3 or 12; 0 for an unknown
// interval.
func (i BillingInterval) Months() int {
	switch i {
	case IntervalMonthly:
		return 1
	case IntervalQuarterly:
		return 3
	case IntervalYearly:
		return 12
	}
	return 0
}

// Valid reports a known interval.
func (i BillingInterval) Valid() bool { return i.Months() > 0 }

// PeriodsPerYear is how many full billing periods make a year: 12, 4 or 1;
// 0 for an unknown interval.
func PeriodsPerYear(i BillingInterval) int {
	if !i.Valid() {
		return 0
	}
	return 12 / i.Months()
}

// MonthlyAmount is a full period's amount spread over its months, exactly
// (periodAmount / Months), as monthly recurring revenue; nil for an unknown
// interval.
func MonthlyAmount(periodAmount *big.Rat, i BillingInterval) *big.Rat {
	if !i.Valid() {
		return nil
	}
	return new(big.Rat).Quo(periodAmount, big.NewRat(int64(i.Months()), 1))
}

// TermEnd is the exclusive end of a term of months months from start: the
// same day months later, clamped to the month's end (2027-01-31 + 1 month
// ends 2027-02-28; 2028-02-29 + 12 months ends 2029-02-28).
func TermEnd(start Date, months int) Date {
	return AddMonthsClamped(start, months, start.Day)
}

// BillingBoundary is the n-th billing boundary of a schedule that starts on
// start and bills on anchorDay every interval, computed from the anchor and
// never from the previous boundary: the day min(anchorDay, month's last) of
// the month n x interval after start's month. n may be negative; boundary 0
// is in start's month. A 31st anchor bills on Jan 31, Feb 28 (29), Mar 31,
// Apr 30, ...
func BillingBoundary(start Date, anchorDay int, interval BillingInterval, n int) Date {
	return AddMonthsClamped(Date{start.Year, start.Month, 1}, n*interval.Months(), anchorDay)
}

// Rate is the amount billed for a full billing period from From on, until
// the next rate's From. Amount is exact and a whole number of the
// currency's minor units (a sum of rounded lines).
type Rate struct {
	From   Date
	Amount *big.Rat
}

// ScheduleInput describes a contract's billing.
type ScheduleInput struct {
	Currency string
	Start    Date
	// End is the exclusive end of the term; zero for an evergreen contract.
	End Date
	// Horizon bounds an evergreen schedule: the periods that start before
	// it are listed. Ignored when End is set.
	Horizon   Date
	AnchorDay int
	Interval  BillingInterval
	// Rates in increasing order of From; the first From is on or before
	// Start.
	Rates []Rate
}

// Period is one billed stretch [Start, End) of a schedule: its nominal
// billing period [NominalStart, NominalEnd), or a part of it cut off by the
// term's start or end or by a rate change.
type Period struct {
	// Number counts the periods from 1.
	Number                   int
	Start, End               Date
	NominalStart, NominalEnd Date
	// Days is End - Start, NominalDays NominalEnd - NominalStart.
	Days, NominalDays int
	Amount            *moneypb.Money
	// Prorated: the period is a part of its nominal period.
	Prorated bool
}

// MaxPeriods bounds a schedule's length (100 years billed monthly).
const MaxPeriods = 1200

var (
	// ErrInvalidSchedule is wrapped by every refusal of a ScheduleInput.
	ErrInvalidSchedule = errors.New("invalid billing schedule")
	// ErrTooManyPeriods is wrapped when a schedule would have more than
	// MaxPeriods periods.
	ErrTooManyPeriods = errors.New("billing schedule too long")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSchedule, fmt.Sprintf(format, args...))
}

// Schedule lists the billing periods of in: the timeline [Start, End) (or
// [Start, ...) up to the last period starting before Horizon for an
// evergreen contract) cut at every billing boundary (BillingBoundary, from
// the anchor) and at every rate change that falls strictly inside a nominal
// billing period. Each piece is a Period, billed at the rate in effect on
// its first day.
//
// Nominal periods are [B(n), B(n+1)) for the boundaries B(n) of
// BillingBoundary. The one containing Start is [B(0), B(1)) when B(0) <=
// Start, else [B(-1), B(0)): B(0) is in Start's month and B(1) and B(-1)
// are in later and earlier months.
//
// Proration is exact. Within a nominal period of N days at a full-period
// rate F, the cumulative amount at day offset x (0 to N) from the nominal
// start is
//
//	C_F(x) = money.Round(currency, F x x / N)
//
// (half away from zero to the currency's minor unit), and a piece [a, b)
// (as offsets) billed at F bills C_F(b) - C_F(a). So a full period bills
// exactly F, every amount is a whole number of minor units between 0 and
// F, and the pieces of a nominal period at one rate add up exactly to what
// the whole would bill (C_F(N) = F when it is fully covered); with a rate
// change at offset x the period bills C_old(x) + F_new - C_new(x).
//
// Refusals wrap ErrInvalidSchedule (bad anchor day, interval, currency,
// dates, rates) or ErrTooManyPeriods (more than MaxPeriods periods).
func Schedule(in ScheduleInput) ([]Period, error) {
	unit, fs, err := in.check()
	if err != nil {
		return nil, err
	}
	evergreen := in.End.IsZero()
	boundary := func(n int) Date { return BillingBoundary(in.Start, in.AnchorDay, in.Interval, n) }
	// n: the nominal period [B(n), B(n+1)) that holds Start. One step at
	// most, but searched rather than assumed.
	n := 0
	for boundary(n).After(in.Start) {
		n--
	}
	for !boundary(n + 1).After(in.Start) {
		n++
	}
	more := func(d Date) bool {
		if evergreen {
			return d.Before(in.Horizon)
		}
		return d.Before(in.End)
	}

	last := in.End
	if evergreen {
		last = in.Horizon
	}
	// About one period per interval, plus the cut ends and rate changes.
	guess := (last.Year*12+last.Month-in.Start.Year*12-in.Start.Month)/in.Interval.Months() + len(in.Rates) + 2
	out := make([]Period, 0, min(guess, MaxPeriods))
	ri := 0 // the rate in effect on cur
	cur := in.Start
	for more(cur) {
		nomStart, nomEnd := boundary(n), boundary(n+1)
		nomDays := nomStart.DaysUntil(nomEnd)
		for more(cur) && cur.Before(nomEnd) {
			for ri+1 < len(in.Rates) && !in.Rates[ri+1].From.After(cur) {
				ri++
			}
			end := nomEnd
			if !evergreen && in.End.Before(end) {
				end = in.End
			}
			if ri+1 < len(in.Rates) && in.Rates[ri+1].From.Before(end) {
				end = in.Rates[ri+1].From
			}
			if len(out) == MaxPeriods {
				return nil, fmt.Errorf("%w: more than %d periods", ErrTooManyPeriods, MaxPeriods)
			}
			a, b := nomStart.DaysUntil(cur), nomStart.DaysUntil(end)
			cb, err := unit.cumulative(fs[ri], b, nomDays)
			if err != nil {
				return nil, err
			}
			ca, err := unit.cumulative(fs[ri], a, nomDays)
			if err != nil {
				return nil, err
			}
			out = append(out, Period{
				Number: len(out) + 1,
				Start:  cur, End: end,
				NominalStart: nomStart, NominalEnd: nomEnd,
				Days: b - a, NominalDays: nomDays,
				Amount:   unit.money(cb - ca),
				Prorated: a != 0 || b != nomDays,
			})
			cur = end
		}
		n++
	}
	return out, nil
}

// check validates in and returns its currency's minor unit and its rates
// in minor units.
func (in *ScheduleInput) check() (minorUnit, []int64, error) {
	var unit minorUnit
	switch {
	case in.AnchorDay < 1 || in.AnchorDay > 31:
		return unit, nil, invalid("anchor day %d is not from 1 to 31", in.AnchorDay)
	case !in.Interval.Valid():
		return unit, nil, invalid("billing interval %q is not MONTHLY, QUARTERLY or YEARLY", in.Interval)
	case money.MinorUnits(in.Currency) < 0:
		return unit, nil, invalid("%q is not an ISO 4217 currency code", in.Currency)
	case !in.Start.Valid():
		return unit, nil, invalid("start %s is not a calendar date", in.Start)
	}
	if in.End.IsZero() {
		switch {
		case in.Horizon.IsZero():
			return unit, nil, invalid("an evergreen schedule (no end) needs a horizon")
		case !in.Horizon.Valid():
			return unit, nil, invalid("horizon %s is not a calendar date", in.Horizon)
		case !in.Horizon.After(in.Start):
			return unit, nil, invalid("horizon %s is not after the start %s", in.Horizon, in.Start)
		}
	} else {
		switch {
		case !in.End.Valid():
			return unit, nil, invalid("end %s is not a calendar date", in.End)
		case !in.End.After(in.Start):
			return unit, nil, invalid("end %s is not after the start %s", in.End, in.Start)
		}
	}
	if len(in.Rates) == 0 {
		return unit, nil, invalid("no rate")
	}
	if in.Rates[0].From.After(in.Start) {
		return unit, nil, invalid("the first rate starts on %s, after the start %s", in.Rates[0].From, in.Start)
	}
	unit = minorUnit{in.Currency, 1}
	for range money.MinorUnits(in.Currency) {
		unit.perUnit *= 10
	}
	fs := make([]int64, len(in.Rates))
	for i, r := range in.Rates {
		switch {
		case !r.From.Valid():
			return unit, nil, invalid("rate %d: %s is not a calendar date", i, r.From)
		case i > 0 && !r.From.After(in.Rates[i-1].From):
			return unit, nil, invalid("rate %d: %s is not after the previous rate's %s", i, r.From, in.Rates[i-1].From)
		case r.Amount == nil:
			return unit, nil, invalid("rate %d has no amount", i)
		case r.Amount.Sign() < 0:
			return unit, nil, invalid("rate %d: %s is negative", i, r.Amount.RatString())
		}
		f := new(big.Rat).Mul(r.Amount, big.NewRat(unit.perUnit, 1))
		switch {
		case !f.IsInt():
			return unit, nil, invalid("rate %d: %s is not a whole number of %s minor units", i, r.Amount.RatString(), in.Currency)
		case f.Num().Cmp(big.NewInt(maxMinor)) > 0:
			return unit, nil, invalid("rate %d: %s is out of range", i, r.Amount.RatString())
		}
		fs[i] = f.Num().Int64()
	}
	return unit, fs, nil
}

// maxMinor bounds a rate in minor units (about 2.3e16: 230 trillion
// euros), so that F x x fits an int64 for any day offset x of a year.
const maxMinor = math.MaxInt64 / 400

// minorUnit is a currency's minor unit, perUnit of them a unit.
type minorUnit struct {
	code    string
	perUnit int64
}

// cumulative is C_F(x) = money.Round(F x x / n) in minor units, for F = f
// minor units and 0 <= x <= n. C_F(0) = 0 and C_F(n) = F need no
// rounding.
func (u minorUnit) cumulative(f int64, x, n int) (int64, error) {
	switch x {
	case 0:
		return 0, nil
	case n:
		return f, nil
	}
	m, err := money.Round(u.code, big.NewRat(f*int64(x), int64(n)*u.perUnit))
	if err != nil {
		return 0, err
	}
	return m.GetUnits()*u.perUnit + int64(m.GetNanos())/(1_000_000_000/u.perUnit), nil
}

// money is m minor units as Money.
func (u minorUnit) money(m int64) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: u.code, Units: m / u.perUnit, Nanos: int32(m % u.perUnit * (1_000_000_000 / u.perUnit))}
}
