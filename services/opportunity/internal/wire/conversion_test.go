package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/testkit"
)

// qualify publishes a LeadQualified event with id on the lead stream, as
// the lead service's relay would.
func (s *suite) qualify(t *testing.T, id string, ev *eventsv1.LeadQualified) {
	t.Helper()
	ev.Meta = &eventsv1.EventMeta{EventId: id, Actor: "seller"}
	s.nats.Publish(t, s.js, "lead", ev)
}

func conversion(opportunityID string) *eventsv1.LeadQualified {
	accountID, contactID := uuid.NewString(), uuid.NewString()
	ev := &eventsv1.LeadQualified{
		LeadId:  uuid.NewString(),
		Account: &eventsv1.ConversionAccount{AccountId: accountID, Create: true, DisplayName: "Converted Inc"},
		Contact: &eventsv1.ConversionContact{ContactId: contactID, Create: true, LastName: "Hopper"},
	}
	if opportunityID != "" {
		ev.Opportunity = &eventsv1.ConversionOpportunity{
			OpportunityId: opportunityID, DisplayName: "Converted deal", Amount: eur(5000, 500000000),
			ExpectedCloseDate: &date.Date{Year: 2027, Month: 3, Day: 31}, Owner: "seller", AccountId: accountID, ContactId: contactID,
		}
	}
	return ev
}

// The account service is not running here: a conversion's opportunity
// does not wait for its account.
func TestConversionOpensOpportunityOnce(t *testing.T) {
	t.Parallel()
	s := start(t)
	oppID, eventID := uuid.NewString(), uuid.NewString()
	ev := conversion(oppID)
	s.qualify(t, eventID, ev)
	evs := s.published(t, 2)
	if got := testkit.EventTypes(evs); len(got) != 2 || got[0] != "OpportunityCreated" || got[1] != "OpportunityStageChanged" {
		t.Fatalf("events = %v", got)
	}
	oc := evs[0].(*eventsv1.OpportunityCreated)
	if oc.OpportunityId != oppID || oc.SourceLeadId != ev.LeadId || oc.Meta.Actor != "seller" || oc.Meta.RequestId != eventID {
		t.Fatalf("OpportunityCreated = %v", oc)
	}
	o, err := s.client.GetOpportunity(testkit.As("x"), &opportunityv1.GetOpportunityRequest{Name: "opportunities/" + oppID})
	if err != nil {
		t.Fatal(err)
	}
	if o.Account != "accounts/"+ev.Opportunity.AccountId || o.PrimaryContact != "contacts/"+ev.Opportunity.ContactId ||
		o.SourceLead != "leads/"+ev.LeadId || o.CreatedBy != "seller" || o.Owner != "seller" || o.Stage != "qualification" ||
		!proto.Equal(o.Amount, eur(5000, 500000000)) || o.ExpectedCloseDate.GetMonth() != 3 || o.Pipeline != "pipelines/00000000-0000-4000-8000-000000000001" {
		t.Fatalf("opportunity = %v", o)
	}

	// The same event again past the duplicate window (a redelivery the
	// inbox catches), and a second event id for the same conversion (a
	// re-emitted LeadQualified the existing row catches): nothing new.
	time.Sleep(150 * time.Millisecond)
	s.qualify(t, eventID, ev)
	s.qualify(t, uuid.NewString(), ev)
	// A conversion without an opportunity, as a marker that the others
	// were handled: it creates nothing either.
	s.qualify(t, uuid.NewString(), conversion(""))
	marker := uuid.NewString()
	unnamed := conversion(marker)
	unnamed.Opportunity.DisplayName = ""
	s.qualify(t, uuid.NewString(), unnamed)
	evs = s.published(t, 4)
	time.Sleep(300 * time.Millisecond)
	evs = s.published(t, 4)
	if len(evs) != 4 || evs[2].(*eventsv1.OpportunityCreated).OpportunityId != marker ||
		evs[2].(*eventsv1.OpportunityCreated).Opportunity.DisplayName != "Converted Inc" {
		t.Fatalf("events = %v", testkit.EventTypes(evs))
	}
	list, err := s.client.ListOpportunities(testkit.As("x"), &opportunityv1.ListOpportunitiesRequest{Filter: `source_lead = "leads/` + ev.LeadId + `"`})
	if err != nil || len(list.Opportunities) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
}

