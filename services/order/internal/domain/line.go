package domain

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	moneypb "google.golang.org/genproto/googleapis/type/money"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

// Line limits: a clear refusal rather than a request that times out.
const (
	MaxOrderLines    = 1000
	MaxContractLines = 200
)

// Line is a line of an order or contract. Quantity, DiscountPercent,
// TaxRate and Fulfilled are exact decimals as the caller wrote them
// ("2.5"); the amounts are computed (Price).
type Line struct {
	// ID is the line's stable id within its order ("1", "2", ...).
	ID              string
	ProductCode     string
	ProductName     string
	Quantity        string
	UnitPrice       *moneypb.Money
	DiscountPercent string
	TaxRate         string
	// Fulfilled is the delivered quantity (orders), "0" at first.
	Fulfilled string

	Subtotal, Discount, Tax, Total *moneypb.Money
}

// Net is the line's subtotal less its discount.
func (l Line) Net() *big.Rat {
	return new(big.Rat).Sub(money.Rat(l.Subtotal), money.Rat(l.Discount))
}

// Totals are an order's (or a contract period's) sums of rounded lines.
type Totals struct {
	Subtotal, Discount, Tax, Total *moneypb.Money
}

// Net is subtotal less discount: revenue, before tax.
func (t Totals) Net() *big.Rat {
	return new(big.Rat).Sub(money.Rat(t.Subtotal), money.Rat(t.Discount))
}

// PriceLines checks lines (field is the request path of the list, e.g.
// "lines") against currency and computes each line's amounts and their
// totals. The rule: each line rounds first, to the currency's minor unit,
// half away from zero: subtotal = quantity x unit price, discount =
// subtotal x discount % / 100, tax = (subtotal - discount) x tax rate /
// 100, total = subtotal - discount + tax; the totals are the sums of the
// rounded lines, so they always add up. Lines are changed in place.
func PriceLines(field, currency string, lines []Line, firstIndex int) (Totals, apperr.Violations) {
	var vs apperr.Violations
	sum := [4]*big.Rat{new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat)}
	currencyOK := money.ValidCurrency(currency)
	for i := range lines {
		l := &lines[i]
		f := fmt.Sprintf("%s[%d]", field, firstIndex+i)
		l.ProductCode = strings.TrimSpace(l.ProductCode)
		l.ProductName = strings.TrimSpace(l.ProductName)
		if l.ProductCode == "" {
			vs.Add(f+".product_code", "PRODUCT_CODE_REQUIRED", "a line names a product code")
		}
		if l.ProductName == "" {
			l.ProductName = l.ProductCode
		}
		ok := true
		qty, good := Decimal(l.Quantity)
		if !good || qty.Sign() <= 0 {
			vs.Add(f+".quantity", "INVALID_QUANTITY", "quantity must be a positive decimal, not %q", l.Quantity)
			ok = false
		}
		disc := new(big.Rat)
		if l.DiscountPercent != "" {
			d, good := Decimal(l.DiscountPercent)
			if !good || d.Sign() < 0 || d.Cmp(big.NewRat(100, 1)) > 0 {
				vs.Add(f+".discount_percent", "INVALID_DISCOUNT", "discount_percent is a decimal from 0 to 100, not %q", l.DiscountPercent)
				ok = false
			} else {
				disc = d
			}
		}
		tax := new(big.Rat)
		if l.TaxRate != "" {
			t, good := Decimal(l.TaxRate)
			if !good || t.Sign() < 0 || t.Cmp(big.NewRat(1000, 1)) > 0 {
				vs.Add(f+".tax_rate", "INVALID_TAX_RATE", "tax_rate is a decimal percent from 0 to 1000, not %q", l.TaxRate)
				ok = false
			} else {
				tax = t
			}
		}
		switch {
		case l.UnitPrice == nil:
			vs.Add(f+".unit_price", "UNIT_PRICE_REQUIRED", "a line needs a unit price")
			ok = false
		case len(money.Check(f+".unit_price", l.UnitPrice, false)) > 0:
			for _, v := range money.Check(f+".unit_price", l.UnitPrice, false) {
				v.Reason = "INVALID_AMOUNT"
				vs = append(vs, v)
			}
			ok = false
		case l.UnitPrice.GetCurrencyCode() != currency:
			vs.Add(f+".unit_price.currency_code", "CURRENCY_MISMATCH", "lines must be in the order's currency %q, not %q", currency, l.UnitPrice.GetCurrencyCode())
			ok = false
		}
		if l.Fulfilled == "" {
			l.Fulfilled = "0"
		}
		if !ok || !currencyOK {
			continue
		}
		sub := new(big.Rat).Mul(qty, money.Rat(l.UnitPrice))
		var err error
		amounts := [4]**moneypb.Money{&l.Subtotal, &l.Discount, &l.Tax, &l.Total}
		if l.Subtotal, err = money.Round(currency, sub); err != nil {
			vs.Add(f, "AMOUNT_OUT_OF_RANGE", "the line's amount is out of range")
			continue
		}
		l.Discount, _ = money.Round(currency, new(big.Rat).Quo(new(big.Rat).Mul(money.Rat(l.Subtotal), disc), big.NewRat(100, 1)))
		net := new(big.Rat).Sub(money.Rat(l.Subtotal), money.Rat(l.Discount))
		l.Tax, _ = money.Round(currency, new(big.Rat).Quo(new(big.Rat).Mul(net, tax), big.NewRat(100, 1)))
		l.Total, err = money.Round(currency, new(big.Rat).Add(net, money.Rat(l.Tax)))
		if err != nil {
			vs.Add(f, "AMOUNT_OUT_OF_RANGE", "the line's amount is out of range")
			continue
		}
		for k, m := range amounts {
			sum[k].Add(sum[k], money.Rat(*m))
		}
	}
	if !currencyOK {
		vs.Add("currency_code", "INVALID_CURRENCY", "%q is not an ISO 4217 currency code", currency)
	}
	if len(vs) > 0 {
		return Totals{}, vs
	}
	var t Totals
	for k, dst := range []**moneypb.Money{&t.Subtotal, &t.Discount, &t.Tax, &t.Total} {
		m, err := money.Round(currency, sum[k])
		if err != nil {
			vs.Add(field, "AMOUNT_OUT_OF_RANGE", "the total is out of range")
			return Totals{}, vs
		}
		*dst = m
	}
	return t, nil
}

// Decimal parses an exact decimal ("2.5"); exponents and fractions are
// refused.
func Decimal(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// DecimalString renders an exact decimal without trailing zeros.
func DecimalString(r *big.Rat) string {
	s := r.FloatString(9)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// numberLines gives lines without an id the next ids after next, and
// returns the new next.
func numberLines(lines []Line, next int) int {
	for i := range lines {
		if lines[i].ID == "" {
			next++
			lines[i].ID = strconv.Itoa(next)
		}
	}
	return next
}

func cloneLines(lines []Line) []Line {
	out := make([]Line, len(lines))
	copy(out, lines)
	return out
}

func zero(currency string) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: currency}
}
