package wire_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// orderStream creates the order service's stream, with a duplicate window
// short enough that a test can deliver an event with the same id again.
func (s *suite) orderStream(t *testing.T) stream {
	t.Helper()
	s.nats.CreateStream(t, s.js, "order", 100*time.Millisecond)
	return stream{s: s, service: "order"}
}

// applied reports whether consumer has recorded event id in its inbox.
func (s *suite) applied(t *testing.T, consumer, id string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM lead.inbox WHERE consumer = $1 AND event_id = $2`, consumer, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func price(currency string, units int64, nanos int32) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: currency, Units: units, Nanos: nanos}
}

func orderLine(currency string) *orderv1.OrderLine {
	return &orderv1.OrderLine{ProductCode: "SKU-1", Quantity: "1", UnitPrice: price(currency, 100, 0)}
}

func meta(at time.Time) *eventsv1.EventMeta {
	return &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.New(at)}
}

func id(name string) string { return name[len(name)-36:] }

func (s *suite) lead(t *testing.T, name string) *leadv1.Lead {
	t.Helper()
	l, err := s.client.GetLead(testkit.As("alice"), &leadv1.GetLeadRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (s *suite) create(t *testing.T, l *leadv1.Lead) *leadv1.Lead {
	t.Helper()
	out, err := s.client.CreateLead(testkit.As("alice"), &leadv1.CreateLeadRequest{Lead: l, AllowDuplicate: true})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// qualifiedEvents returns the LeadQualified events of the lead stream by
// lead id, once want events are there.
func (s *suite) qualifiedEvents(t *testing.T, want int) map[string]*eventsv1.LeadQualified {
	t.Helper()
	out := map[string]*eventsv1.LeadQualified{}
	for _, e := range s.published(t, want) {
		if q, ok := e.(*eventsv1.LeadQualified); ok {
			out[q.LeadId] = q
		}
	}
	return out
}

func TestQualifyIntoAnOrderCarriesItAndCompletesWhenTheOrderIsMade(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	orders, accounts := s.orderStream(t), s.accountStream(t)
	ctx := testkit.As("alice")
	bakery := s.create(t, &leadv1.Lead{LastName: "Baker", Company: "Bakery", Campaign: "Spring fair"})
	shop := s.create(t, &leadv1.Lead{LastName: "Shop", Company: "Shop"})
	lines := []*orderv1.OrderLine{
		{ProductCode: "OVEN-1", ProductName: "Oven", Quantity: "2.5", UnitPrice: price("CHF", 1250, 500_000_000), DiscountPercent: "10", TaxRate: "7.7"},
		{ProductCode: "SVC", Quantity: "1", UnitPrice: price("CHF", 300, 0)},
	}
	req := &leadv1.QualifyLeadRequest{
		Name: bakery.Name, AccountTarget: newAccount(),
		Order: &leadv1.NewOrder{Lines: lines, ExpectedFulfillmentDate: &date.Date{Year: 2027, Month: 3, Day: 31}},
	}
	q, err := s.client.QualifyLead(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	c := q.GetConversion()
	if c.GetState() != leadv1.ConversionState_CONVERSION_STATE_PENDING || !strings.HasPrefix(c.Order, "orders/") ||
		c.Opportunity != "" || c.OrderCompleteTime != nil {
		t.Fatalf("conversion = %v", c)
	}
	// Qualifying it again changes nothing: same ids.
	if again, err := s.client.QualifyLead(ctx, req); err != nil || !proto.Equal(again, q) {
		t.Fatalf("again = %v, %v", again, err)
	}
	// Into a new account with a currency and an owner: the order takes
	// both.
	if _, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{
		Name: shop.Name, AccountTarget: &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{CurrencyCode: "EUR", Owner: "bob"}},
		Order: &leadv1.NewOrder{DisplayName: "First order", Lines: []*orderv1.OrderLine{orderLine("EUR")}},
	}); err != nil {
		t.Fatal(err)
	}

	qualified := s.qualifiedEvents(t, 4)
	ev := qualified[id(bakery.Name)]
	o := ev.GetOrder()
	if "orders/"+o.GetOrderId() != c.Order || o.DisplayName != "Bakery – Spring fair" || o.CurrencyCode != "CHF" ||
		o.Owner != "alice" || "accounts/"+o.AccountId != c.Account || "contacts/"+o.ContactId != c.Contact ||
		!proto.Equal(o.ExpectedFulfillmentDate, req.Order.ExpectedFulfillmentDate) || ev.Opportunity != nil {
		t.Errorf("order part = %v", o)
	}
	if !slices.EqualFunc(o.Lines, lines, func(a, b *orderv1.OrderLine) bool { return proto.Equal(a, b) }) {
		t.Errorf("lines = %v, want %v as given", o.Lines, lines)
	}
	if so := qualified[id(shop.Name)].GetOrder(); so.CurrencyCode != "EUR" || so.Owner != "bob" || so.DisplayName != "First order" {
		t.Errorf("order into an account with currency and owner = %v", so)
	}

	// The order service made the order: the order part is done, but the
	// conversion waits for the account service.
	at := time.Now().UTC().Truncate(time.Microsecond)
	made := &eventsv1.OrderCreated{Meta: meta(at), OrderId: o.OrderId, SourceLeadId: id(bakery.Name)}
	orders.publish(t, made)
	testkit.Eventually(t, 20*time.Second, func() bool { return s.lead(t, bakery.Name).GetConversion().GetOrderCompleteTime() != nil }, "order part applied")
	if got := s.lead(t, bakery.Name).GetConversion(); got.State != leadv1.ConversionState_CONVERSION_STATE_PENDING ||
		!got.OrderCompleteTime.AsTime().Equal(at) {
		t.Fatalf("after the order only: %v", got)
	}
	accounts.publish(t, &eventsv1.ContactCreated{Meta: meta(at), ContactId: id(c.Contact), SourceLeadId: id(bakery.Name)})
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.lead(t, bakery.Name).GetConversion().GetState() == leadv1.ConversionState_CONVERSION_STATE_COMPLETE
	}, "conversion complete")
	done := s.lead(t, bakery.Name)

	// Delivered again (past the stream's duplicate window, so the inbox
	// sees it), or published again under a new id: nothing changes. An
	// order made by hand is not ours, and marks when the consumer is
	// through the others.
	time.Sleep(150 * time.Millisecond)
	orders.publish(t, made)
	orders.publish(t, &eventsv1.OrderCreated{Meta: meta(time.Now()), OrderId: o.OrderId, SourceLeadId: id(bakery.Name)})
	byHand := &eventsv1.OrderCreated{Meta: meta(time.Now()), OrderId: uuid.NewString()}
	orders.publish(t, byHand)
	testkit.Eventually(t, 20*time.Second, func() bool { return s.applied(t, "lead-conversion-order", byHand.Meta.EventId) }, "consumer through")
	if after := s.lead(t, bakery.Name); after.Etag != done.Etag || !proto.Equal(after.GetConversion(), done.GetConversion()) {
		t.Fatalf("redelivery changed the lead:\n%v\n%v", done.GetConversion(), after.GetConversion())
	}
	// Two creates, two qualifications, and one LeadUpdated per part.
	if evs := s.published(t, 6); len(evs) != 6 {
		t.Fatalf("%d events, want 6: %v", len(evs), testkit.EventTypes(evs))
	}
}

func TestConversionWithAnOpportunityAndAnOrderCompletesWhenAllThreeApplied(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	streams := map[string]stream{"contact": s.accountStream(t), "opportunity": s.serviceStream(t, "opportunity"), "order": s.orderStream(t)}
	ctx := testkit.As("alice")
	orders := [][]string{{"contact", "opportunity", "order"}, {"order", "opportunity", "contact"}, {"opportunity", "order", "contact"}}
	leads := make([]*leadv1.Lead, len(orders))
	for i := range orders {
		l := s.create(t, &leadv1.Lead{LastName: "Deal", Company: "Deal Co"})
		q, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{
			Name: l.Name, AccountTarget: newAccount(), Opportunity: &leadv1.NewOpportunity{},
			Order: &leadv1.NewOrder{CurrencyCode: "USD", Lines: []*orderv1.OrderLine{orderLine("USD")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if c := q.GetConversion(); c.Order == "" || c.Opportunity == "" {
			t.Fatalf("conversion = %v", c)
		}
		leads[i] = q
	}
	published := func(l *leadv1.Lead, part string) {
		c := l.GetConversion()
		switch part {
		case "contact":
			streams[part].publish(t, &eventsv1.ContactCreated{Meta: meta(time.Now()), ContactId: id(c.Contact), SourceLeadId: id(l.Name)})
		case "opportunity":
			streams[part].publish(t, &eventsv1.OpportunityCreated{Meta: meta(time.Now()), OpportunityId: id(c.Opportunity), SourceLeadId: id(l.Name)})
		case "order":
			streams[part].publish(t, &eventsv1.OrderCreated{Meta: meta(time.Now()), OrderId: id(c.Order), SourceLeadId: id(l.Name)})
		}
	}
	doneTime := func(c *leadv1.Conversion, part string) *timestamppb.Timestamp {
		return map[string]*timestamppb.Timestamp{
			"contact": c.GetAccountCompleteTime(), "opportunity": c.GetOpportunityCompleteTime(), "order": c.GetOrderCompleteTime(),
		}[part]
	}
	for step := range 3 {
		for i, l := range leads {
			published(l, orders[i][step])
		}
		testkit.Eventually(t, 20*time.Second, func() bool {
			for i, l := range leads {
				if doneTime(s.lead(t, l.Name).GetConversion(), orders[i][step]) == nil {
					return false
				}
			}
			return true
		}, "step %d applied", step)
		for i, l := range leads {
			want := leadv1.ConversionState_CONVERSION_STATE_PENDING
			if step == 2 {
				want = leadv1.ConversionState_CONVERSION_STATE_COMPLETE
			}
			if got := s.lead(t, l.Name).GetConversion(); got.State != want {
				t.Fatalf("%v after %d parts: %v", orders[i], step+1, got)
			}
		}
	}
}

func TestOrderServiceRejectionFailsTheConversion(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	orders := s.orderStream(t)
	ctx := testkit.As("alice")
	l := s.create(t, &leadv1.Lead{LastName: "Refused", Company: "Refused Ltd"})
	req := &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount(), Order: &leadv1.NewOrder{Lines: []*orderv1.OrderLine{orderLine("EUR")}}}
	q, err := s.client.QualifyLead(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	attempt := s.qualifiedEvents(t, 2)[id(l.Name)].GetMeta().GetEventId()
	at := time.Now().UTC().Truncate(time.Microsecond)
	// A rejection of another attempt is not about this one.
	orders.publish(t, &eventsv1.LeadConversionRejected{Meta: meta(at), LeadId: id(l.Name), QualifiedEventId: uuid.NewString(), Reason: "OLD"})
	orders.publish(t, &eventsv1.LeadConversionRejected{
		Meta: meta(at), LeadId: id(l.Name), QualifiedEventId: attempt,
		Reason: "INVALID_ORDER", Message: "the converted order is not valid",
	})
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.lead(t, l.Name).GetConversion().GetState() == leadv1.ConversionState_CONVERSION_STATE_FAILED
	}, "conversion failed")
	if c := s.lead(t, l.Name).GetConversion(); c.FailureReason != "INVALID_ORDER" || c.FailureMessage == "" || !c.FailTime.AsTime().Equal(at) {
		t.Fatalf("failed = %v", c)
	}
	// It can be qualified again: new ids, PENDING again.
	again, err := s.client.QualifyLead(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	was, now := q.GetConversion(), again.GetConversion()
	if now.State != leadv1.ConversionState_CONVERSION_STATE_PENDING || now.FailureReason != "" ||
		now.Order == "" || now.Order == was.Order || now.Account == was.Account || now.Contact == was.Contact {
		t.Fatalf("retried conversion = %v, was %v", now, was)
	}
}

func TestQualifyWithABadOrderChangesNothing(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	l := s.create(t, &leadv1.Lead{FirstName: "Grace", LastName: "Hopper", Company: "Navy"})
	s.published(t, 1)
	before, snap := s.lead(t, l.Name), snapshot(t, s)
	with := func(edit func(*orderv1.OrderLine)) []*orderv1.OrderLine {
		bad := orderLine("EUR")
		edit(bad)
		return []*orderv1.OrderLine{orderLine("EUR"), bad}
	}
	order := func(o *leadv1.NewOrder) *leadv1.QualifyLeadRequest {
		return &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount(), Order: o}
	}
	inGBP := order(&leadv1.NewOrder{Lines: []*orderv1.OrderLine{orderLine("EUR")}})
	inGBP.AccountTarget = &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{CurrencyCode: "GBP"}}
	intoExisting := order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.Quantity = "0" })})
	intoExisting.AccountTarget = &leadv1.QualifyLeadRequest_ExistingAccount{ExistingAccount: "accounts/" + uuid.NewString()}
	cases := []struct {
		name  string
		req   *leadv1.QualifyLeadRequest
		field string
	}{
		{"zero quantity", order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.Quantity = "0" })}), "order.lines[1].quantity"},
		{"negative quantity", order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.Quantity = "-2" })}), "order.lines[1].quantity"},
		{"no quantity", order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.Quantity = "" })}), "order.lines[1].quantity"},
		{"line in another currency", order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.UnitPrice.CurrencyCode = "USD" })}), "order.lines[1].unit_price.currency_code"},
		{"lines not in the order's currency", order(&leadv1.NewOrder{CurrencyCode: "USD", Lines: []*orderv1.OrderLine{orderLine("EUR")}}), "order.lines[0].unit_price.currency_code"},
		{"lines not in the new account's currency", inGBP, "order.lines[0].unit_price.currency_code"},
		{"discount over 100", order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.DiscountPercent = "100.01" })}), "order.lines[1].discount_percent"},
		{"negative tax rate", order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.TaxRate = "-1" })}), "order.lines[1].tax_rate"},
		{"negative price", order(&leadv1.NewOrder{Lines: with(func(l *orderv1.OrderLine) { l.UnitPrice.Units = -1 })}), "order.lines[1].unit_price"},
		{"unknown currency", order(&leadv1.NewOrder{CurrencyCode: "XYZ", Lines: []*orderv1.OrderLine{orderLine("XYZ")}}), "order.currency_code"},
		{"no lines", order(&leadv1.NewOrder{}), "order.lines"},
		{"no such date", order(&leadv1.NewOrder{Lines: []*orderv1.OrderLine{orderLine("EUR")}, ExpectedFulfillmentDate: &date.Date{Year: 2027, Month: 2, Day: 29}}), "order.expected_fulfillment_date"},
		// Refused before the account service is asked (it is down here).
		{"into an existing account", intoExisting, "order.lines[1].quantity"},
	}
	for _, c := range cases {
		_, err := s.client.QualifyLead(ctx, c.req)
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, c.field) {
			t.Errorf("%s: violations %v, want one on %s", c.name, fields, c.field)
		}
	}
	if after := s.lead(t, l.Name); !proto.Equal(after, before) {
		t.Fatalf("a refused conversion changed the lead:\n%v\n%v", before, after)
	}
	if after := snapshot(t, s); after != snap {
		t.Fatalf("bad conversions changed data:\nbefore %s\nafter  %s", snap, after)
	}
}

// The opportunity side's rejection fails the conversion too, with its
// reason.
func TestOpportunityServiceRejectionFailsTheConversion(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	opportunities := s.serviceStream(t, "opportunity")
	ctx := testkit.As("alice")
	l := s.create(t, &leadv1.Lead{LastName: "Refused", Company: "Refused Ltd"})
	if _, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount(),
		Opportunity: &leadv1.NewOpportunity{DisplayName: "Deal"}}); err != nil {
		t.Fatal(err)
	}
	attempt := s.qualifiedEvents(t, 2)[id(l.Name)].GetMeta().GetEventId()
	at := time.Now().UTC().Truncate(time.Microsecond)
	opportunities.publish(t, &eventsv1.LeadConversionRejected{
		Meta: meta(at), LeadId: id(l.Name), QualifiedEventId: attempt,
		Reason: "INVALID_OPPORTUNITY", Message: "the converted opportunity is not valid",
	})
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.lead(t, l.Name).GetConversion().GetState() == leadv1.ConversionState_CONVERSION_STATE_FAILED
	}, "conversion failed")
	if c := s.lead(t, l.Name).GetConversion(); c.FailureReason != "INVALID_OPPORTUNITY" {
		t.Fatalf("failed = %v", c)
	}
}
