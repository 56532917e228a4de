package money

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"time"

	"google.golang.org/genproto/googleapis/type/date"

	moneyv1 "github.com/crmsuite/crm/gen/go/crm/money/v1"
	"github.com/crmsuite/crm/platform/apperr"
)

// An exchange rate is entered as a plain decimal: no sign, no exponent,
// at most 18 digits before the point and 12 after it.
var rateSyntax = regexp.MustCompile(`^[0-9]{1,18}(\.[0-9]{1,12})?$`)

// ParseRate reads an exchange rate as entered ("0.9215"): an exact,
// positive decimal. The error says what is wrong, for a field violation.
func ParseRate(s string) (*big.Rat, error) {
	if s == "" {
		return nil, fmt.Errorf("is required")
	}
	if !rateSyntax.MatchString(s) {
		return nil, fmt.Errorf("%q is not a plain decimal with at most 18 digits before the point and 12 after it", s)
	}
	r, _ := new(big.Rat).SetString(s)
	if r.Sign() <= 0 {
		return nil, fmt.Errorf("must be greater than 0, not %s", s)
	}
	return r, nil
}

// ExchangeRate is a stored rate: from EffectiveDate on, one unit of Base
// is worth Rate units of Quote.
type ExchangeRate struct {
	// Name is the rate's resource name, `exchangeRates/{id}`.
	Name        string
	Base, Quote string
	// Rate as entered (a ParseRate decimal).
	Rate string
	// EffectiveDate is a UTC midnight.
	EffectiveDate time.Time
}

// RateLookup finds the latest rate of exactly base -> quote effective on
// or before day (a UTC midnight); ok is false when there is none.
type RateLookup func(ctx context.Context, base, quote string, day time.Time) (r ExchangeRate, ok bool, err error)

// Conversion is how amounts of From were turned into To.
type Conversion struct {
	From, To string
	// Rate is the stored rate used: From -> To, or, when Inverse, To ->
	// From (amounts were divided by it).
	Rate    ExchangeRate
	Inverse bool
	// RateDate is the day a rate was asked for.
	RateDate time.Time

	factor *big.Rat
}

// Apply converts amount exactly (no rounding).
func (c Conversion) Apply(amount *big.Rat) *big.Rat {
	return new(big.Rat).Mul(amount, c.factor)
}

// ReasonRateMissing is the reason of the error for a pair with no rate.
const ReasonRateMissing = "EXCHANGE_RATE_MISSING"

// Converter converts amounts of any currency into one reporting currency
// with the rates effective on one day. It looks each currency's rate up
// once. A Converter is for one request; it is not safe for concurrent
// use.
//
// The rate of From -> To is the latest entered From -> To rate on or
// before the day; only when there is none, the latest To -> From rate is
// used inversely (amounts are divided by it). Inverse rates are never
// stored or rounded: the division is exact, and the only rounding is the
// figure's, in Round.
type Converter struct {
	lookup RateLookup
	to     string
	day    time.Time
	rates  map[string]Conversion
}

// NewConverter returns a converter into currency to with the rates of day
// (its UTC date counts). to must be an ISO 4217 code (the caller checks
// it, to name its own field).
func NewConverter(lookup RateLookup, to string, day time.Time) *Converter {
	y, m, d := day.UTC().Date()
	return &Converter{lookup: lookup, to: to, day: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), rates: map[string]Conversion{}}
}

// To is the reporting currency.
func (c *Converter) To() string { return c.to }

// Day is the date whose rates convert.
func (c *Converter) Day() time.Time { return c.day }

// Rate returns the conversion of currency from: the identity for the
// reporting currency itself, and a FailedPrecondition naming the pair and
// the date when no rate of either direction applies.
func (c *Converter) Rate(ctx context.Context, from string) (Conversion, error) {
	if from == c.to {
		return Conversion{From: from, To: c.to, RateDate: c.day, factor: big.NewRat(1, 1)}, nil
	}
	if conv, ok := c.rates[from]; ok {
		return conv, nil
	}
	conv := Conversion{From: from, To: c.to, RateDate: c.day}
	r, ok, err := c.lookup(ctx, from, c.to, c.day)
	if err != nil {
		return conv, err
	}
	if !ok {
		if r, ok, err = c.lookup(ctx, c.to, from, c.day); err != nil {
			return conv, err
		}
		conv.Inverse = ok
	}
	if !ok {
		return conv, MissingRate(from, c.to, c.day)
	}
	v, err := ParseRate(r.Rate)
	if err != nil {
		return conv, fmt.Errorf("stored exchange rate %s: %w", r.Name, err)
	}
	if conv.Inverse {
		v.Inv(v)
	}
	conv.Rate, conv.factor = r, v
	c.rates[from] = conv
	return conv, nil
}

