package grpc

import (
	"math/big"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/order/internal/domain"
	"github.com/crmsuite/crm/services/order/internal/protomap"
)

var validator, _ = protovalidate.New()

// invalidOrNil fails the fuzz case unless err is nil or an InvalidArgument
// with at least one field violation.
func invalidOrNil(t *testing.T, what string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != apperr.KindInvalidArgument || len(ae.Violations) == 0 {
		t.Fatalf("%s: %v is not an InvalidArgument with field violations", what, err)
	}
	return false
}

func eur(u int64, n int32) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: "EUR", Units: u, Nanos: n}
}

// Any byte string decoded as a CreateOrderRequest is either refused with
// field violations or becomes a draft order whose totals are the exact
// sums of its rounded lines, each a whole number of minor units.
func FuzzCreateOrderRequest(f *testing.F) {
	for _, o := range []*orderv1.Order{
		{Account: "accounts/" + uuid.NewString(), CurrencyCode: "EUR", Lines: []*orderv1.OrderLine{
			{ProductCode: "A", Quantity: "2.5", UnitPrice: eur(3, 330000000), DiscountPercent: "12.5", TaxRate: "19"},
			{ProductCode: "B", Quantity: "1", UnitPrice: &moneypb.Money{CurrencyCode: "USD", Units: 1}}}},
		{Account: "accounts/" + uuid.NewString(), CurrencyCode: "JPY", Lines: []*orderv1.OrderLine{{ProductCode: "A", Quantity: "3", UnitPrice: &moneypb.Money{CurrencyCode: "JPY", Units: 333}, TaxRate: "8"}}},
		{Account: "accounts/" + uuid.NewString(), CurrencyCode: "EUR", Lines: []*orderv1.OrderLine{{ProductCode: "A", Quantity: "-1", UnitPrice: eur(-1, 0), DiscountPercent: "101", TaxRate: "-3"}}},
		{},
	} {
		b, _ := proto.Marshal(&orderv1.CreateOrderRequest{Order: o})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req orderv1.CreateOrderRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		in, bad := protomap.OrderFromProto(req.GetOrder())
		if bad != "" {
			return
		}
		o, _, err := domain.NewOrder(in, uuid.Nil, "fuzzer", time.Now())
		if !invalidOrNil(t, "NewOrder", err) {
			return
		}
		sums := [4]*big.Rat{new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat)}
		unit := new(big.Rat).SetFrac64(1, pow10(money.MinorUnits(o.Currency)))
		for _, l := range o.Lines {
			for k, m := range []*moneypb.Money{l.Subtotal, l.Discount, l.Tax, l.Total} {
				if m.GetCurrencyCode() != o.Currency || !new(big.Rat).Quo(money.Rat(m), unit).IsInt() {
					t.Fatalf("line amount %v in %s is not whole minor units", m, o.Currency)
				}
				sums[k].Add(sums[k], money.Rat(m))
			}
			if new(big.Rat).Sub(new(big.Rat).Add(new(big.Rat).Sub(money.Rat(l.Subtotal), money.Rat(l.Discount)), money.Rat(l.Tax)), money.Rat(l.Total)).Sign() != 0 {
				t.Fatalf("line does not add up: %+v", l)
			}
		}
		for k, m := range []*moneypb.Money{o.Totals.Subtotal, o.Totals.Discount, o.Totals.Tax, o.Totals.Total} {
			if money.Rat(m).Cmp(sums[k]) != 0 {
				t.Fatalf("total %d is %v, the lines sum to %v", k, m, sums[k])
			}
		}
	})
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// Any CreateContractRequest is refused with field violations or becomes a
// draft contract whose billing schedule can be computed.
func FuzzCreateContractRequest(f *testing.F) {
	for _, c := range []*orderv1.Contract{
		{Account: "accounts/" + uuid.NewString(), CurrencyCode: "EUR", StartDate: &date.Date{Year: 2027, Month: 1, Day: 31}, TermMonths: 12,
			Lines: []*orderv1.OrderLine{{ProductCode: "S", Quantity: "1", UnitPrice: eur(99, 990000000)}}},
		{Account: "accounts/" + uuid.NewString(), CurrencyCode: "EUR", StartDate: &date.Date{Year: 2028, Month: 2, Day: 29}, Evergreen: true,
			BillingInterval: orderv1.BillingInterval_BILLING_INTERVAL_YEARLY, BillingAnchorDay: proto.Int32(31)},
		{Account: "accounts/" + uuid.NewString(), CurrencyCode: "EUR", StartDate: &date.Date{Year: 2027, Month: 13, Day: 1}, BillingAnchorDay: proto.Int32(0)},
	} {
		b, _ := proto.Marshal(&orderv1.CreateContractRequest{Contract: c})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req orderv1.CreateContractRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		in, bad := protomap.ContractFromProto(req.GetContract())
		if bad != "" {
			return
		}
		c, _, err := domain.NewContract(in, uuid.Nil, "fuzzer", time.Now())
		if !invalidOrNil(t, "NewContract", err) {
			return
		}
		if _, err := domain.Schedule(c.ScheduleInput(domain.AddMonthsClamped(c.Start, 24, 1))); err != nil {
			t.Fatalf("a valid contract's schedule: %v (%+v)", err, c)
		}
	})
}
