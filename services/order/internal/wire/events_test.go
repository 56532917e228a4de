package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/testkit"
)

func meta() *eventsv1.EventMeta {
	return &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now(), Actor: "sam"}
}

// won is an OpportunityWon event of a new opportunity of account.
func won(account, contact string) *eventsv1.OpportunityWon {
	id := uuid.New()
	return &eventsv1.OpportunityWon{
		Meta: meta(), OpportunityId: id.String(), AccountId: account[len("accounts/"):], ContactId: contact[len("contacts/"):], Owner: "sam",
		Opportunity: &opportunityv1.Opportunity{
			Name: "opportunities/" + id.String(), DisplayName: "Big deal", Account: account, PrimaryContact: contact, Owner: "sam",
			State: opportunityv1.OpportunityState_OPPORTUNITY_STATE_WON, ExpectedCloseDate: &date.Date{Year: 2027, Month: 3, Day: 31},
			LineItems: []*opportunityv1.LineItem{{Product: "SKU-1", Quantity: "3", UnitPrice: eur(400, 0), DiscountPercent: "10"}},
		},
	}
}

// ordersOf lists the orders of a source opportunity.
func (s *suite) ordersOf(t *testing.T, opportunity string) []*orderv1.Order {
	t.Helper()
	resp, err := s.client.ListOrders(ops, &orderv1.ListOrdersRequest{Filter: `source_opportunity = "` + opportunity + `"`})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Orders
}

// An opportunity won makes exactly one draft order with its lines,
// whatever redeliveries happen; won again while the order is a draft, it
// updates the order; once confirmed, it changes nothing and the history
// says why.
func TestOpportunityWonMakesExactlyOneDraftOrder(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, contact := s.customer(t, "Acme", 0)
	ev := won(account, contact)
	opp := ev.Opportunity.Name
	s.nats.Publish(t, s.js, "opportunity", ev)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(s.ordersOf(t, opp)) == 1 }, "the won opportunity's order")
	// The same event again (past the stream's duplicate window), and the
	// same win under another event id (a retried publish).
	time.Sleep(150 * time.Millisecond)
	s.nats.Publish(t, s.js, "opportunity", ev)
	again := proto.CloneOf(ev)
	again.Meta = meta()
	s.nats.Publish(t, s.js, "opportunity", again)
	s.waitConsumed(t, "opportunity", eventsConsumer)
	orders := s.ordersOf(t, opp)
	if len(orders) != 1 {
		t.Fatalf("%d orders for one win", len(orders))
	}
	o := orders[0]
	if o.Status != orderv1.OrderStatus_ORDER_STATUS_DRAFT || o.Account != account || o.Contact != contact || o.Owner != "sam" ||
		len(o.Lines) != 1 || o.Lines[0].ProductCode != "SKU-1" || o.Total.GetUnits() != 1080 || o.DisplayName != "Big deal" ||
		o.ExpectedFulfillmentDate.GetMonth() != 3 {
		t.Fatalf("order: %v", o)
	}
	// Won again with other lines while a draft: the draft follows.
	rewon := proto.CloneOf(ev)
	rewon.Meta = meta()
	rewon.Opportunity.LineItems = []*opportunityv1.LineItem{{Product: "SKU-2", Quantity: "1", UnitPrice: eur(50, 0)}}
	s.nats.Publish(t, s.js, "opportunity", rewon)
	testkit.Eventually(t, 10*time.Second, func() bool { return s.ordersOf(t, opp)[0].Lines[0].ProductCode == "SKU-2" }, "the draft takes the new lines")
	o = s.confirmed(t, s.ordersOf(t, opp)[0])
	third := proto.CloneOf(rewon)
	third.Meta = meta()
	third.Opportunity.LineItems[0].Quantity = "7"
	s.nats.Publish(t, s.js, "opportunity", third)
	testkit.Eventually(t, 10*time.Second, func() bool {
		h, err := s.client.ListOrderStatusChanges(ops, &orderv1.ListOrderStatusChangesRequest{Parent: o.Name})
		return err == nil && len(h.StatusChanges) == 2 && h.StatusChanges[1].FromStatus == h.StatusChanges[1].ToStatus
	}, "a note that the confirmed order was not changed")
	if got := s.ordersOf(t, opp); len(got) != 1 || got[0].Lines[0].Quantity != "1" || got[0].Etag != o.Etag {
		t.Fatalf("a confirmed order changed on a re-win: %v", got)
	}
}

