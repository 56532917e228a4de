package wire_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func (s *suite) account(t *testing.T, a *accountv1.Account) *accountv1.Account {
	t.Helper()
	out, err := s.client.CreateAccount(testkit.As("alice"), &accountv1.CreateAccountRequest{Account: a})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *suite) contact(t *testing.T, c *accountv1.Contact) *accountv1.Contact {
	t.Helper()
	out, err := s.client.CreateContact(testkit.As("alice"), &accountv1.CreateContactRequest{Contact: c})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *suite) getContact(t *testing.T, name string) *accountv1.Contact {
	t.Helper()
	c, err := s.client.GetContact(testkit.As("x"), &accountv1.GetContactRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// primaries returns the names of the account's primary contacts.
func (s *suite) primaries(t *testing.T, account string) []string {
	t.Helper()
	resp, err := s.client.ListContacts(testkit.As("x"), &accountv1.ListContactsRequest{Filter: fmt.Sprintf(`account = %q AND primary = true`, account)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range resp.Contacts {
		out = append(out, c.Name)
	}
	return out
}

func TestContactsKeepExactlyOnePrimaryPerAccount(t *testing.T) {
	t.Parallel()
	s := start(t)
	acme := s.account(t, &accountv1.Account{DisplayName: "Acme", Addresses: []*accountv1.Address{billing("Berlin", "DE", true)}})
	other := s.account(t, &accountv1.Account{DisplayName: "Other"})

	ada := s.contact(t, &accountv1.Contact{FirstName: "Ada", LastName: "Lovelace", Account: acme.Name,
		Emails: []*accountv1.ContactEmail{{Address: "Ada@Acme.example"}, {Address: "ada@home.example"}},
		Phones: []*accountv1.ContactPhone{{Number: "030 1234567"}}})
	if !ada.Primary || !ada.Emails[0].Primary || ada.Emails[1].Primary || !ada.Phones[0].Primary {
		t.Fatalf("first contact = %v", ada)
	}
	bob := s.contact(t, &accountv1.Contact{LastName: "Bob", Account: acme.Name})
	if bob.Primary {
		t.Fatal("second contact became primary")
	}
	if got, _ := s.client.GetAccount(testkit.As("x"), &accountv1.GetAccountRequest{Name: acme.Name}); got.PrimaryContact != ada.Name {
		t.Fatalf("primary_contact = %q, want %q", got.PrimaryContact, ada.Name)
	}
	// The phone was stored normalised in the billing country (DE).
	if resp, err := s.client.ListContacts(testkit.As("x"), &accountv1.ListContactsRequest{Filter: `phone = "+49 30 1234567" AND email = "ADA@acme.example"`}); err != nil || len(resp.Contacts) != 1 {
		t.Fatalf("phone/email filter = %v, %v", resp, err)
	}

	// Unsetting the primary directly is refused.
	_, err := s.client.UpdateContact(testkit.As("x"), &accountv1.UpdateContactRequest{
		Contact: &accountv1.Contact{Name: ada.Name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"primary"}}})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "PRIMARY_CONTACT_REQUIRED" {
		t.Fatalf("reason = %s", reason)
	}
	// Handing over: bob becomes primary, ada stops being it.
	bob2, err := s.client.UpdateContact(testkit.As("x"), &accountv1.UpdateContactRequest{
		Contact: &accountv1.Contact{Name: bob.Name, Primary: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"primary"}}})
	if err != nil || !bob2.Primary {
		t.Fatalf("hand over = %v, %v", bob2, err)
	}
	if s.getContact(t, ada.Name).Primary {
		t.Fatal("ada still primary")
	}
	// Moving the primary to another account: bob becomes the other's
	// primary (its first contact), ada is promoted back at acme.
	moved, err := s.client.UpdateContact(testkit.As("x"), &accountv1.UpdateContactRequest{
		Contact: &accountv1.Contact{Name: bob.Name, Account: other.Name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"account"}}})
	if err != nil || !moved.Primary || moved.Account != other.Name {
		t.Fatalf("move = %v, %v", moved, err)
	}
	if p := s.primaries(t, acme.Name); !slices.Equal(p, []string{ada.Name}) {
		t.Fatalf("acme primaries = %v", p)
	}
	// Deleting the primary promotes the oldest remaining contact.
	carl := s.contact(t, &accountv1.Contact{FirstName: "Carl", Account: acme.Name})
	dora := s.contact(t, &accountv1.Contact{FirstName: "Dora", Account: acme.Name, Primary: true})
	if !dora.Primary || s.getContact(t, ada.Name).Primary {
		t.Fatal("creating a primary contact did not take over")
	}
	if _, err := s.client.DeleteContact(testkit.As("x"), &accountv1.DeleteContactRequest{Name: dora.Name, Etag: dora.Etag}); err != nil {
		t.Fatal(err)
	}
	if p := s.primaries(t, acme.Name); !slices.Equal(p, []string{ada.Name}) {
		t.Fatalf("after delete primaries = %v (carl %s)", p, carl.Name)
	}
	if _, err := s.client.GetContact(testkit.As("x"), &accountv1.GetContactRequest{Name: dora.Name}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted contact: %v", err)
	}

	// The outbox keeps each record's events in order (not the order across
	// records), so compare each contact's own sequence.
	evs := s.published(t, 13)
	kinds := map[string][]string{}
	for _, e := range evs {
		switch e := e.(type) {
		case *eventsv1.ContactUpdated:
			who := e.Contact.FirstName + e.Contact.LastName
			kinds[who] = append(kinds[who], "U"+fmt.Sprint(e.ChangedFields))
		case *eventsv1.ContactCreated:
			who := e.Contact.FirstName + e.Contact.LastName
			kinds[who] = append(kinds[who], "C")
		case *eventsv1.ContactDeleted:
			who := e.Contact.FirstName + e.Contact.LastName
			kinds[who] = append(kinds[who], "D")
		}
	}
	want := map[string][]string{
		"AdaLovelace": {"C", "U[primary]", "U[primary]", "U[primary]", "U[primary]"},
		"Bob":         {"C", "U[primary]", "U[account]"},
		"Carl":        {"C"},
		"Dora":        {"C", "D"},
	}
	if !maps.EqualFunc(kinds, want, slices.Equal) {
		t.Fatalf("contact events\n got %v\nwant %v", kinds, want)
	}
}

func TestConcurrentPrimaryChangesLeaveExactlyOnePrimary(t *testing.T) {
	t.Parallel()
	s := start(t)
	acme := s.account(t, &accountv1.Account{DisplayName: "Acme"})
	const n = 8
	var contacts []*accountv1.Contact
	for i := range n {
		contacts = append(contacts, s.contact(t, &accountv1.Contact{LastName: fmt.Sprint("C", i), Account: acme.Name}))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range contacts {
		wg.Go(func() {
			_, errs[i] = s.client.UpdateContact(testkit.As("x"), &accountv1.UpdateContactRequest{
				Contact: &accountv1.Contact{Name: c.Name, Primary: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"primary"}}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && status.Code(err) != codes.Aborted {
			t.Fatalf("call %d failed uncleanly: %v", i, err)
		}
	}
	if p := s.primaries(t, acme.Name); len(p) != 1 {
		t.Fatalf("primaries = %v", p)
	}
	if a, _ := s.client.GetAccount(testkit.As("x"), &accountv1.GetAccountRequest{Name: acme.Name}); a.PrimaryContact == "" {
		t.Fatal("account shows no primary contact")
	}
}
