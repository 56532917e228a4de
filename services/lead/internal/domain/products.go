package domain

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

// ProductInterest is a product a lead is interested in (seed 002).
type ProductInterest struct {
	// Product is its code or name, as an opportunity's line item names it.
	Product string `json:"product"`
	// Quantity is an exact positive decimal ("3", "2.5"); "1" when not
	// given.
	Quantity string `json:"quantity"`
	// UnitPrice is the expected price, nil when unknown.
	UnitPrice *Money `json:"unit_price,omitempty"`
}

// MaxProducts a lead may be interested in.
const MaxProducts = 50

// Limits of an opportunity's line items, which products become on
// conversion; a product the opportunity service would refuse is refused
// here, so that no conversion fails for it later.
const (
	maxProductLen       = 200
	maxQuantityIntegers = 12
	maxQuantityDecimals = 6
)

// normalizeProducts trims and defaults the products and reports what is
// wrong with them under field: each names a product (at most once, case
// ignored), a positive quantity the opportunity takes, a price that is
// not negative, all prices in one currency and line amounts that fit.
func normalizeProducts(field string, ps []ProductInterest, vs *apperr.Violations) []ProductInterest {
	if len(ps) == 0 {
		return nil
	}
	if len(ps) > MaxProducts {
		vs.Add(field, "TOO_MANY_PRODUCTS", "a lead has at most %d products of interest", MaxProducts)
	}
	out := make([]ProductInterest, len(ps))
	seen := map[string]int{}
	currency := ""
	limit := new(big.Rat).SetInt64(math.MaxInt64)
	total := new(big.Rat)
	for i, p := range ps {
		f := fmt.Sprintf("%s[%d]", field, i)
		p.Product, p.Quantity = strings.TrimSpace(p.Product), strings.TrimSpace(p.Quantity)
		if p.Quantity == "" {
			p.Quantity = "1"
		}
		switch {
		case p.Product == "":
			vs.Add(f+".product", "PRODUCT_REQUIRED", "a product of interest names a product")
		case len(p.Product) > maxProductLen:
			vs.Add(f+".product", "TOO_LONG", "a product has at most %d bytes", maxProductLen)
		default:
			key := strings.ToLower(p.Product)
			if j, dup := seen[key]; dup {
				vs.Add(f+".product", "DUPLICATE_PRODUCT", "%q is already product %d: give its quantity there", p.Product, j)
			}
			seen[key] = i
		}
		qty, ok := quantity(p.Quantity)
		if !ok {
			vs.Add(f+".quantity", "INVALID_QUANTITY", "quantity must be a positive decimal with at most %d digits before and %d after the point, not %q",
				maxQuantityIntegers, maxQuantityDecimals, p.Quantity)
		}
		if p.UnitPrice != nil {
			m := *p.UnitPrice
			m.Currency = strings.TrimSpace(m.Currency)
			p.UnitPrice = &m
			switch {
			case !money.ValidCurrency(m.Currency):
				vs.Add(f+".unit_price.currency_code", "UNKNOWN_CURRENCY", "%q is not an ISO 4217 currency code", m.Currency)
			case currency != "" && m.Currency != currency:
				vs.Add(f+".unit_price.currency_code", "CURRENCY_MISMATCH", "every price of a lead's products is in one currency: %q, not %q", currency, m.Currency)
			case m.Units < 0 || m.Nanos < 0 || m.Nanos >= 1_000_000_000:
				vs.Add(f+".unit_price", "INVALID_PRICE", "a price is not negative, with nanos from 0 to 999,999,999")
			default:
				currency = m.Currency
				if ok {
					line := new(big.Rat).Mul(qty, m.rat())
					total.Add(total, line)
					if line.Cmp(limit) >= 0 {
						vs.Add(f, "AMOUNT_OUT_OF_RANGE", "quantity x unit price is out of range")
					}
				}
			}
		}
		out[i] = p
	}
	if total.Cmp(limit) >= 0 {
		vs.Add(field, "AMOUNT_OUT_OF_RANGE", "the products' total is out of range")
	}
	return out
}

// quantity parses a positive decimal of the precision opportunities keep.
func quantity(s string) (*big.Rat, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > maxQuantityIntegers || len(frac) > maxQuantityDecimals || strings.HasSuffix(s, ".") {
		return nil, false
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return nil, false
		}
	}
	q, ok := new(big.Rat).SetString(s)
	return q, ok && q.Sign() > 0
}

// productsCurrency is the currency of the priced products, "" when none
// has a price.
func productsCurrency(ps []ProductInterest) string {
	for _, p := range ps {
		if p.UnitPrice != nil {
			return p.UnitPrice.Currency
		}
	}
	return ""
}

func productsEqual(a, b []ProductInterest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Product != y.Product || x.Quantity != y.Quantity || (x.UnitPrice == nil) != (y.UnitPrice == nil) ||
			x.UnitPrice != nil && *x.UnitPrice != *y.UnitPrice {
			return false
		}
	}
	return true
}