const eventsConsumer = "order-opportunities"

// waitConsumed waits until consumer (of service's stream) has acked
// every event published so far.
func (s *suite) waitConsumed(t *testing.T, service, consumer string) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, 10*time.Second, func() bool {
		c, err := s.js.Consumer(ctx, events.StreamName(s.nats.Namespace, service), consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "%s consumed everything", consumer)
}

// deadLetters returns consumer's dead letters once there are want.
func (s *suite) deadLetters(t *testing.T, consumer string, want int) []*jetstream.RawStreamMsg {
	t.Helper()
	return s.nats.DeadLetters(t, s.js, consumer, want)
}

var moneyUSD = moneypb.Money{CurrencyCode: "USD", Units: 1}

// OpportunityWon for an account the account service does not know is
// dead-lettered with the reason, and makes no order.
func TestOpportunityWonForAnUnknownAccountIsDeadLettered(t *testing.T) {
	t.Parallel()
	s := start(t)
	_, contact := s.customer(t, "Acme", 0)
	ev := won("accounts/"+uuid.NewString(), contact)
	s.nats.Publish(t, s.js, "opportunity", ev)
	dl := s.deadLetters(t, eventsConsumer, 1)
	if r := dl[0].Header.Get(inbox.HeaderDLQReason); len(r) < 17 || r[:17] != "ACCOUNT_NOT_FOUND" {
		t.Fatalf("dead-letter reason %q", r)
	}
	if got := s.ordersOf(t, ev.Opportunity.Name); len(got) != 0 {
		t.Fatalf("orders for an unknown account: %v", got)
	}
}

// A recurring deal won makes a draft contract instead.
func TestRecurringDealWonMakesADraftContract(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, contact := s.customer(t, "Acme", 0)
	ev := won(account, contact)
	ev.Opportunity.ContractTerms = &opportunityv1.ContractTerms{BillingInterval: orderv1.BillingInterval_BILLING_INTERVAL_MONTHLY, TermMonths: 12, AutoRenew: true}
	ev.Opportunity.ExpectedCloseDate = &date.Date{Year: 2099, Month: 1, Day: 15}
	s.nats.Publish(t, s.js, "opportunity", ev)
	var c *orderv1.Contract
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, err := s.client.ListContracts(ops, &orderv1.ListContractsRequest{Filter: `source_opportunity = "` + ev.Opportunity.Name + `"`})
		if err != nil || len(resp.Contracts) != 1 {
			return false
		}
		c = resp.Contracts[0]
		return true
	}, "the won deal's contract")
	if c.Status != orderv1.ContractStatus_CONTRACT_STATUS_DRAFT || c.TermMonths != 12 || !c.AutoRenew || c.StartDate.GetYear() != 2099 ||
		c.RecurringAmount.GetUnits() != 1080 || c.GetBillingAnchorDay() != 15 || len(s.ordersOf(t, ev.Opportunity.Name)) != 0 {
		t.Fatalf("contract: %v", c)
	}
}

