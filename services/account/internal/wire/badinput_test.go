package wire_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestBadInputGetsClearErrorsAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	acct := s.account(t, &accountv1.Account{DisplayName: "Acme", CurrencyCode: "EUR"})
	ada := s.contact(t, &accountv1.Contact{FirstName: "Ada", Account: acct.Name})
	// A second update makes the first etags stale.
	acct2, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: acct.Name, Industry: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}})
	if err != nil {
		t.Fatal(err)
	}
	ada2, err := s.client.UpdateContact(ctx, &accountv1.UpdateContactRequest{
		Contact: &accountv1.Contact{Name: ada.Name, Title: "CTO"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.published(t, 4)
	before := snapshot(t, s)

	createA := func(a *accountv1.Account) error {
		_, err := s.client.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: a})
		return err
	}
	createC := func(c *accountv1.Contact) error {
		_, err := s.client.CreateContact(ctx, &accountv1.CreateContactRequest{Contact: c})
		return err
	}
	many := map[string]string{}
	for i := range 51 {
		many["k"+strings.Repeat("x", i)] = "v"
	}
	cases := []struct {
		name  string
		err   error
		code  codes.Code
		field string
	}{
		{"invalid currency code", createA(&accountv1.Account{DisplayName: "A", CurrencyCode: "XYZ"}), codes.InvalidArgument, "account.currency_code"},
		{"negative credit limit", createA(&accountv1.Account{DisplayName: "A", CreditLimit: &money.Money{CurrencyCode: "EUR", Units: -5}}), codes.InvalidArgument, "account.credit_limit"},
		{"credit limit in another currency", createA(&accountv1.Account{DisplayName: "A", CurrencyCode: "EUR", CreditLimit: &money.Money{CurrencyCode: "USD", Units: 5}}), codes.InvalidArgument, "account.credit_limit.currency_code"},
		{"two default billing addresses", createA(&accountv1.Account{DisplayName: "A", Addresses: []*accountv1.Address{billing("Berlin", "DE", true), billing("Bonn", "DE", true)}}), codes.InvalidArgument, "account.addresses[1].default"},
		{"address missing city", createA(&accountv1.Account{DisplayName: "A", Addresses: []*accountv1.Address{billing("", "DE", false)}}), codes.InvalidArgument, "account.addresses[0].locality"},
		{"address missing country", createA(&accountv1.Account{DisplayName: "A", Addresses: []*accountv1.Address{billing("Berlin", "", false)}}), codes.InvalidArgument, "account.addresses[0].region_code"},
		{"oversized custom fields", createA(&accountv1.Account{DisplayName: "A", CustomFields: many}), codes.InvalidArgument, "account.custom_fields"},
		{"account without name", createA(&accountv1.Account{DisplayName: "  "}), codes.InvalidArgument, "account.display_name"},
		{"contact without name", createC(&accountv1.Contact{Title: "CEO"}), codes.InvalidArgument, "contact.last_name"},
		{"two primary emails", createC(&accountv1.Contact{LastName: "X", Emails: []*accountv1.ContactEmail{{Address: "a@x.example", Primary: true}, {Address: "b@x.example", Primary: true}}}), codes.InvalidArgument, "contact.emails[1].primary"},
		{"two primary phones", createC(&accountv1.Contact{LastName: "X", Phones: []*accountv1.ContactPhone{{Number: "+49 30 1111", Primary: true}, {Number: "+49 30 2222", Primary: true}}}), codes.InvalidArgument, "contact.phones[1].primary"},
		{"primary without account", createC(&accountv1.Contact{LastName: "X", Primary: true}), codes.InvalidArgument, "contact.primary"},
		{"contact of a missing account", createC(&accountv1.Contact{LastName: "X", Account: "accounts/00000000-0000-0000-0000-000000000001"}), codes.FailedPrecondition, ""},
		{"move contact to a missing account", func() error {
			_, err := s.client.UpdateContact(ctx, &accountv1.UpdateContactRequest{
				Contact:    &accountv1.Contact{Name: ada.Name, Account: "accounts/00000000-0000-0000-0000-000000000001"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"account"}}})
			return err
		}(), codes.FailedPrecondition, ""},
		{"stale etag on account update", func() error {
			_, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
				Account: &accountv1.Account{Name: acct.Name, Etag: acct.Etag, Industry: "y"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}})
			return err
		}(), codes.Aborted, ""},
		{"stale etag on contact update", func() error {
			_, err := s.client.UpdateContact(ctx, &accountv1.UpdateContactRequest{
				Contact: &accountv1.Contact{Name: ada.Name, Etag: ada.Etag, Title: "y"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
			return err
		}(), codes.Aborted, ""},
		{"stale etag on contact delete", func() error {
			_, err := s.client.DeleteContact(ctx, &accountv1.DeleteContactRequest{Name: ada.Name, Etag: ada.Etag})
			return err
		}(), codes.Aborted, ""},
		{"stale etag on deactivate", func() error {
			_, err := s.client.DeactivateAccount(ctx, &accountv1.DeactivateAccountRequest{Name: acct.Name, Etag: acct.Etag})
			return err
		}(), codes.Aborted, ""},
		{"unknown update_mask path", func() error {
			_, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
				Account: &accountv1.Account{Name: acct.Name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"shoe_size"}}})
			return err
		}(), codes.InvalidArgument, "update_mask"},
		{"sub-path of a plain field", func() error {
			_, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
				Account: &accountv1.Account{Name: acct.Name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name.x"}}})
			return err
		}(), codes.InvalidArgument, "update_mask"},
		{"update clears the name", func() error {
			_, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
				Account: &accountv1.Account{Name: acct.Name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
			return err
		}(), codes.InvalidArgument, "account.display_name"},
		{"update currency away from the credit limit's", func() error {
			if _, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
				Account: &accountv1.Account{Name: acct.Name, CurrencyCode: "EUR", CreditLimit: &money.Money{CurrencyCode: "USD", Units: 1}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"credit_limit"}}}); err == nil {
				t.Error("credit limit in USD on an EUR account accepted")
			}
			return nil
		}(), codes.OK, ""},
		{"malformed account filter", func() error {
			_, err := s.client.ListAccounts(ctx, &accountv1.ListAccountsRequest{Filter: `state = = (`})
			return err
		}(), codes.InvalidArgument, "filter"},
		{"malformed contact filter", func() error {
			_, err := s.client.ListContacts(ctx, &accountv1.ListContactsRequest{Filter: `primary = "maybe"`})
			return err
		}(), codes.InvalidArgument, "filter"},
		{"unknown order", func() error {
			_, err := s.client.ListContacts(ctx, &accountv1.ListContactsRequest{OrderBy: "shoe_size"})
			return err
		}(), codes.InvalidArgument, "order_by"},
		{"negative page size", func() error {
			_, err := s.client.ListAccounts(ctx, &accountv1.ListAccountsRequest{PageSize: -1})
			return err
		}(), codes.InvalidArgument, "page_size"},
		{"bad name", func() error {
			_, err := s.client.GetAccount(ctx, &accountv1.GetAccountRequest{Name: "contacts/1"})
			return err
		}(), codes.InvalidArgument, "name"},
		{"match with nothing", func() error {
			_, err := s.client.MatchCustomers(ctx, &accountv1.MatchCustomersRequest{})
			return err
		}(), codes.InvalidArgument, "email"},
	}
	for _, c := range cases {
		if c.code == codes.OK {
			continue
		}
		reason, fields := testkit.RequireCode(t, c.err, c.code)
		if c.field != "" && !testkit.HasField(fields, c.field) {
			t.Errorf("%s: violations %v (reason %s), want one on %s", c.name, fields, reason, c.field)
		}
	}
	// The missing account is named in a PreconditionFailure.
	err = createC(&accountv1.Contact{LastName: "X", Account: "accounts/00000000-0000-0000-0000-000000000001"})
	var subject string
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.Violations) > 0 {
			subject = pf.Violations[0].Subject
		}
	}
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "ACCOUNT_NOT_FOUND" || subject != "accounts/00000000-0000-0000-0000-000000000001" {
		t.Fatalf("missing account: reason %s, subject %q", reason, subject)
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("bad requests changed data:\nbefore %s\nafter  %s", before, after)
	}
	_, _ = acct2, ada2
}

// snapshot summarises all accounts and contacts (names and etags) and the
// event count.
func snapshot(t *testing.T, s *suite) string {
	t.Helper()
	var b strings.Builder
	accts, err := s.client.ListAccounts(testkit.As("x"), &accountv1.ListAccountsRequest{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts.Accounts {
		b.WriteString(a.Name + "@" + a.Etag + " ")
	}
	cs, err := s.client.ListContacts(testkit.As("x"), &accountv1.ListContactsRequest{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Contacts {
		b.WriteString(c.Name + "@" + c.Etag + " ")
	}
	ctx := context.Background()
	if stream, err := s.js.Stream(ctx, events.StreamName(s.nats.Namespace, "account")); err == nil {
		if info, err := stream.Info(ctx); err == nil {
			b.WriteString("events=" + strings.Repeat("|", int(info.State.Msgs)))
		}
	}
	return b.String()
}
