package wire_test

import (
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/types/known/timestamppb"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/testkit"
)

// The order reports: the pipeline by status, the revenue forecast by
// month from confirmed orders (at their expected date) and contracts (per
// billing period), performance per owner; salespeople see their own.
func TestOrderReports(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	expect := func(y, m, d int) *date.Date { return day(y, m, d) }
	mk := func(owner string, amount int64, when *date.Date) *orderv1.Order {
		o, err := s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{Account: account, CurrencyCode: "EUR", Owner: owner,
			ExpectedFulfillmentDate: when, Lines: []*orderv1.OrderLine{{ProductCode: "P", Quantity: "1", UnitPrice: eur(amount, 0), TaxRate: "20"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	a := s.confirmed(t, mk("sam", 100, expect(2030, 1, 15)))
	s.confirmed(t, mk("sam", 200, expect(2030, 2, 1)))
	s.confirmed(t, mk("kim", 50, expect(2030, 4, 10)))
	mk("kim", 999, expect(2030, 1, 20)) // a draft: not revenue
	cancelled := s.confirmed(t, mk("kim", 70, expect(2030, 1, 20)))
	if _, err := s.client.CancelOrder(ops, &orderv1.CancelOrderRequest{Name: cancelled.Name, Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.FulfillOrder(ops, &orderv1.FulfillOrderRequest{Name: a.Name}); err != nil {
		t.Fatal(err)
	}
	// A contract from 2030-01-01, 100 a month for 12 months.
	c := s.contract(t, account, &orderv1.Contract{StartDate: day(2030, 1, 1), TermMonths: 12, Owner: "sam"})
	s.activate(t, c)

	fc, err := s.client.GetRevenueForecast(ops, &orderv1.GetRevenueForecastRequest{Period: orderv1.ReportPeriod_REPORT_PERIOD_QUARTER,
		StartDate: day(2030, 1, 1), EndDate: day(2030, 6, 30), GroupByOwner: true})
	if err != nil {
		t.Fatal(err)
	}
	type cell struct{ orders, contracts string }
	got := map[string]cell{}
	for _, r := range fc.Rows {
		got[r.PeriodStart.String()+"/"+r.Owner] = cell{money.Decimal(r.OrderAmount), money.Decimal(r.ContractAmount)}
	}
	// Net of tax: sam's Q1 orders 300 and 3 months of the contract, kim's
	// Q2 order 50; Q2 of the contract is sam's too.
	want := map[string]cell{
		day(2030, 1, 1).String() + "/sam": {"300", "300"},
		day(2030, 4, 1).String() + "/sam": {"0", "300"},
		day(2030, 4, 1).String() + "/kim": {"50", "0"},
	}
	if len(got) != len(want) {
		t.Fatalf("forecast %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Fatalf("forecast %s = %v, want %v (all: %v)", k, got[k], w, got)
		}
	}
	// A salesperson's forecast is its own.
	own, err := s.client.GetRevenueForecast(testkit.As("kim", "sales"), &orderv1.GetRevenueForecastRequest{StartDate: day(2030, 1, 1), EndDate: day(2030, 12, 31)})
	if err != nil || len(own.Rows) != 1 || money.Decimal(own.Rows[0].OrderAmount) != "50" {
		t.Fatalf("kim's forecast: %v, %v", own, err)
	}

	p, err := s.client.GetOrderPipeline(ops, &orderv1.GetOrderPipelineRequest{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[orderv1.OrderStatus]int64{}
	for _, r := range p.Orders {
		counts[r.Status] = r.Count
	}
	if counts[orderv1.OrderStatus_ORDER_STATUS_CONFIRMED] != 2 || counts[orderv1.OrderStatus_ORDER_STATUS_FULFILLED] != 1 ||
		counts[orderv1.OrderStatus_ORDER_STATUS_DRAFT] != 1 || counts[orderv1.OrderStatus_ORDER_STATUS_CANCELLED] != 1 ||
		len(p.Contracts) != 1 || money.Decimal(p.Contracts[0].MonthlyAmount) != "100" {
		t.Fatalf("pipeline: %v", p)
	}

	perf, err := s.client.GetOrderPerformance(ops, &orderv1.GetOrderPerformanceRequest{StartTime: timestamppb.New(time.Now().Add(-time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	byOwner := map[string]*orderv1.OwnerOrderPerformance{}
	for _, r := range perf.Owners {
		byOwner[r.Owner] = r
	}
	if sam := byOwner["sam"]; sam == nil || sam.OrderCount != 2 || money.Decimal(sam.Revenue) != "300" || money.Decimal(sam.AverageOrderValue) != "150" ||
		sam.FulfilledCount != 1 || sam.AverageDaysToFulfill < 0 {
		t.Fatalf("sam's performance: %v", sam)
	}
	if kim := byOwner["kim"]; kim == nil || kim.OrderCount != 1 || kim.CancelledCount != 1 {
		t.Fatalf("kim's performance: %v", kim)
	}
}
