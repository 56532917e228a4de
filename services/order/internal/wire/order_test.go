package wire_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/testkit"
)

// An order from draft to closed: totals exact to the cent (lines round
// first), a credit check on confirm, partial then full delivery, close;
// every step is in the history and on the stream.
func TestOrderLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, contact := s.customer(t, "Acme", 100000)
	o, err := s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{
		Account: account, Contact: contact, CurrencyCode: "EUR", DisplayName: "Widgets",
		Lines: []*orderv1.OrderLine{
			// 3 x 19.99 = 59.97, less 12.5 % = 7.50 (7.49625 rounds up), tax 20 % of 52.47 = 10.49 (10.494).
			{ProductCode: "W-1", Quantity: "3", UnitPrice: eur(19, 990000000), DiscountPercent: "12.5", TaxRate: "20"},
			// 2.5 x 0.333 = 0.8325 -> 0.83; tax 7 % of 0.83 = 0.0581 -> 0.06.
			{ProductCode: "W-2", ProductName: "Washers", Quantity: "2.5", UnitPrice: eur(0, 333000000), TaxRate: "7"},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"subtotal": "60.8", "discount": "7.5", "tax": "10.55", "total": "63.85"}
	got := map[string]string{"subtotal": money.Decimal(o.Subtotal), "discount": money.Decimal(o.Discount), "tax": money.Decimal(o.Tax), "total": money.Decimal(o.Total)}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("%s = %s, want %s (%v)", k, got[k], want[k], o)
		}
	}
	if o.Status != orderv1.OrderStatus_ORDER_STATUS_DRAFT || o.Lines[0].Id != "1" || o.Lines[1].Id != "2" || o.Lines[1].ProductName != "Washers" || o.Owner != "olga" {
		t.Fatalf("created: %v", o)
	}
	o, err = s.client.ConfirmOrder(ops, &orderv1.ConfirmOrderRequest{Name: o.Name, Etag: o.Etag})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED || o.CreditCheck.GetResult() != orderv1.CreditCheckResult_CREDIT_CHECK_RESULT_PASSED ||
		money.Decimal(o.CreditCheck.GetExposure()) != "63.85" || o.PaymentTerms != "NET_30" {
		t.Fatalf("confirmed: %v", o)
	}
	// A plain update of a confirmed order is refused, naming its status.
	_, err = s.client.UpdateOrder(ops, &orderv1.UpdateOrderRequest{Order: &orderv1.Order{Name: o.Name, Account: account, CurrencyCode: "EUR",
		DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "INVALID_ORDER_STATUS" {
		t.Fatalf("update of a confirmed order: %v", err)
	}
	o, err = s.client.FulfillOrder(ops, &orderv1.FulfillOrderRequest{Name: o.Name, Lines: []*orderv1.LineFulfillment{{LineId: "1", Quantity: "2"}}})
	if err != nil || o.Status != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED || o.Lines[0].FulfilledQuantity != "2" {
		t.Fatalf("partial delivery: %v, %v", o, err)
	}
	_, err = s.client.FulfillOrder(ops, &orderv1.FulfillOrderRequest{Name: o.Name, Lines: []*orderv1.LineFulfillment{{LineId: "1", Quantity: "2"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "lines[0].quantity") {
		t.Fatalf("over-delivery: %v", fields)
	}
	o, err = s.client.FulfillOrder(ops, &orderv1.FulfillOrderRequest{Name: o.Name})
	if err != nil || o.Status != orderv1.OrderStatus_ORDER_STATUS_FULFILLED || o.Lines[1].FulfilledQuantity != "2.5" {
		t.Fatalf("delivered: %v, %v", o, err)
	}
	o, err = s.client.CloseOrder(ops, &orderv1.CloseOrderRequest{Name: o.Name})
	if err != nil || o.Status != orderv1.OrderStatus_ORDER_STATUS_CLOSED {
		t.Fatalf("closed: %v, %v", o, err)
	}
	if got := s.query(t, `SELECT amount::text FROM credit_exposure`); got != "0.00" && got != "0" {
		t.Fatalf("exposure after close: %s", got)
	}
	hist, err := s.client.ListOrderStatusChanges(ops, &orderv1.ListOrderStatusChangesRequest{Parent: o.Name})
	if err != nil || len(hist.StatusChanges) != 3 {
		t.Fatalf("history: %v, %v", hist, err)
	}
	evs := s.published(t, 5)
	types := testkit.EventTypes(evs)
	wantTypes := []string{"OrderCreated", "OrderConfirmed", "OrderUpdated", "OrderFulfilled", "OrderClosed"}
	if len(types) != len(wantTypes) {
		t.Fatalf("events %v, want %v", types, wantTypes)
	}
	for i := range wantTypes {
		if types[i] != wantTypes[i] {
			t.Fatalf("events %v, want %v", types, wantTypes)
		}
	}
	if c := evs[1].(*eventsv1.OrderConfirmed); c.GetAccountId() == "" || c.GetCreditCheck() == nil {
		t.Fatalf("confirmed event: %v", c)
	}
}
