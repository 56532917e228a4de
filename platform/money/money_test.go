package money

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
)

func TestDecimalRoundTrip(t *testing.T) {
	cases := []struct {
		m    *moneypb.Money
		want string
	}{
		{&moneypb.Money{CurrencyCode: "EUR", Units: 12, Nanos: 500_000_000}, "12.5"},
		{&moneypb.Money{CurrencyCode: "EUR", Units: 3}, "3"},
		{&moneypb.Money{CurrencyCode: "EUR", Units: -1, Nanos: -1}, "-1.000000001"},
		{&moneypb.Money{CurrencyCode: "EUR", Nanos: -750_000_000}, "-0.75"},
		{&moneypb.Money{CurrencyCode: "EUR"}, "0"},
		{&moneypb.Money{CurrencyCode: "JPY", Units: 9_000_000_000}, "9000000000"},
	}
	for _, c := range cases {
		got := Decimal(c.m)
		if got != c.want {
			t.Errorf("Decimal(%v) = %q, want %q", c.m, got, c.want)
		}
		back, err := FromDecimal(c.m.CurrencyCode, got)
		if err != nil || !proto.Equal(back, c.m) {
			t.Errorf("FromDecimal(%q) = %v, %v; want %v", got, back, err, c.m)
		}
	}
}

func TestFromDecimalRefusesRounding(t *testing.T) {
	if _, err := FromDecimal("EUR", "0.0000000001"); err == nil {
		t.Fatal("ten decimal places accepted")
	}
	if _, err := FromDecimal("EUR", "abc"); err == nil {
		t.Fatal("non-number accepted")
	}
	if m, err := FromDecimal("EUR", "1.50"); err != nil || m.Units != 1 || m.Nanos != 500_000_000 {
		t.Fatal(m, err)
	}
}

func TestCheck(t *testing.T) {
	if v := Check("credit_limit", &moneypb.Money{CurrencyCode: "EUR", Units: 10}, false); len(v) != 0 {
		t.Fatal(v)
	}
	for name, m := range map[string]*moneypb.Money{
		"unknown currency": {CurrencyCode: "XYZ", Units: 1},
		"lower case":       {CurrencyCode: "eur", Units: 1},
		"negative":         {CurrencyCode: "EUR", Units: -1},
		"mixed signs":      {CurrencyCode: "EUR", Units: 1, Nanos: -5},
		"nanos overflow":   {CurrencyCode: "EUR", Nanos: 1_000_000_000},
	} {
		if v := Check("credit_limit", m, false); len(v) == 0 {
			t.Errorf("%s: accepted %v", name, m)
		}
	}
	if v := Check("amount", &moneypb.Money{CurrencyCode: "USD", Units: -5}, true); len(v) != 0 {
		t.Fatal(v)
	}
}

