package domain

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

func line(currency string) OrderLine {
	return OrderLine{ProductCode: "P", Quantity: "1", UnitPrice: Money{Currency: currency, Units: 10}}
}

func TestConversionOrderCurrencyDefaults(t *testing.T) {
	existing := uuid.Must(uuid.NewV7())
	cases := []struct {
		name string
		req  ConversionRequest
		want string
	}{
		{"the request's", ConversionRequest{NewAccount: NewAccount{CurrencyCode: "GBP"}, Order: &NewOrder{CurrencyCode: "CHF", Lines: []OrderLine{line("CHF")}}}, "CHF"},
		{"the new account's", ConversionRequest{NewAccount: NewAccount{CurrencyCode: "GBP"}, Order: &NewOrder{Lines: []OrderLine{line("GBP")}}}, "GBP"},
		{"the first line's", ConversionRequest{Order: &NewOrder{Lines: []OrderLine{line("JPY"), line("JPY")}}}, "JPY"},
		{"an existing account's is not known", ConversionRequest{ExistingAccount: existing, NewAccount: NewAccount{CurrencyCode: "GBP"}, Order: &NewOrder{Lines: []OrderLine{line("USD")}}}, "USD"},
	}
	for _, c := range cases {
		o, vs := c.req.order()
		if len(vs) > 0 || o.CurrencyCode != c.want {
			t.Errorf("%s: currency %q, %v; want %q", c.name, o.CurrencyCode, vs, c.want)
		}
	}
	// Defaulting to the account's currency, a line in another one is
	// refused.
	err := ConversionRequest{NewAccount: NewAccount{CurrencyCode: "GBP"}, Order: &NewOrder{Lines: []OrderLine{line("USD")}}}.Check()
	if e, ok := apperr.As(err); !ok || len(e.Violations) != 1 || e.Violations[0].Field != "order.lines[0].unit_price.currency_code" {
		t.Fatalf("line in another currency: %v", err)
	}
}

func TestConversionOrderChecks(t *testing.T) {
	huge := line("EUR")
	huge.Quantity = "9999999999999999999999"
	cases := []struct {
		field string
		edit  func(*OrderLine)
	}{
		{"order.lines[0].quantity", func(l *OrderLine) { l.Quantity = "0" }},
		{"order.lines[0].quantity", func(l *OrderLine) { l.Quantity = "-1" }},
		{"order.lines[0].quantity", func(l *OrderLine) { l.Quantity = "1e3" }},
		{"order.lines[0].discount_percent", func(l *OrderLine) { l.DiscountPercent = "100.5" }},
		{"order.lines[0].tax_rate", func(l *OrderLine) { l.TaxRate = "-1" }},
		{"order.lines[0].product_code", func(l *OrderLine) { l.ProductCode = " " }},
		{"order.lines[0]", func(l *OrderLine) { *l = huge }},
	}
	for _, c := range cases {
		l := line("EUR")
		c.edit(&l)
		err := ConversionRequest{Order: &NewOrder{Lines: []OrderLine{l}}}.Check()
		if e, ok := apperr.As(err); !ok || len(e.Violations) != 1 || e.Violations[0].Field != c.field {
			t.Errorf("%+v: %v, want a violation on %s", l, err, c.field)
		}
	}
	ok := line("EUR")
	ok.DiscountPercent, ok.TaxRate, ok.Quantity = "100", "0", "2.5"
	if err := (ConversionRequest{Order: &NewOrder{Lines: []OrderLine{ok}, ExpectedFulfillmentDate: &Date{2028, 2, 29}}}).Check(); err != nil {
		t.Fatal(err)
	}
	if err := (ConversionRequest{Order: &NewOrder{Lines: []OrderLine{ok}, ExpectedFulfillmentDate: &Date{2027, 2, 29}}}).Check(); err == nil {
		t.Fatal("29 February 2027 accepted")
	}
}

func TestConversionWithOrderCompletesWhenEveryPartIsDone(t *testing.T) {
	now := time.Now()
	for _, order := range [][]string{{"contact", "opportunity", "order"}, {"order", "opportunity", "contact"}, {"opportunity", "order", "contact"}} {
		l, _, err := New(Lead{LastName: "Deal", Company: "a" + strings.Repeat("é", 100), Campaign: strings.Repeat("x", 200), Owner: "sue"}, "u", now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Qualify(ConversionRequest{
			NewAccount: NewAccount{Owner: "bob"}, Opportunity: &NewOpportunity{}, Order: &NewOrder{Lines: []OrderLine{line("EUR")}},
		}, "u", now); err != nil {
			t.Fatal(err)
		}
		c := l.Conversion
		if c.OrderID == uuid.Nil || c.Order.Owner != "bob" || c.Order.CurrencyCode != "EUR" || len(c.Order.DisplayName) > 200 ||
			!utf8.ValidString(c.Order.DisplayName) || !strings.HasPrefix(c.Opportunity.DisplayName, c.Order.DisplayName) {
			t.Fatalf("order = %+v", c.Order)
		}
		for i, part := range order {
			switch part {
			case "contact":
				l.ContactApplied(c.ContactID, now, "s", now)
			case "opportunity":
				l.OpportunityApplied(c.OpportunityID, now, "s", now)
			case "order":
				if evs := l.OrderApplied(uuid.Must(uuid.NewV7()), now, "s", now); evs != nil {
					t.Fatal("another order applied")
				}
				l.OrderApplied(c.OrderID, now, "s", now)
			}
			if done := c.State == ConversionComplete; done != (i == len(order)-1) {
				t.Fatalf("%v: after %s the conversion is %s", order, part, c.State)
			}
		}
		if evs := l.OrderApplied(c.OrderID, now, "s", now); evs != nil {
			t.Fatal("a repeated confirmation changed the lead")
		}
	}
}
