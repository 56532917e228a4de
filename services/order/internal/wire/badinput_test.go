package wire_test

import (
	"testing"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestBadInputGetsClearErrorsAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	o := s.order(t, account, line("P", "1", eur(10, 0)))
	empty := s.order(t, account)
	cancelled := s.order(t, account, line("P", "1", eur(1, 0)))
	if _, err := s.client.CancelOrder(ops, &orderv1.CancelOrderRequest{Name: cancelled.Name, Reason: "changed their mind"}); err != nil {
		t.Fatal(err)
	}
	c := s.contract(t, account, &orderv1.Contract{StartDate: &date.Date{Year: 2027, Month: 1, Day: 1}, TermMonths: 12})
	s.published(t, 5)
	before := s.snapshot(t)

	createOrder := func(o *orderv1.Order) error {
		o.Account, o.CurrencyCode = account, "EUR"
		_, err := s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: o})
		return err
	}
	createContract := func(c *orderv1.Contract) error {
		c.Account, c.CurrencyCode = account, "EUR"
		if c.Lines == nil {
			c.Lines = []*orderv1.OrderLine{line("SUB", "1", eur(100, 0))}
		}
		if c.StartDate == nil {
			c.StartDate = &date.Date{Year: 2027, Month: 1, Day: 31}
		}
		_, err := s.client.CreateContract(ops, &orderv1.CreateContractRequest{Contract: c})
		return err
	}
	usd := &moneypb.Money{CurrencyCode: "USD", Units: 1}
	many := make([]*orderv1.OrderLine, 10000)
	for i := range many {
		many[i] = line("P", "1", eur(1, 0))
	}
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		field  string // a field violation, for InvalidArgument
		reason string // the ErrorInfo reason, for others
	}{
		{"zero quantity", createOrder(&orderv1.Order{Lines: []*orderv1.OrderLine{line("P", "0", eur(1, 0))}}), codes.InvalidArgument, "order.lines[0].quantity", ""},
		{"negative quantity", createOrder(&orderv1.Order{Lines: []*orderv1.OrderLine{line("P", "-2", eur(1, 0))}}), codes.InvalidArgument, "order.lines[0].quantity", ""},
		{"a line in another currency", createOrder(&orderv1.Order{Lines: []*orderv1.OrderLine{line("P", "1", eur(1, 0)), line("Q", "1", usd)}}),
			codes.InvalidArgument, "order.lines[1].unit_price.currency_code", ""},
		{"discount above 100 %", createOrder(&orderv1.Order{Lines: []*orderv1.OrderLine{{ProductCode: "P", Quantity: "1", UnitPrice: eur(1, 0), DiscountPercent: "100.5"}}}),
			codes.InvalidArgument, "order.lines[0].discount_percent", ""},
		{"discount below 0", createOrder(&orderv1.Order{Lines: []*orderv1.OrderLine{{ProductCode: "P", Quantity: "1", UnitPrice: eur(1, 0), DiscountPercent: "-1"}}}),
			codes.InvalidArgument, "order.lines[0].discount_percent", ""},
		{"negative tax rate", createOrder(&orderv1.Order{Lines: []*orderv1.OrderLine{{ProductCode: "P", Quantity: "1", UnitPrice: eur(1, 0), TaxRate: "-5"}}}),
			codes.InvalidArgument, "order.lines[0].tax_rate", ""},
		{"a 10,000-line order", createOrder(&orderv1.Order{Lines: many}), codes.InvalidArgument, "order.lines", ""},
		{"an account that does not exist", func() error {
			_, err := s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{Account: "accounts/" + uuid.NewString(), CurrencyCode: "EUR"}})
			return err
		}(), codes.FailedPrecondition, "", "ACCOUNT_NOT_FOUND"},
		{"no lines on confirm", func() error {
			_, err := s.client.ConfirmOrder(ops, &orderv1.ConfirmOrderRequest{Name: empty.Name})
			return err
		}(), codes.FailedPrecondition, "", "ORDER_HAS_NO_LINES"},
		{"confirming a cancelled order", func() error {
			_, err := s.client.ConfirmOrder(ops, &orderv1.ConfirmOrderRequest{Name: cancelled.Name})
			return err
		}(), codes.FailedPrecondition, "", "INVALID_ORDER_STATUS"},
		{"cancelling without a reason", func() error {
			_, err := s.client.CancelOrder(ops, &orderv1.CancelOrderRequest{Name: o.Name})
			return err
		}(), codes.InvalidArgument, "reason", ""},
		{"holding without a reason", func() error {
			_, err := s.client.HoldOrder(ops, &orderv1.HoldOrderRequest{Name: o.Name})
			return err
		}(), codes.InvalidArgument, "reason", ""},
		{"a termed contract with term 0", createContract(&orderv1.Contract{}), codes.InvalidArgument, "contract.term_months", ""},
		{"an evergreen contract with a term", createContract(&orderv1.Contract{Evergreen: true, TermMonths: 12}), codes.InvalidArgument, "contract.term_months", ""},
		{"anchor day 0", createContract(&orderv1.Contract{TermMonths: 12, BillingAnchorDay: ptr(int32(0))}), codes.InvalidArgument, "contract.billing_anchor_day", ""},
		{"anchor day 32", createContract(&orderv1.Contract{TermMonths: 12, BillingAnchorDay: ptr(int32(32))}), codes.InvalidArgument, "contract.billing_anchor_day", ""},
		{"an impossible start date", createContract(&orderv1.Contract{TermMonths: 12, StartDate: &date.Date{Year: 2027, Month: 2, Day: 30}}), codes.InvalidArgument, "contract.start_date", ""},
		{"a contract line with zero quantity", createContract(&orderv1.Contract{TermMonths: 12, Lines: []*orderv1.OrderLine{line("S", "0", eur(1, 0))}}),
			codes.InvalidArgument, "contract.lines[0].quantity", ""},
		{"a contract ending before it starts", func() error {
			_, err := s.client.CancelContract(ops, &orderv1.CancelContractRequest{Name: c.Name, Reason: "oops", EffectiveDate: &date.Date{Year: 2026, Month: 12, Day: 31}})
			return err
		}(), codes.InvalidArgument, "effective_date", ""},
		{"a forecast ending before it starts", func() error {
			_, err := s.client.GetRevenueForecast(ops, &orderv1.GetRevenueForecastRequest{StartDate: &date.Date{Year: 2027, Month: 6, Day: 1}, EndDate: &date.Date{Year: 2027, Month: 1, Day: 1}})
			return err
		}(), codes.InvalidArgument, "end_date", ""},
		{"cancelling a contract without a reason", func() error {
			_, err := s.client.CancelContract(ops, &orderv1.CancelContractRequest{Name: c.Name})
			return err
		}(), codes.InvalidArgument, "reason", ""},
		{"notice on a draft", func() error {
			_, err := s.client.GiveContractNotice(ops, &orderv1.GiveContractNoticeRequest{Name: c.Name})
			return err
		}(), codes.FailedPrecondition, "", "INVALID_CONTRACT_STATUS"},
		{"a negative page size", func() error {
			_, err := s.client.ListOrders(ops, &orderv1.ListOrdersRequest{PageSize: -1})
			return err
		}(), codes.InvalidArgument, "page_size", ""},
		{"an unknown order_by", func() error {
			_, err := s.client.ListContracts(ops, &orderv1.ListContractsRequest{OrderBy: "price"})
			return err
		}(), codes.InvalidArgument, "order_by", ""},
		{"a malformed filter", func() error {
			_, err := s.client.ListOrders(ops, &orderv1.ListOrdersRequest{Filter: "status = = x"})
			return err
		}(), codes.InvalidArgument, "filter", ""},
		{"an order that does not exist", func() error {
			_, err := s.client.GetOrder(ops, &orderv1.GetOrderRequest{Name: "orders/" + uuid.NewString()})
			return err
		}(), codes.NotFound, "", "ORDER_NOT_FOUND"},
	}
	for _, c := range cases {
		reason, fields := testkit.RequireCode(t, c.err, c.code)
		if c.field != "" && !testkit.HasField(fields, c.field) {
			t.Errorf("%s: fields %v, want %s", c.name, fields, c.field)
		}
		if c.reason != "" && reason != c.reason {
			t.Errorf("%s: reason %s, want %s", c.name, reason, c.reason)
		}
	}
	if after := s.snapshot(t); after != before {
		t.Fatalf("bad input changed something:\n%s\n%s", before, after)
	}
}

