package money

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
)

// rates is an in-memory RateLookup: entered rates by pair.
type rates []ExchangeRate

func (rs rates) lookup(_ context.Context, base, quote string, day time.Time) (ExchangeRate, bool, error) {
	var best ExchangeRate
	ok := false
	for _, r := range rs {
		if r.Base == base && r.Quote == quote && !r.EffectiveDate.After(day) && (!ok || r.EffectiveDate.After(best.EffectiveDate)) {
			best, ok = r, true
		}
	}
	return best, ok, nil
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func TestParseRate(t *testing.T) {
	for _, ok := range []string{"1", "0.9215", "157.3", "0.000000000001", "123456789012345678.5", "1.500"} {
		if _, err := ParseRate(ok); err != nil {
			t.Errorf("ParseRate(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0", "0.000", "-1.2", "+1", "1e3", "1,5", ".5", "5.", "NaN", "0.0000000000001", "1234567890123456789", " 1"} {
		if r, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", bad, r)
		}
	}
}

// A figure sums per currency, converts each sum exactly and rounds once,
// half away from zero, to the reporting currency's minor unit.
func TestConverterRoundsOncePerFigure(t *testing.T) {
	ctx := context.Background()
	rs := rates{
		{Name: "exchangeRates/1", Base: "USD", Quote: "EUR", Rate: "0.5", EffectiveDate: day(2026, 1, 1)},
		{Name: "exchangeRates/2", Base: "USD", Quote: "EUR", Rate: "0.9", EffectiveDate: day(2026, 2, 1)},
		{Name: "exchangeRates/3", Base: "EUR", Quote: "JPY", Rate: "160.25", EffectiveDate: day(2026, 1, 1)},
	}
	c := NewConverter(rs.lookup, "EUR", day(2026, 1, 31).Add(15*time.Hour))
	if !c.Day().Equal(day(2026, 1, 31)) {
		t.Fatalf("day %v", c.Day())
	}

	// Three amounts of 0.01 USD at 0.5: converting and rounding each
	// would give 3 x 0.01 = 0.03; the sum 0.03 USD is 0.015 EUR, rounded
	// once: 0.02.
	var f Figure
	for range 3 {
		f.Add("USD", rat("0.01"))
	}
	if got, err := c.Round(ctx, &f); err != nil || got != "0.02" {
		t.Fatalf("3 x 0.01 USD = %q, %v; want 0.02", got, err)
	}
	// 0.25 USD x 0.5 = 0.125 EUR: half away from zero is 0.13 (half-even
	// would say 0.12); -0.125 is -0.13.
	for amount, want := range map[string]string{"0.25": "0.13", "-0.25": "-0.13", "0.35": "0.18", "0.23": "0.12"} {
		var g Figure
		g.Add("USD", rat(amount))
		if got, err := c.Round(ctx, &g); err != nil || got != want {
			t.Errorf("%s USD = %q, %v; want %s EUR", amount, got, err, want)
		}
	}
	// Currencies are converted apart and added before the one rounding:
	// 0.005 EUR from USD + 0.004 EUR = 0.009, rounded 0.01 (rounding each
	// first: 0.01 + 0.00 = 0.01; 0.0049 + 0.0049 shows it better).
	var mixed Figure
	mixed.Add("USD", rat("0.0098")) // 0.0049 EUR
	mixed.Add("EUR", rat("0.0049"))
	if got, err := c.Round(ctx, &mixed); err != nil || got != "0.01" {
		t.Fatalf("mixed = %q, %v; want 0.01 (each rounded alone: 0.00 + 0.00)", got, err)
	}
	// The rate of the day: February's rate from its date on.
	feb := NewConverter(rs.lookup, "EUR", day(2026, 2, 1))
	var one Figure
	one.Add("USD", rat("10"))
	if got, err := feb.Round(ctx, &one); err != nil || got != "9" {
		t.Fatalf("10 USD on 2026-02-01 = %q, %v; want 9", got, err)
	}
	conv := feb.Conversions([]string{"USD", "EUR", "USD"})
	if len(conv) != 1 || conv[0].Rate.Name != "exchangeRates/2" || conv[0].Inverse || conv[0].From != "USD" || conv[0].To != "EUR" || !conv[0].RateDate.Equal(day(2026, 2, 1)) {
		t.Fatalf("conversions %+v", conv)
	}
}

// Without a direct rate the inverse one divides, exactly; the figure is
// rounded once to the target's minor unit (0 for JPY).
func TestConverterInverse(t *testing.T) {
	ctx := context.Background()
	rs := rates{{Name: "exchangeRates/3", Base: "EUR", Quote: "JPY", Rate: "160.25", EffectiveDate: day(2026, 1, 1)},
		{Name: "exchangeRates/4", Base: "USD", Quote: "EUR", Rate: "3", EffectiveDate: day(2026, 1, 1)}}
	c := NewConverter(rs.lookup, "EUR", day(2026, 3, 1))
	var f Figure
	f.Add("JPY", rat("1000")) // 1000 / 160.25 = 6.2402496...
	if got, err := c.Round(ctx, &f); err != nil || got != "6.24" {
		t.Fatalf("1000 JPY = %q, %v", got, err)
	}
	conv := c.Conversions([]string{"JPY"})
	if len(conv) != 1 || !conv[0].Inverse || conv[0].Rate.Rate != "160.25" {
		t.Fatalf("conversions %+v", conv)
	}
	// EUR -> USD by 1/3: 1 EUR is 0.333... USD; three of them add to
	// exactly 1 before rounding, not 0.99.
	usd := NewConverter(rs.lookup, "USD", day(2026, 3, 1))
	var g Figure
	for range 3 {
		g.Add("EUR", rat("1"))
	}
	if got, err := usd.Round(ctx, &g); err != nil || got != "1" {
		t.Fatalf("3 x 1 EUR at 1/3 = %q, %v; want 1", got, err)
	}
	// Into JPY: no decimals.
	jpy := NewConverter(rs.lookup, "JPY", day(2026, 3, 1))
	var h Figure
	h.Add("EUR", rat("0.01")) // 1.6025 JPY
	if got, err := jpy.Round(ctx, &h); err != nil || got != "2" {
		t.Fatalf("0.01 EUR = %q JPY, %v; want 2", got, err)
	}
}

func TestConverterMissingRate(t *testing.T) {
	ctx := context.Background()
	rs := rates{{Name: "exchangeRates/1", Base: "USD", Quote: "EUR", Rate: "0.9", EffectiveDate: day(2026, 2, 1)}}
	c := NewConverter(rs.lookup, "EUR", day(2026, 1, 31))
	var f Figure
	f.Add("USD", rat("1"))
	_, err := c.Round(ctx, &f)
	var e *apperr.Error
	if !errors.As(err, &e) || e.Kind != apperr.KindFailedPrecondition || e.Reason != ReasonRateMissing ||
		!strings.Contains(e.Message, "no USD->EUR rate on or before 2026-01-31") || len(e.Preconditions) != 1 ||
		e.Preconditions[0].Subject != "USD->EUR" {
		t.Fatalf("err = %#v", err)
	}
	// The reporting currency itself needs no rate.
	var own Figure
	own.Add("EUR", rat("2.345"))
	if got, err := c.Round(ctx, &own); err != nil || got != "2.35" {
		t.Fatalf("own currency: %q, %v", got, err)
	}
}

// Whatever is typed as a rate, ParseRate either refuses it or returns the
// exact positive value of its digits; and converting there and back by
// the same entered rate (direct, then inverse) returns the amount
// exactly, before rounding.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"0.9215", "0", "-1", "1e3", "157.300", "000.5", "999999999999999999.999999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Sign() <= 0 {
			t.Fatalf("%q accepted as %v", s, r)
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok || want.Cmp(r) != 0 {
			t.Fatalf("%q read as %v", s, r)
		}
		ctx := context.Background()
		rs := rates{{Name: "exchangeRates/x", Base: "USD", Quote: "EUR", Rate: s, EffectiveDate: day(2026, 1, 1)}}
		there, err := NewConverter(rs.lookup, "EUR", day(2026, 1, 1)).Rate(ctx, "USD")
		if err != nil {
			t.Fatal(err)
		}
		back, err := NewConverter(rs.lookup, "USD", day(2026, 1, 1)).Rate(ctx, "EUR")
		if err != nil || !back.Inverse {
			t.Fatal(back, err)
		}
		amount := big.NewRat(12345, 100)
		if got := back.Apply(there.Apply(amount)); got.Cmp(amount) != 0 {
			t.Fatalf("%q: 123.45 there and back = %v", s, got)
		}
	})
}
