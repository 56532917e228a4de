package money

import (
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
