// Package money converts google.type.Money to and from the exact decimal
// strings Postgres `numeric` columns take, and checks amounts and ISO 4217
// currency codes. Amounts are never floats.
package money

import (
	"fmt"
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