func ptr[T any](v T) *T { return &v }

// Every mutating method refuses a stale etag with ABORTED and changes
// nothing.
func TestStaleEtagsAreRefusedEverywhere(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	o := s.order(t, account, line("P", "1", eur(10, 0)))
	c := s.contract(t, account, &orderv1.Contract{StartDate: &date.Date{Year: 2027, Month: 1, Day: 1}, TermMonths: 12})
	stale, staleContract := o.Etag, c.Etag
	// A change makes both etags stale.
	if _, err := s.client.AddOrderLines(ops, &orderv1.AddOrderLinesRequest{Name: o.Name, Lines: []*orderv1.OrderLine{line("Q", "1", eur(1, 0))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.UpdateContract(ops, &orderv1.UpdateContractRequest{Contract: &orderv1.Contract{Name: c.Name, Account: account, CurrencyCode: "EUR",
		StartDate: c.StartDate, DisplayName: "Support"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}); err != nil {
		t.Fatal(err)
	}
	before := s.snapshot(t)
	lines := []*orderv1.OrderLine{line("R", "1", eur(1, 0))}
	calls := map[string]error{}
	call := func(name string, err error) { calls[name] = err }
	_, err := s.client.UpdateOrder(ops, &orderv1.UpdateOrderRequest{Order: &orderv1.Order{Name: o.Name, Account: account, CurrencyCode: "EUR", DisplayName: "x", Etag: stale},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
	call("UpdateOrder", err)
	_, err = s.client.ConfirmOrder(ops, &orderv1.ConfirmOrderRequest{Name: o.Name, Etag: stale})
	call("ConfirmOrder", err)
	_, err = s.client.HoldOrder(ops, &orderv1.HoldOrderRequest{Name: o.Name, Reason: "r", Etag: stale})
	call("HoldOrder", err)
	_, err = s.client.ResumeOrder(ops, &orderv1.ResumeOrderRequest{Name: o.Name, Etag: stale})
	call("ResumeOrder", err)
	_, err = s.client.FulfillOrder(ops, &orderv1.FulfillOrderRequest{Name: o.Name, Etag: stale})
	call("FulfillOrder", err)
	_, err = s.client.CloseOrder(ops, &orderv1.CloseOrderRequest{Name: o.Name, Etag: stale})
	call("CloseOrder", err)
	_, err = s.client.ReopenOrder(ops, &orderv1.ReopenOrderRequest{Name: o.Name, Etag: stale})
	call("ReopenOrder", err)
	_, err = s.client.CancelOrder(ops, &orderv1.CancelOrderRequest{Name: o.Name, Reason: "r", Etag: stale})
	call("CancelOrder", err)
	_, err = s.client.AddOrderLines(ops, &orderv1.AddOrderLinesRequest{Name: o.Name, Lines: lines, Etag: stale})
	call("AddOrderLines", err)
	_, err = s.client.UpdateContract(ops, &orderv1.UpdateContractRequest{Contract: &orderv1.Contract{Name: c.Name, Account: account, CurrencyCode: "EUR",
		StartDate: c.StartDate, DisplayName: "y", Etag: staleContract}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
	call("UpdateContract", err)
	_, err = s.client.ActivateContract(ops, &orderv1.ActivateContractRequest{Name: c.Name, Etag: staleContract})
	call("ActivateContract", err)
	_, err = s.client.AmendContract(ops, &orderv1.AmendContractRequest{Name: c.Name, Lines: lines, EffectiveDate: &date.Date{Year: 2027, Month: 6, Day: 1}, Etag: staleContract})
	call("AmendContract", err)
	_, err = s.client.GiveContractNotice(ops, &orderv1.GiveContractNoticeRequest{Name: c.Name, Etag: staleContract})
	call("GiveContractNotice", err)
	_, err = s.client.RenewContract(ops, &orderv1.RenewContractRequest{Name: c.Name, Etag: staleContract})
	call("RenewContract", err)
	_, err = s.client.CancelContract(ops, &orderv1.CancelContractRequest{Name: c.Name, Reason: "r", Etag: staleContract})
	call("CancelContract", err)
	for name, err := range calls {
		if reason, _ := testkit.RequireCode(t, err, codes.Aborted); reason == "" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if after := s.snapshot(t); after != before {
		t.Fatalf("stale etags changed something:\n%s\n%s", before, after)
	}
}
