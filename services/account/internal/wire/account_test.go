package wire_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func billing(city, country string, def bool) *accountv1.Address {
	return &accountv1.Address{Type: accountv1.AddressType_ADDRESS_TYPE_BILLING, Default: def,
		AddressLines: []string{"1 Main St"}, Locality: city, RegionCode: country}
}

func shipping(city, country string) *accountv1.Address {
	return &accountv1.Address{Type: accountv1.AddressType_ADDRESS_TYPE_SHIPPING,
		AddressLines: []string{"2 Dock Rd"}, Locality: city, RegionCode: country}
}

func TestAccountLifecycleWithEvents(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	created, err := s.client.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{
		DisplayName: " Acme GmbH ", Website: "https://www.Acme.example/about", Phone: "030 1234567",
		CreditLimit:  &money.Money{CurrencyCode: "EUR", Units: 5000, Nanos: 500_000_000},
		PaymentTerms: accountv1.PaymentTerms_PAYMENT_TERMS_NET_30,
		Addresses:    []*accountv1.Address{billing("Berlin", "DE", false), shipping("Hamburg", "DE"), billing("Munich", "DE", false)},
		CustomFields: map[string]string{"tier": "gold"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Type != accountv1.AccountType_ACCOUNT_TYPE_COMPANY || created.State != accountv1.AccountState_ACCOUNT_STATE_ACTIVE ||
		created.DisplayName != "Acme GmbH" || created.Domain != "acme.example" || created.CurrencyCode != "EUR" ||
		created.Owner != "alice" || created.CreatedBy != "alice" || created.Etag == "" || !strings.HasPrefix(created.Name, "accounts/") {
		t.Fatalf("created = %v", created)
	}
	if !created.Addresses[0].Default || !created.Addresses[1].Default || created.Addresses[2].Default {
		t.Fatalf("defaults: first of each type expected, got %v", created.Addresses)
	}
	if !proto.Equal(created.CreditLimit, &money.Money{CurrencyCode: "EUR", Units: 5000, Nanos: 500_000_000}) {
		t.Fatalf("credit limit = %v", created.CreditLimit)
	}
	got, err := s.client.GetAccount(ctx, &accountv1.GetAccountRequest{Name: created.Name})
	if err != nil || !proto.Equal(got, created) {
		t.Fatalf("get = %v, %v; want %v", got, err, created)
	}

	// Update: addresses replaced as a whole, a custom field by sub-path.
	updated, err := s.client.UpdateAccount(testkit.As("bob"), &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: created.Name, Etag: created.Etag, Industry: "Rockets",
			Addresses:    []*accountv1.Address{billing("Paris", "FR", true)},
			CustomFields: map[string]string{"region": "emea"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry", "addresses", "custom_fields.region"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Industry != "Rockets" || len(updated.Addresses) != 1 || updated.Addresses[0].Locality != "Paris" ||
		updated.CustomFields["tier"] != "gold" || updated.CustomFields["region"] != "emea" || updated.UpdatedBy != "bob" || updated.Etag == created.Etag {
		t.Fatalf("updated = %v", updated)
	}
	// A no-op update writes nothing: same etag, no event.
	same, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: created.Name, Industry: "Rockets"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}},
	})
	if err != nil || same.Etag != updated.Etag {
		t.Fatalf("no-op update = %v, %v", same, err)
	}

	deact, err := s.client.DeactivateAccount(ctx, &accountv1.DeactivateAccountRequest{Name: created.Name, Reason: "churned", Etag: updated.Etag})
	if err != nil || deact.State != accountv1.AccountState_ACCOUNT_STATE_INACTIVE {
		t.Fatalf("deactivate = %v, %v", deact, err)
	}
	_, err = s.client.DeactivateAccount(ctx, &accountv1.DeactivateAccountRequest{Name: created.Name})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "ACCOUNT_ALREADY_INACTIVE" {
		t.Fatalf("reason = %s", reason)
	}
	// Idempotent activation: the retry returns the first result.
	req := &accountv1.ActivateAccountRequest{Name: created.Name, RequestId: "0199aaaa-0000-7000-8000-000000000001"}
	act, err := s.client.ActivateAccount(ctx, req)
	if err != nil || act.State != accountv1.AccountState_ACCOUNT_STATE_ACTIVE {
		t.Fatalf("activate = %v, %v", act, err)
	}
	again, err := s.client.ActivateAccount(ctx, req)
	if err != nil || !proto.Equal(again, act) {
		t.Fatalf("retried activate = %v, %v", again, err)
	}
	_, err = s.client.ActivateAccount(ctx, &accountv1.ActivateAccountRequest{Name: created.Name})
	testkit.RequireCode(t, err, codes.FailedPrecondition)

	evs := s.published(t, 5)
	if got := testkit.EventTypes(evs); !slices.Equal(got, []string{"AccountCreated", "AccountUpdated", "AddressChanged", "AccountDeactivated", "AccountActivated"}) {
		t.Fatalf("events = %v", got)
	}
	up := evs[1].(*eventsv1.AccountUpdated)
	if !slices.Equal(up.ChangedFields, []string{"industry", "addresses", "custom_fields"}) || up.Meta.Actor != "bob" || up.AccountId != strings.TrimPrefix(created.Name, "accounts/") {
		t.Fatalf("AccountUpdated = %v", up)
	}
	ac := evs[2].(*eventsv1.AddressChanged)
	if len(ac.PreviousAddresses) != 3 || len(ac.Addresses) != 1 {
		t.Fatalf("AddressChanged = %v", ac)
	}
	if d := evs[3].(*eventsv1.AccountDeactivated); d.Reason != "churned" {
		t.Fatalf("AccountDeactivated = %v", d)
	}
}

func TestCreateAccountIsIdempotentByRequestID(t *testing.T) {
	t.Parallel()
	s := start(t)
	req := &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Once"}, RequestId: "0199aaaa-0000-7000-8000-000000000002"}
	a, err := s.client.CreateAccount(testkit.As("u"), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.client.CreateAccount(testkit.As("u"), req)
	if err != nil || !proto.Equal(a, b) {
		t.Fatalf("retry = %v, %v", b, err)
	}
	list, err := s.client.ListAccounts(testkit.As("u"), &accountv1.ListAccountsRequest{})
	if err != nil || len(list.Accounts) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
}
