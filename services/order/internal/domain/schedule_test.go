package domain

import (
	"errors"
	"math/big"
	"testing"

	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func eur(units int64, cents int32) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: "EUR", Units: units, Nanos: cents * 10_000_000}
}

// want is a period as the examples state it.
type want struct {
	start, end string
	amount     *moneypb.Money
	prorated   bool
}

func schedule(t *testing.T, in ScheduleInput) []Period {
	t.Helper()
	ps, err := Schedule(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSchedule(in, ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

func expect(t *testing.T, ps []Period, ws []want) {
	t.Helper()
	if len(ps) != len(ws) {
		for _, p := range ps {
			t.Logf("%v..%v %v", p.Start, p.End, p.Amount)
		}
		t.Fatalf("%d periods, want %d", len(ps), len(ws))
	}
	for i, w := range ws {
		p := ps[i]
		if p.Start.String() != w.start || p.End.String() != w.end || !proto.Equal(p.Amount, w.amount) || p.Prorated != w.prorated {
			t.Errorf("period %d: %v..%v %v prorated %v; want %s..%s %v prorated %v", i+1, p.Start, p.End, p.Amount, p.Prorated, w.start, w.end, w.amount, w.prorated)
		}
	}
}

// A 31st anchor bills on each month's last day when shorter, and comes
// back to the 31st: Mar 31, not Mar 28 (the previous boundary + 1 month).
func TestScheduleAnchor31(t *testing.T) {
	start := day("2027-01-31")
	f := eur(1234, 57)
	ps := schedule(t, ScheduleInput{
		Currency: "EUR", Start: start, End: TermEnd(start, 12),
		AnchorDay: 31, Interval: IntervalMonthly,
		Rates: []Rate{{start, rat("1234.57")}},
	})
	bounds := []string{"2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30",
		"2027-07-31", "2027-08-31", "2027-09-30", "2027-10-31", "2027-11-30", "2027-12-31", "2028-01-31"}
	var ws []want
	for i := range 12 {
		ws = append(ws, want{bounds[i], bounds[i+1], f, false})
	}
	expect(t, ps, ws)
	for i := -13; i <= 13; i++ {
		if b, w := BillingBoundary(start, 31, IntervalMonthly, i), refBoundary(start, 31, 1, i); b != w {
			t.Errorf("BillingBoundary(%d) = %v, want %v", i, b, w)
		}
	}
	if b := BillingBoundary(day("2027-03-15"), 31, IntervalQuarterly, -1); b != day("2026-12-31") {
		t.Errorf("quarterly B(-1) = %v", b)
	}
}

// A yearly schedule started on Feb 29 keeps its 29th anchor: Feb 28 in
// common years, Feb 29 again in 2032.
func TestScheduleLeapDayYearly(t *testing.T) {
	start := day("2028-02-29")
	end := TermEnd(start, 60)
	if end != day("2033-02-28") {
		t.Fatal(end)
	}
	f := eur(1200, 0)
	ps := schedule(t, ScheduleInput{
		Currency: "EUR", Start: start, End: end,
		AnchorDay: 29, Interval: IntervalYearly,
		Rates: []Rate{{start, rat("1200")}},
	})
	expect(t, ps, []want{
		{"2028-02-29", "2029-02-28", f, false},
		{"2029-02-28", "2030-02-28", f, false},
		{"2030-02-28", "2031-02-28", f, false},
		{"2031-02-28", "2032-02-29", f, false},
		{"2032-02-29", "2033-02-28", f, false},
	})
	for i, nd := range []int{365, 365, 365, 366, 365} {
		if ps[i].NominalDays != nd || ps[i].Days != nd {
			t.Errorf("period %d: %d/%d days, want %d", i+1, ps[i].Days, ps[i].NominalDays, nd)
		}
	}
}

// A start between anchors is prorated against the nominal period that
// holds it, and so is an end between anchors.
func TestScheduleProratedEnds(t *testing.T) {
	start := day("2027-01-10")
	ps := schedule(t, ScheduleInput{
		Currency: "EUR", Start: start, End: TermEnd(start, 3),
		AnchorDay: 1, Interval: IntervalMonthly,
		Rates: []Rate{{start, rat("100")}},
	})
	// January's nominal period is Jan 1..Feb 1, N = 31; Jan 10 is offset 9,
	// Feb 1 offset 31: C(31) - C(9) = 100.00 - round(100 x 9/31 =
	// 29.0322...) = 100.00 - 29.03 = 70.97 (22 days).
	// April's nominal period is Apr 1..May 1, N = 30; the term ends Apr 10,
	// offset 9: C(9) - C(0) = round(100 x 9/30 = 30.00) = 30.00.
	expect(t, ps, []want{
		{"2027-01-10", "2027-02-01", eur(70, 97), true},
		{"2027-02-01", "2027-03-01", eur(100, 0), false},
		{"2027-03-01", "2027-04-01", eur(100, 0), false},
		{"2027-04-01", "2027-04-10", eur(30, 0), true},
	})
	if p := ps[0]; p.Days != 22 || p.NominalDays != 31 || p.NominalStart != day("2027-01-01") || p.Number != 1 {
		t.Errorf("first period %+v", p)
	}

	// The start before the anchor day: the nominal period is the previous
	// month's (B(-1)..B(0) = Dec 20..Jan 20, N = 31; Jan 10 is offset 21):
	// C(31) - C(21) = 100.00 - round(67.7419...) = 100.00 - 67.74 = 32.26.
	ps = schedule(t, ScheduleInput{
		Currency: "EUR", Start: start, End: day("2027-02-20"),
		AnchorDay: 20, Interval: IntervalMonthly,
		Rates: []Rate{{start, rat("100")}},
	})
	expect(t, ps, []want{
		{"2027-01-10", "2027-01-20", eur(32, 26), true},
		{"2027-01-20", "2027-02-20", eur(100, 0), false},
	})
	if ps[0].NominalStart != day("2026-12-20") {
		t.Errorf("nominal start %v", ps[0].NominalStart)
	}
}

// One piece prorated at both ends is rounded at both: with 1 JPY a
// period, Jan 11..Jan 21 of a Jan 1..Feb 1 period bills C(20) - C(10) =
// round(20/31 = 0.645) - round(10/31 = 0.323) = 1 - 0 = 1 JPY, 0.68 JPY
// from the exact 10/31. So the error bound is half a minor unit per end
// inside a nominal period, not per prorated piece.
func TestScheduleProratedBothEnds(t *testing.T) {
	ps := schedule(t, ScheduleInput{
		Currency: "JPY", Start: day("2027-01-11"), End: day("2027-01-21"),
		AnchorDay: 1, Interval: IntervalMonthly,
		Rates: []Rate{{day("2027-01-01"), rat("1")}},
	})
	expect(t, ps, []want{{"2027-01-11", "2027-01-21", &moneypb.Money{CurrencyCode: "JPY", Units: 1}, true}})
}

// An amendment from inside a period splits it; what was billed before
// does not change.
func TestScheduleAmendment(t *testing.T) {
	start, end := day("2027-01-01"), day("2027-07-01")
	amend := day("2027-03-11")
	base := ScheduleInput{
		Currency: "EUR", Start: start, End: end,
		AnchorDay: 1, Interval: IntervalMonthly,
		Rates: []Rate{{start, rat("100")}},
	}
	amended := base
	amended.Rates = []Rate{{start, rat("100")}, {amend, rat("150")}}
	before := schedule(t, base)
	after := schedule(t, amended)
	// March (N = 31) is cut at offset 10: [Mar 1, Mar 11) at 100.00 bills
	// C_100(10) = round(1000/31 = 32.258...) = 32.26, [Mar 11, Apr 1) at
	// 150.00 bills 150.00 - C_150(10) = 150.00 - round(48.387...) = 101.61;
	// March bills C_old(10) + F_new - C_new(10) = 133.87.
	expect(t, after, []want{
		{"2027-01-01", "2027-02-01", eur(100, 0), false},
		{"2027-02-01", "2027-03-01", eur(100, 0), false},
		{"2027-03-01", "2027-03-11", eur(32, 26), true},
		{"2027-03-11", "2027-04-01", eur(101, 61), true},
		{"2027-04-01", "2027-05-01", eur(150, 0), false},
		{"2027-05-01", "2027-06-01", eur(150, 0), false},
		{"2027-06-01", "2027-07-01", eur(150, 0), false},
	})
	if after[2].NominalStart != after[3].NominalStart || after[3].NominalEnd != day("2027-04-01") || after[3].Number != 4 {
		t.Errorf("March pieces %+v %+v", after[2], after[3])
	}
	// Every period of the unamended schedule that ends on or before the
	// amendment is in the amended one unchanged.
	kept := 0
	for i, p := range before {
		if p.End.After(amend) {
			continue
		}
		kept++
		if q := after[i]; q.Start != p.Start || q.End != p.End || !proto.Equal(q.Amount, p.Amount) || q.Number != p.Number || q.Prorated != p.Prorated {
			t.Errorf("period %d changed: %+v, was %+v", i+1, q, p)
		}
	}
	if kept != 2 {
		t.Errorf("%d periods before the amendment", kept)
	}

	// A change on a boundary cuts nothing.
	onBoundary := base
	onBoundary.Rates = []Rate{{start, rat("100")}, {day("2027-04-01"), rat("150")}}
	ps := schedule(t, onBoundary)
	if len(ps) != 6 || !proto.Equal(ps[2].Amount, eur(100, 0)) || !proto.Equal(ps[3].Amount, eur(150, 0)) {
		t.Errorf("boundary change: %d periods, %v %v", len(ps), ps[2].Amount, ps[3].Amount)
	}

	// Rates before the start: the last one in effect applies; a change in
	// a prorated first period cuts it again.
	early := base
	early.Start = day("2027-01-10")
	early.Rates = []Rate{{day("2026-01-01"), rat("80")}, {day("2026-06-01"), rat("100")}, {day("2027-01-20"), rat("150")}}
	// Jan (N = 31): [Jan 10, Jan 20) = offsets 9..19 at 100.00:
	// round(61.290...) - round(29.032...) = 61.29 - 29.03 = 32.26;
	// [Jan 20, Feb 1) = 19..31 at 150.00: 150.00 - round(91.935...) = 58.06.
	expect(t, schedule(t, early)[:3], []want{
		{"2027-01-10", "2027-01-20", eur(32, 26), true},
		{"2027-01-20", "2027-02-01", eur(58, 6), true},
		{"2027-02-01", "2027-03-01", eur(150, 0), false},
	})
}

func TestScheduleEvergreen(t *testing.T) {
	start := day("2027-01-15")
	in := ScheduleInput{
		Currency: "EUR", Start: start, Horizon: day("2027-04-01"),
		AnchorDay: 1, Interval: IntervalMonthly,
		Rates: []Rate{{start, rat("100")}},
	}
	if ps := schedule(t, in); len(ps) != 3 || ps[2].End != day("2027-04-01") {
		t.Errorf("%d periods to %v", len(ps), ps[len(ps)-1].End)
	}
	in.Horizon = day("2027-04-02")
	if ps := schedule(t, in); len(ps) != 4 || ps[3].End != day("2027-05-01") {
		t.Errorf("%d periods to %v", len(ps), ps[len(ps)-1].End)
	}
	// 100 years monthly is the most; a fixed term as long is fine.
	in.Horizon = TermEnd(start, 1199)
	if ps := schedule(t, in); len(ps) != MaxPeriods {
		t.Errorf("%d periods", len(ps))
	}
	in.Horizon = in.Horizon.AddDays(20)
	if _, err := Schedule(in); !errors.Is(err, ErrTooManyPeriods) {
		t.Errorf("1201 periods: %v", err)
	}
	in.Horizon = day("9999-12-31")
	if _, err := Schedule(in); !errors.Is(err, ErrTooManyPeriods) {
		t.Errorf("8,000 years: %v", err)
	}
	fixed := in
	fixed.Horizon, fixed.Start, fixed.End = Date{}, day("2027-01-01"), day("2127-01-01")
	fixed.Rates = []Rate{{fixed.Start, rat("100")}}
	if ps := schedule(t, fixed); len(ps) != MaxPeriods {
		t.Errorf("%d periods", len(ps))
	}
}

func TestScheduleRefusals(t *testing.T) {
	start := day("2027-01-01")
	ok := ScheduleInput{
		Currency: "EUR", Start: start, End: day("2028-01-01"),
		AnchorDay: 1, Interval: IntervalMonthly,
		Rates: []Rate{{start, rat("100")}},
	}
	if _, err := Schedule(ok); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*ScheduleInput){
		"anchor 0":              func(in *ScheduleInput) { in.AnchorDay = 0 },
		"anchor 32":             func(in *ScheduleInput) { in.AnchorDay = 32 },
		"interval":              func(in *ScheduleInput) { in.Interval = "WEEKLY" },
		"no interval":           func(in *ScheduleInput) { in.Interval = "" },
		"currency":              func(in *ScheduleInput) { in.Currency = "XYZ" },
		"no currency":           func(in *ScheduleInput) { in.Currency = "" },
		"no start":              func(in *ScheduleInput) { in.Start = Date{} },
		"bad start":             func(in *ScheduleInput) { in.Start = Date{2027, 2, 30} },
		"end = start":           func(in *ScheduleInput) { in.End = start },
		"end before start":      func(in *ScheduleInput) { in.End = day("2026-12-31") },
		"bad end":               func(in *ScheduleInput) { in.End = Date{2027, 13, 1} },
		"evergreen, no horizon": func(in *ScheduleInput) { in.End = Date{} },
		"horizon = start":       func(in *ScheduleInput) { in.End, in.Horizon = Date{}, start },
		"bad horizon":           func(in *ScheduleInput) { in.End, in.Horizon = Date{}, Date{2027, 4, 31} },
		"no rates":              func(in *ScheduleInput) { in.Rates = nil },
		"first rate late":       func(in *ScheduleInput) { in.Rates = []Rate{{day("2027-01-02"), rat("1")}} },
		"rates unsorted": func(in *ScheduleInput) {
			in.Rates = append(in.Rates, Rate{day("2027-03-01"), rat("1")}, Rate{day("2027-02-01"), rat("1")})
		},
		"rates on the same date": func(in *ScheduleInput) { in.Rates = append(in.Rates, Rate{start, rat("1")}) },
		"bad rate date":          func(in *ScheduleInput) { in.Rates = append(in.Rates, Rate{Date{2027, 2, 29}, rat("1")}) },
		"nil amount":             func(in *ScheduleInput) { in.Rates = []Rate{{start, nil}} },
		"negative amount":        func(in *ScheduleInput) { in.Rates = []Rate{{start, rat("-0.01")}} },
		"fraction of a cent":     func(in *ScheduleInput) { in.Rates = []Rate{{start, rat("10.005")}} },
		"fraction of a yen":      func(in *ScheduleInput) { in.Currency, in.Rates = "JPY", []Rate{{start, rat("10.5")}} },
		"out of range":           func(in *ScheduleInput) { in.Rates = []Rate{{start, rat("1e30")}} },
	} {
		in := ok
		in.Rates = append([]Rate(nil), ok.Rates...)
		mod(&in)
		if ps, err := Schedule(in); !errors.Is(err, ErrInvalidSchedule) {
			t.Errorf("%s: %d periods, %v", name, len(ps), err)
		}
	}
	zero := ok
	zero.Rates = []Rate{{start, new(big.Rat)}}
	ps := schedule(t, zero)
	if len(ps) != 12 || !proto.Equal(ps[0].Amount, &moneypb.Money{CurrencyCode: "EUR"}) {
		t.Errorf("free: %v", ps[0].Amount)
	}
}

func TestIntervals(t *testing.T) {
	for i, w := range map[BillingInterval][2]int{IntervalMonthly: {1, 12}, IntervalQuarterly: {3, 4}, IntervalYearly: {12, 1}, "WEEKLY": {0, 0}, "": {0, 0}} {
		if i.Months() != w[0] || PeriodsPerYear(i) != w[1] || i.Valid() != (w[0] > 0) {
			t.Errorf("%q: %d months, %d a year, valid %v", i, i.Months(), PeriodsPerYear(i), i.Valid())
		}
	}
	for _, c := range []struct {
		i      BillingInterval
		amount string
		want   string
	}{
		{IntervalMonthly, "100", "100"},
		{IntervalQuarterly, "100", "100/3"},
		{IntervalYearly, "1234.57", "123457/1200"},
	} {
		if got := MonthlyAmount(rat(c.amount), c.i); got.Cmp(rat(c.want)) != 0 {
			t.Errorf("MonthlyAmount(%s, %s) = %s, want %s", c.amount, c.i, got, c.want)
		}
	}
	if MonthlyAmount(rat("1"), "WEEKLY") != nil {
		t.Error("unknown interval")
	}
}
