package wire_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
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

func newConversion(accountID, contactID string, createAccount, createContact bool) *eventsv1.LeadQualified {
	return &eventsv1.LeadQualified{
		LeadId: uuid.NewString(),
		Account: &eventsv1.ConversionAccount{AccountId: accountID, Create: createAccount, DisplayName: "Converted Inc",
			Website: "www.converted.example", Phone: "030 555 1234", Owner: "seller", CurrencyCode: "EUR",
			Type:    accountv1.AccountType_ACCOUNT_TYPE_COMPANY,
			Address: &leadv1.PostalAddress{AddressLines: []string{"Unter den Linden 1"}, Locality: "Berlin", RegionCode: "DE"}},
		Contact: &eventsv1.ConversionContact{ContactId: contactID, Create: createContact, FirstName: "Grace", LastName: "Hopper",
			Email: "grace@converted.example", Phone: "030 555 9999", Owner: "seller"},
	}
}

func TestConversionCreatesAccountAndContactOnce(t *testing.T) {
	t.Parallel()
	s := start(t)
	accountID, contactID, eventID := uuid.NewString(), uuid.NewString(), uuid.NewString()
	ev := newConversion(accountID, contactID, true, true)
	s.qualify(t, eventID, ev)
	evs := s.published(t, 2)
	if got := testkit.EventTypes(evs); !slices.Equal(got, []string{"AccountCreated", "ContactCreated"}) {
		t.Fatalf("events = %v", got)
	}
	ac, cc := evs[0].(*eventsv1.AccountCreated), evs[1].(*eventsv1.ContactCreated)
	if ac.AccountId != accountID || ac.SourceLeadId != ev.LeadId || ac.Meta.Actor != "seller" || ac.Meta.RequestId != eventID ||
		cc.ContactId != contactID || cc.SourceLeadId != ev.LeadId || cc.AccountId != accountID || !cc.Contact.Primary {
		t.Fatalf("events = %v / %v", ac, cc)
	}
	a, err := s.client.GetAccount(testkit.As("x"), &accountv1.GetAccountRequest{Name: "accounts/" + accountID})
	if err != nil {
		t.Fatal(err)
	}
	if a.Domain != "converted.example" || a.SourceLead != "leads/"+ev.LeadId || a.CreatedBy != "seller" || a.CurrencyCode != "EUR" ||
		len(a.Addresses) != 1 || !a.Addresses[0].Default || a.Addresses[0].Type != accountv1.AddressType_ADDRESS_TYPE_BILLING ||
		a.PrimaryContact != "contacts/"+contactID {
		t.Fatalf("account = %v", a)
	}
	c := s.getContact(t, "contacts/"+contactID)
	if c.Emails[0].Address != "grace@converted.example" || !c.Emails[0].Primary || c.SourceLead != "leads/"+ev.LeadId {
		t.Fatalf("contact = %v", c)
	}
	// The phone was read in the billing country.
	if resp, _ := s.client.ListContacts(testkit.As("x"), &accountv1.ListContactsRequest{Filter: `phone = "+49305559999"`}); len(resp.GetContacts()) != 1 {
		t.Fatalf("phone key not stored in E.164 for DE: %v", resp)
	}

	// The same event again: within the duplicate window (dropped by
	// JetStream), and after it (delivered, skipped by the inbox).
	s.qualify(t, eventID, ev)
	time.Sleep(200 * time.Millisecond)
	s.qualify(t, eventID, ev)
	// A marker event after them shows they were processed.
	s.account(t, &accountv1.Account{DisplayName: "Marker"})
	waitConsumed(t, s)
	if got := testkit.EventTypes(s.published(t, 3)); !slices.Equal(got, []string{"AccountCreated", "ContactCreated", "AccountCreated"}) {
		t.Fatalf("events after redelivery = %v", got)
	}
}

// waitConsumed waits until the conversion consumer has acknowledged every
// message of the lead stream.
func waitConsumed(t *testing.T, s *suite) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, 20*time.Second, func() bool {
		c, err := s.js.Consumer(ctx, events.StreamName(s.nats.Namespace, "lead"), "account-lead-qualified")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "lead stream consumed")
}