// A lead conversion that asks for an order makes it with the carried id;
// one that cannot be made (lines in two currencies) is dead-lettered and
// the lead service is told: LeadConversionRejected on the order stream.
func TestLeadConversionOrders(t *testing.T) {
	t.Parallel()
	s := start(t)
	o := s.convertedOrder(t)
	if o.Status != orderv1.OrderStatus_ORDER_STATUS_DRAFT || o.SourceLead == "" || o.Total.GetUnits() != 20 {
		t.Fatalf("converted order: %v", o)
	}
	bad := qualified(uuid.NewString())
	bad.Order.Lines = append(bad.Order.Lines, &orderv1.OrderLine{ProductCode: "X", Quantity: "1", UnitPrice: &moneyUSD})
	s.nats.Publish(t, s.js, "lead", bad)
	s.deadLetters(t, "order-lead-qualified", 1)
	var rej *eventsv1.LeadConversionRejected
	testkit.Eventually(t, 20*time.Second, func() bool {
		for _, e := range s.nats.Published(t, s.js, "order", 1) {
			if r, ok := e.(*eventsv1.LeadConversionRejected); ok {
				rej = r
				return true
			}
		}
		return false
	}, "a LeadConversionRejected")
	if rej.LeadId != bad.LeadId || rej.Reason != "INVALID_ORDER" || rej.QualifiedEventId != bad.Meta.EventId {
		t.Fatalf("rejection: %v", rej)
	}
}

// qualified is a LeadQualified event of a new lead asking for an order of
// two 10 EUR units for a new account.
func qualified(accountID string) *eventsv1.LeadQualified {
	lead := uuid.NewString()
	return &eventsv1.LeadQualified{
		Meta: meta(), LeadId: lead,
		Account: &eventsv1.ConversionAccount{AccountId: accountID, Create: true, DisplayName: "Acme"},
		Contact: &eventsv1.ConversionContact{ContactId: uuid.NewString(), Create: true, LastName: "Buyer"},
		Order: &eventsv1.ConversionOrder{
			OrderId: uuid.NewString(), DisplayName: "Acme – web", CurrencyCode: "EUR", Owner: "sam",
			Lines: []*orderv1.OrderLine{line("P", "2", eur(10, 0))},
		},
	}
}

// convertedOrder has the service make an order from a lead conversion and
// returns it.
func (s *suite) convertedOrder(t *testing.T) *orderv1.Order {
	t.Helper()
	ev := qualified(uuid.NewString())
	s.nats.Publish(t, s.js, "lead", ev)
	var o *orderv1.Order
	testkit.Eventually(t, 10*time.Second, func() bool {
		got, err := s.client.GetOrder(ops, &orderv1.GetOrderRequest{Name: "orders/" + ev.Order.OrderId})
		o = got
		return err == nil
	}, "the converted order")
	return o
}

// The account projection: a salesperson reads the orders of the accounts
// it owns (and those it owns), not others'.
func TestSalespeopleReadOrdersOfTheirAccounts(t *testing.T) {
	t.Parallel()
	s := start(t)
	mine, _ := s.customer(t, "Mine", 0) // created by alice: alice owns it
	other, err := s.accounts.CreateAccount(testkit.As("bob"), &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Bob's", CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	a := s.order(t, mine, line("P", "1", eur(1, 0)))
	b := s.order(t, other.Name, line("P", "1", eur(1, 0)))
	alice := testkit.As("alice", "sales")
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := s.client.GetOrder(alice, &orderv1.GetOrderRequest{Name: a.Name})
		return err == nil
	}, "alice reads the order of her account once the projection has it")
	_, err = s.client.GetOrder(alice, &orderv1.GetOrderRequest{Name: b.Name})
	testkit.RequireDenied(t, "alice reads bob's account's order", err)
	list, err := s.client.ListOrders(alice, &orderv1.ListOrdersRequest{})
	if err != nil || len(list.Orders) != 1 || list.Orders[0].Name != a.Name {
		t.Fatalf("alice's list: %v, %v", list, err)
	}
	_, err = s.client.ConfirmOrder(alice, &orderv1.ConfirmOrderRequest{Name: a.Name})
	testkit.RequireDenied(t, "a salesperson confirms", err)
	// A salesperson makes orders only from its own won opportunities.
	_, err = s.client.CreateOrder(alice, &orderv1.CreateOrderRequest{Order: &orderv1.Order{Account: mine, CurrencyCode: "EUR"}})
	if reason, fields := testkit.RequireCode(t, err, codes.InvalidArgument); reason == "" || !testkit.HasField(fields, "source_opportunity") {
		t.Fatalf("sales order without an opportunity: %v", err)
	}
}