// MissingRate is the error for a pair without a rate on or before day.
func MissingRate(from, to string, day time.Time) error {
	msg := fmt.Sprintf("no %s->%s rate on or before %s", from, to, day.Format(time.DateOnly))
	e := apperr.FailedPrecondition(ReasonRateMissing, "%s: enter one (or one of %s->%s) effective on or before that date", msg, to, from).
		WithMeta("source_currency", from).WithMeta("target_currency", to).WithMeta("rate_date", day.Format(time.DateOnly))
	e.Preconditions = []apperr.PreconditionViolation{{
		Type: ReasonRateMissing, Subject: from + "->" + to, Description: msg,
	}}
	return e
}

// Conversions are the conversions of the currencies among from that are
// not the reporting currency, in from's order, once each.
func (c *Converter) Conversions(from []string) []Conversion {
	var out []Conversion
	seen := map[string]bool{}
	for _, f := range from {
		if conv, ok := c.rates[f]; ok && !seen[f] {
			seen[f] = true
			out = append(out, conv)
		}
	}
	return out
}

// Figure is one reported amount being totalled in the reporting currency:
// amounts are summed per currency (Add), each currency's sum is converted
// exactly, and the converted sums are added and rounded once (Round).
type Figure struct {
	perCurrency map[string]*big.Rat
	order       []string
}

// Add adds amount (an exact decimal) in currency.
func (f *Figure) Add(currency string, amount *big.Rat) {
	if f.perCurrency == nil {
		f.perCurrency = map[string]*big.Rat{}
	}
	sum, ok := f.perCurrency[currency]
	if !ok {
		sum = new(big.Rat)
		f.perCurrency[currency] = sum
		f.order = append(f.order, currency)
	}
	sum.Add(sum, amount)
}

// AddDecimal adds an exact decimal string (as Postgres prints numeric).
func (f *Figure) AddDecimal(currency, amount string) error {
	r, ok := new(big.Rat).SetString(amount)
	if !ok {
		return fmt.Errorf("money: %q is not a decimal", amount)
	}
	f.Add(currency, r)
	return nil
}

// Currencies are the currencies added, in the order first added.
func (f *Figure) Currencies() []string { return f.order }

// Exact is the figure converted, before rounding.
func (c *Converter) Exact(ctx context.Context, f *Figure) (*big.Rat, error) {
	total := new(big.Rat)
	for _, cur := range f.order {
		conv, err := c.Rate(ctx, cur)
		if err != nil {
			return nil, err
		}
		total.Add(total, conv.Apply(f.perCurrency[cur]))
	}
	return total, nil
}

// Round is the figure in the reporting currency: the exact sum of each
// currency's converted sum, rounded half away from zero to the reporting
// currency's minor unit (as Round), as an exact decimal.
func (c *Converter) Round(ctx context.Context, f *Figure) (string, error) {
	exact, err := c.Exact(ctx, f)
	if err != nil {
		return "", err
	}
	m, err := Round(c.to, exact)
	if err != nil {
		return "", err
	}
	return Decimal(m), nil
}

// ReportingConverter is the converter of a report asked for in currency
// (nil when currency is empty: the report stays per currency), with the
// rates of rateDate, or of def when rateDate is zero. The errors are
// InvalidArgument on the request fields reporting_currency and rate_date
// (a rate date without a reporting currency is refused: it would be
// silently ignored). The caller checks rateDate is a calendar date.
func ReportingConverter(lookup RateLookup, currency string, rateDate, def time.Time) (*Converter, error) {
	if currency == "" {
		if !rateDate.IsZero() {
			return nil, apperr.InvalidField("rate_date", "RATE_DATE_WITHOUT_CURRENCY", "rate_date applies only with a reporting_currency")
		}
		return nil, nil
	}
	if !ValidCurrency(currency) {
		return nil, apperr.InvalidField("reporting_currency", "INVALID_CURRENCY", "%q is not an ISO 4217 currency code", currency)
	}
	if rateDate.IsZero() {
		rateDate = def
	}
	return NewConverter(lookup, currency, rateDate), nil
}

// Protos are the conversions as the reports carry them.
func Protos(cs []Conversion) []*moneyv1.CurrencyConversion {
	out := make([]*moneyv1.CurrencyConversion, len(cs))
	for i, c := range cs {
		out[i] = &moneyv1.CurrencyConversion{
			SourceCurrency: c.From, TargetCurrency: c.To, Rate: c.Rate.Rate, Inverse: c.Inverse,
			ExchangeRate: c.Rate.Name, EffectiveDate: protoDate(c.Rate.EffectiveDate), RateDate: protoDate(c.RateDate),
		}
	}
	return out
}

func protoDate(t time.Time) *date.Date {
	if t.IsZero() {
		return nil
	}
	y, m, d := t.Date()
	return &date.Date{Year: int32(y), Month: int32(m), Day: int32(d)}
}