func TestMalformedConversionIsDeadLettered(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	dlq := (&inbox.Consumer{Name: "opportunity-lead-qualified", Namespace: s.nats.Namespace}).DeadLetterSubject()
	bad := conversion("not-a-uuid")
	s.qualify(t, uuid.NewString(), bad)
	s.nats.PublishRaw(t, s.js, events.Subject(s.nats.Namespace, "lead", &eventsv1.LeadQualified{}), uuid.NewString(), "crm.events.v1.LeadQualified", []byte{0xff, 0xff, 0xff})
	testkit.Eventually(t, 20*time.Second, func() bool {
		st, err := s.js.Stream(ctx, inbox.DeadLetterStream(s.nats.Namespace).Name)
		if err != nil {
			return false
		}
		m, err := st.GetLastMsgForSubject(ctx, dlq)
		info, err2 := st.Info(ctx)
		return err == nil && err2 == nil && info.State.Msgs >= 2 && m.Header.Get(inbox.HeaderDLQReason) != ""
	}, "two dead letters on %s", dlq)
	list, _ := s.client.ListOpportunities(testkit.As("x"), &opportunityv1.ListOpportunitiesRequest{})
	if len(list.GetOpportunities()) != 0 {
		t.Fatalf("opportunities = %v", list.Opportunities)
	}
}

// A conversion whose opportunity the service cannot open is dead-lettered
// and reported to the lead service (LeadConversionRejected on the
// opportunity stream, with the reason), so the lead's conversion ends
// FAILED instead of PENDING for ever.
func TestRejectedConversionIsReportedToTheLead(t *testing.T) {
	t.Parallel()
	s := start(t)
	bad := conversion(uuid.NewString())
	bad.Opportunity.ExpectedCloseDate = &date.Date{Year: 2027, Month: 2, Day: 30}
	eventID := uuid.NewString()
	s.qualify(t, eventID, bad)
	evs := s.published(t, 1)
	r, ok := evs[0].(*eventsv1.LeadConversionRejected)
	if !ok || r.LeadId != bad.LeadId || r.QualifiedEventId != eventID || r.Reason != "INVALID_OPPORTUNITY" || r.Message == "" {
		t.Fatalf("events = %v", evs)
	}
	list, _ := s.client.ListOpportunities(testkit.As("x"), &opportunityv1.ListOpportunitiesRequest{})
	if len(list.GetOpportunities()) != 0 {
		t.Fatalf("opportunities = %v", list.Opportunities)
	}
}

// A conversion carrying the lead's products of interest opens the
// opportunity with them as its line items (their sum the amount), once
// however often the event comes.
func TestConversionProductsBecomeLineItemsOnce(t *testing.T) {
	t.Parallel()
	s := start(t)
	oppID, eventID := uuid.NewString(), uuid.NewString()
	ev := conversion(oppID)
	ev.Opportunity.Amount = nil
	ev.Opportunity.LineItems = []*opportunityv1.LineItem{
		{Product: "WIDGET-1", Quantity: "3", UnitPrice: eur(100, 0)},
		{Product: "Support plan", Quantity: "1.5", UnitPrice: eur(0, 0)},
	}
	s.qualify(t, eventID, ev)
	s.published(t, 2)
	time.Sleep(150 * time.Millisecond)
	s.qualify(t, eventID, ev)
	s.qualify(t, uuid.NewString(), ev)
	s.qualify(t, uuid.NewString(), conversion(""))
	time.Sleep(300 * time.Millisecond)
	if evs := s.published(t, 2); len(evs) != 2 {
		t.Fatalf("events = %v", testkit.EventTypes(evs))
	}
	o, err := s.client.GetOpportunity(testkit.As("x"), &opportunityv1.GetOpportunityRequest{Name: "opportunities/" + oppID})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.LineItems) != 2 || o.LineItems[0].Product != "WIDGET-1" || o.LineItems[0].Quantity != "3" ||
		!proto.Equal(o.LineItems[0].Amount, eur(300, 0)) || o.LineItems[1].Product != "Support plan" ||
		!proto.Equal(o.LineItems[1].Amount, eur(0, 0)) || !proto.Equal(o.Amount, eur(300, 0)) {
		t.Fatalf("opportunity = %v", o)
	}
}