func TestRound(t *testing.T) {
	huge, _ := new(big.Rat).SetString("9223372036854775808") // 2^63: one unit past int64
	cases := []struct {
		code, in string
		r        *big.Rat // overrides in
		units    int64
		nanos    int32
		fails    bool
	}{
		{code: "EUR", in: "0.005", nanos: 10_000_000},
		{code: "EUR", in: "-0.005", nanos: -10_000_000},
		{code: "EUR", in: "0.0049"},
		{code: "EUR", in: "-0.0049"},
		{code: "EUR", in: "0.015", nanos: 20_000_000},
		{code: "EUR", in: "2.675", units: 2, nanos: 680_000_000},
		{code: "EUR", in: "1234.57", units: 1234, nanos: 570_000_000},
		{code: "EUR", in: "-7.125", units: -7, nanos: -130_000_000},
		{code: "EUR", in: "1/3", nanos: 330_000_000},
		{code: "EUR", in: "-2/3", nanos: -670_000_000},
		{code: "USD", in: "0.999", units: 1},
		{code: "GBP", in: "-0.994", nanos: -990_000_000},
		{code: "JPY", in: "0.5", units: 1},
		{code: "JPY", in: "-0.5", units: -1},
		{code: "JPY", in: "0.4999"},
		{code: "JPY", in: "1234.5", units: 1235},
		{code: "BHD", in: "0.0005", nanos: 1_000_000},
		{code: "BHD", in: "0.00049"},
		{code: "KWD", in: "-1.2345", units: -1, nanos: -235_000_000},
		// Past int64 arithmetic (numerator x 100 overflows): the big.Int path.
		{code: "EUR", in: "92233720368547758.075", units: 92233720368547758, nanos: 80_000_000},
		{code: "EUR", in: "-92233720368547758.075", units: -92233720368547758, nanos: -80_000_000},
		{code: "EUR", in: "92233720368547758.0749", units: 92233720368547758, nanos: 70_000_000},
		{code: "EUR", in: "9223372036854775807.994", units: 9223372036854775807, nanos: 990_000_000},
		{code: "EUR", in: "-9223372036854775807.994", units: -9223372036854775807, nanos: -990_000_000},
		{code: "EUR", in: "9223372036854775807.995", fails: true}, // rounds up to 2^63 units
		{code: "EUR", r: huge, fails: true},
		{code: "EUR", r: new(big.Rat).Neg(huge), fails: true},
		{code: "XYZ", in: "1", fails: true},
		{code: "eur", in: "1", fails: true},
		{code: "", in: "1", fails: true},
	}
	for _, c := range cases {
		r := c.r
		if r == nil {
			var ok bool
			if r, ok = new(big.Rat).SetString(c.in); !ok {
				t.Fatalf("bad case %q", c.in)
			}
		}
		got, err := Round(c.code, r)
		if c.fails {
			if err == nil {
				t.Errorf("Round(%s, %s) = %v, want an error", c.code, r.FloatString(9), got)
			}
			continue
		}
		want := &moneypb.Money{CurrencyCode: c.code, Units: c.units, Nanos: c.nanos}
		if err != nil || !proto.Equal(got, want) {
			t.Errorf("Round(%s, %s) = %v, %v; want %v", c.code, r.FloatString(9), got, err, want)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	for code, want := range map[string]int{"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "XYZ": -1, "eur": -1, "": -1} {
		if got := MinorUnits(code); got != want {
			t.Errorf("MinorUnits(%q) = %d, want %d", code, got, want)
		}
	}
}

func TestRat(t *testing.T) {
	for m, want := range map[*moneypb.Money]string{
		{CurrencyCode: "EUR", Units: 12, Nanos: 340_000_000}:                        "1234/100",
		{CurrencyCode: "EUR", Units: -1, Nanos: -1}:                                 "-1000000001/1000000000",
		{CurrencyCode: "EUR", Units: 9223372036854775807, Nanos: 999_999_999}:       "9223372036854775807999999999/1000000000",
		{CurrencyCode: "EUR", Units: -9223372036854775807 - 1, Nanos: -999_999_999}: "-9223372036854775808999999999/1000000000",
		nil: "0",
	} {
		w, _ := new(big.Rat).SetString(want)
		if got := Rat(m); got.Cmp(w) != 0 {
			t.Errorf("Rat(%v) = %s, want %s", m, got, w)
		}
	}
}

// Round agrees with big.Rat's FloatString, which rounds halves away from
// zero too, over fractions that take the int64 path and the big.Int one.
func TestRoundMatchesFloatString(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	scales := map[string]int{"EUR": 2, "JPY": 0, "BHD": 3}
	compared, fast := 0, 0
	for i := range 30_000 {
		code := []string{"EUR", "JPY", "BHD"}[i%3]
		var num, den int64
		switch i % 4 {
		case 0: // small: halves and near-halves
			num, den = rng.Int64N(20_001)-10_000, []int64{2, 8, 1000, 2000, 20_000, 3, 7}[rng.IntN(7)]
		case 1:
			num, den = rng.Int64N(1<<40)-1<<39, rng.Int64N(1<<20)+1
		default: // mostly past num x 10^scale fitting an int64
			num, den = int64(rng.Uint64()), rng.Int64N(math.MaxInt64)+1
		}
		r := big.NewRat(num, den)
		want, err := FromDecimal(code, r.FloatString(scales[code]))
		if err != nil {
			continue // beyond what FromDecimal takes
		}
		got, err := Round(code, r)
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("Round(%s, %s) = %v, %v; want %v", code, r, got, err, want)
		}
		compared++
		if a := r.Num(); a.IsInt64() && a.Int64() < math.MaxInt64/1000 && a.Int64() > -math.MaxInt64/1000 {
			fast++
		}
	}
	if compared < 25_000 || fast < 10_000 || compared-fast < 10_000 {
		t.Fatalf("%d compared, %d small", compared, fast)
	}
}