func TestConversionOntoExistingAccountAndContact(t *testing.T) {
	t.Parallel()
	s := start(t)
	acme := s.account(t, &accountv1.Account{DisplayName: "Acme"})
	acmeID := acme.Name[len("accounts/"):]
	// A new contact on an existing account: it becomes the primary.
	newContact := uuid.NewString()
	s.qualify(t, uuid.NewString(), newConversion(acmeID, newContact, false, true))
	// An existing contact without an account is linked.
	loner := s.contact(t, &accountv1.Contact{LastName: "Loner"})
	ev := newConversion(acmeID, loner.Name[len("contacts/"):], false, false)
	s.qualify(t, uuid.NewString(), ev)
	evs := s.published(t, 4)
	if got := testkit.EventTypes(evs); !slices.Equal(got, []string{"AccountCreated", "ContactCreated", "ContactCreated", "ContactLinked"}) {
		t.Fatalf("events = %v", got)
	}
	linked := evs[3].(*eventsv1.ContactLinked)
	if linked.AccountId != acmeID || linked.SourceLeadId != ev.LeadId || linked.Contact.Account != acme.Name || linked.Contact.Primary {
		t.Fatalf("ContactLinked = %v", linked)
	}
	if p := s.primaries(t, acme.Name); !slices.Equal(p, []string{"contacts/" + newContact}) {
		t.Fatalf("primaries = %v", p)
	}
}

func TestRejectedConversionsAreDeadLetteredAndReported(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	other := s.account(t, &accountv1.Account{DisplayName: "Other"})
	mine := s.account(t, &accountv1.Account{DisplayName: "Mine"})
	taken := s.contact(t, &accountv1.Contact{LastName: "Taken", Account: other.Name})

	missingEvent := uuid.NewString()
	missing := newConversion(uuid.NewString(), uuid.NewString(), false, true)
	s.qualify(t, missingEvent, missing)
	takenEvent := uuid.NewString()
	s.qualify(t, takenEvent, newConversion(mine.Name[len("accounts/"):], taken.Name[len("contacts/"):], false, false))

	// Both on the dead-letter subject, with the reason.
	dlq, err := s.js.Stream(ctx, inbox.DeadLetterStream(s.nats.Namespace).Name)
	var reasons []string
	testkit.Eventually(t, 20*time.Second, func() bool {
		if dlq == nil {
			dlq, err = s.js.Stream(ctx, inbox.DeadLetterStream(s.nats.Namespace).Name)
			if err != nil {
				return false
			}
		}
		reasons = reasons[:0]
		for seq := uint64(1); seq <= 2; seq++ {
			m, err := dlq.GetMsg(ctx, seq)
			if err != nil {
				return false
			}
			if m.Subject != s.nats.Namespace+"crm.dlq.account-lead-qualified" {
				t.Fatalf("dead letter on %s", m.Subject)
			}
			reasons = append(reasons, m.Header.Get(inbox.HeaderDLQReason))
		}
		return true
	}, "two dead letters")
	slices.Sort(reasons)
	if len(reasons) != 2 || reasons[0][:len("ACCOUNT_NOT_FOUND:")] != "ACCOUNT_NOT_FOUND:" || reasons[1][:len("CONTACT_OF_ANOTHER_ACCOUNT:")] != "CONTACT_OF_ANOTHER_ACCOUNT:" {
		t.Fatalf("reasons = %q", reasons)
	}
	evs := s.published(t, 5)
	got := map[string]*eventsv1.LeadConversionRejected{}
	for _, e := range evs {
		if r, ok := e.(*eventsv1.LeadConversionRejected); ok {
			got[r.QualifiedEventId] = r
		}
	}
	if r := got[missingEvent]; r == nil || r.Reason != "ACCOUNT_NOT_FOUND" || r.LeadId != missing.LeadId ||
		r.Meta.EventId != uuid.NewSHA1(uuid.NameSpaceURL, []byte(missingEvent+"rejected")).String() {
		t.Fatalf("rejection = %v", r)
	}
	if r := got[takenEvent]; r == nil || r.Reason != "CONTACT_OF_ANOTHER_ACCOUNT" {
		t.Fatalf("rejection = %v", r)
	}
	if c := s.getContact(t, taken.Name); c.Account != other.Name {
		t.Fatalf("rejected conversion moved the contact: %v", c)
	}
}
