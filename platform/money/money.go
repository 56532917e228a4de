// Package money converts google.type.Money to and from the exact decimal
// strings Postgres `numeric` columns take, and checks amounts and ISO 4217
// currency codes. Amounts are never floats.
package money

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"golang.org/x/text/currency"
	moneypb "google.golang.org/genproto/googleapis/type/money"

	"github.com/crmsuite/crm/platform/apperr"
)

const nanosPerUnit = 1_000_000_000

// ValidCurrency reports whether code is an ISO 4217 currency code.
func ValidCurrency(code string) bool {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return false
	}
	_, err := currency.ParseISO(code)
	return err == nil
}

// Check returns field violations for m under field: an unknown currency,
// nanos out of range or of the other sign than units, and, unless
// allowNegative, a negative amount.
func Check(field string, m *moneypb.Money, allowNegative bool) []apperr.FieldViolation {
	if m == nil {
		return nil
	}
	var v []apperr.FieldViolation
	if !ValidCurrency(m.GetCurrencyCode()) {
		v = append(v, apperr.FieldViolation{Field: field + ".currency_code", Description: fmt.Sprintf("%q is not an ISO 4217 currency code", m.GetCurrencyCode())})
	}
	units, nanos := m.GetUnits(), m.GetNanos()
	switch {
	case nanos <= -nanosPerUnit || nanos >= nanosPerUnit:
		v = append(v, apperr.FieldViolation{Field: field + ".nanos", Description: "must be between -999,999,999 and 999,999,999"})
	case (units > 0 && nanos < 0) || (units < 0 && nanos > 0):
		v = append(v, apperr.FieldViolation{Field: field + ".nanos", Description: "must have the same sign as units"})
	case !allowNegative && (units < 0 || nanos < 0):
		v = append(v, apperr.FieldViolation{Field: field, Description: "must not be negative"})
	}
	return v
}

// Decimal renders m's amount as an exact decimal ("-12.5", "3"), for a
// numeric column. m must have passed Check.
func Decimal(m *moneypb.Money) string {
	r := new(big.Rat).SetFrac64(m.GetUnits()*nanosPerUnit+int64(m.GetNanos()), nanosPerUnit)
	s := r.FloatString(9)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// FromDecimal parses an exact decimal (as Postgres prints numeric) into
// Money in currency code. More than nine fractional digits are refused
// rather than rounded.
func FromDecimal(code, s string) (*moneypb.Money, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("money: %q is not a decimal", s)
	}
	n := new(big.Rat).Mul(r, big.NewRat(nanosPerUnit, 1))
	if !n.IsInt() {
		return nil, fmt.Errorf("money: %q has more than nine decimal places", s)
	}
	total := n.Num()
	if !total.IsInt64() {
		return nil, fmt.Errorf("money: %q is out of range", s)
	}
	t := total.Int64()
	return &moneypb.Money{CurrencyCode: code, Units: t / nanosPerUnit, Nanos: int32(t % nanosPerUnit)}, nil
}

// MinorUnits is the number of decimal places currency code is rounded to:
// 2 for EUR, USD or GBP, 0 for JPY, 3 for BHD or KWD; -1 for a code that is
// not an ISO 4217 currency. It is CLDR's standard digits (x/text's
// currency.Standard), which equal ISO 4217's minor unit for most currencies
// but are 0 for a few whose subunit is not in use (IDR, COP, IQD, ...).
func MinorUnits(code string) int {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return -1
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return -1
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale
}

// Rat is m's exact amount (zero for nil).
func Rat(m *moneypb.Money) *big.Rat {
	n := new(big.Int).Mul(big.NewInt(m.GetUnits()), big.NewInt(nanosPerUnit))
	n.Add(n, big.NewInt(int64(m.GetNanos())))
	return new(big.Rat).SetFrac(n, big.NewInt(nanosPerUnit))
}

// Round rounds r half away from zero to currency code's minor unit
// (MinorUnits): 0.005 EUR is 0.01, -0.005 EUR is -0.01, 0.5 JPY is 1. It
// fails for an unknown currency and for an amount whose units do not fit
// an int64.
func Round(code string, r *big.Rat) (*moneypb.Money, error) {
	scale := MinorUnits(code)
	if scale < 0 {
		return nil, fmt.Errorf("money: %q is not an ISO 4217 currency code", code)
	}
	if scale > 9 {
		return nil, fmt.Errorf("money: %s has %d decimal places, more than Money's nine", code, scale)
	}
	pow := int64(1)
	for range scale {
		pow *= 10
	}
	nanosPerMinor := nanosPerUnit / pow
	var u, n int64 // of |r|
	if num, den := r.Num(), r.Denom(); num.IsInt64() && den.IsInt64() && num.Int64() > -math.MaxInt64/pow && num.Int64() < math.MaxInt64/pow {
		// Small enough for int64: q = |r| x 10^scale, rounded half up.
		a, d := num.Int64(), den.Int64()
		if a < 0 {
			a = -a
		}
		a *= pow
		q, rem := a/d, a%d
		if rem >= d-rem {
			q++
		}
		u, n = q/pow, q%pow*nanosPerMinor
	} else {
		scaled := new(big.Int).Mul(new(big.Int).Abs(num), big.NewInt(pow))
		q, rem := new(big.Int).QuoRem(scaled, den, new(big.Int))
		if rem.Lsh(rem, 1).Cmp(den) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		units, frac := new(big.Int).QuoRem(q, big.NewInt(pow), new(big.Int))
		if !units.IsInt64() {
			return nil, fmt.Errorf("money: %s %s is out of range", r.FloatString(scale), code)
		}
		u, n = units.Int64(), frac.Int64()*nanosPerMinor
	}
	if r.Sign() < 0 {
		u, n = -u, -n
	}
	return &moneypb.Money{CurrencyCode: code, Units: u, Nanos: int32(n)}, nil
}
