package wire_test

import (
	"slices"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// Every account has a relationship: CUSTOMER unless given, settable on
// create and update, filterable, in the events; contacts of suppliers and
// partners are contacts like any other.
func TestAccountRelationship(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	const (
		customer = accountv1.AccountRelationship_ACCOUNT_RELATIONSHIP_CUSTOMER
		prospect = accountv1.AccountRelationship_ACCOUNT_RELATIONSHIP_PROSPECT
		supplier = accountv1.AccountRelationship_ACCOUNT_RELATIONSHIP_SUPPLIER
		partner  = accountv1.AccountRelationship_ACCOUNT_RELATIONSHIP_PARTNER
	)
	plain := s.account(t, &accountv1.Account{DisplayName: "Plain"})
	sup := s.account(t, &accountv1.Account{DisplayName: "Steel Supply", Relationship: supplier})
	par := s.account(t, &accountv1.Account{DisplayName: "Reseller", Relationship: partner})
	if plain.Relationship != customer || sup.Relationship != supplier || par.Relationship != partner {
		t.Fatalf("relationships = %v %v %v", plain.Relationship, sup.Relationship, par.Relationship)
	}
	upd, err := s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
		Account:    &accountv1.Account{Name: plain.Name, Etag: plain.Etag, Relationship: prospect},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"relationship"}}})
	if err != nil || upd.Relationship != prospect {
		t.Fatalf("update = %v, %v", upd, err)
	}
	count := func(filter string) int {
		t.Helper()
		resp, err := s.client.ListAccounts(ctx, &accountv1.ListAccountsRequest{Filter: filter})
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		return len(resp.Accounts)
	}
	for filter, want := range map[string]int{
		`relationship = SUPPLIER`:                                      1,
		`relationship = ACCOUNT_RELATIONSHIP_PARTNER`:                  1,
		`relationship = PROSPECT`:                                      1,
		`relationship = CUSTOMER`:                                      0,
		`relationship = SUPPLIER OR relationship = PARTNER`:            2,
		`NOT relationship = PROSPECT AND state = ACCOUNT_STATE_ACTIVE`: 2,
	} {
		if got := count(filter); got != want {
			t.Errorf("%s: %d accounts, want %d", filter, got, want)
		}
	}
	_, err = s.client.ListAccounts(ctx, &accountv1.ListAccountsRequest{Filter: `relationship = FRIEND`})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
		t.Fatalf("unknown relationship in a filter: %v", fields)
	}
	// A value outside the enum is refused, on create and update.
	_, err = s.client.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Bad", Relationship: 42}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "account.relationship") {
		t.Fatalf("bad relationship on create: %v", fields)
	}
	_, err = s.client.UpdateAccount(ctx, &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: sup.Name, Relationship: 42}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"relationship"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "account.relationship") {
		t.Fatalf("bad relationship on update: %v", fields)
	}
	// A supplier's contact works like any: primary, listed by account.
	c := s.contact(t, &accountv1.Contact{FirstName: "Sue", LastName: "Pplier", Account: sup.Name, Roles: []string{"procurement"}})
	if !c.Primary || len(s.primaries(t, sup.Name)) != 1 {
		t.Fatalf("supplier contact = %v", c)
	}
	// The events carry the relationship.
	evs := s.published(t, 5)
	if ac := evs[1].(*eventsv1.AccountCreated); ac.Account.Relationship != supplier {
		t.Fatalf("AccountCreated = %v", ac)
	}
	au, ok := evs[3].(*eventsv1.AccountUpdated)
	if !ok || !slices.Equal(au.ChangedFields, []string{"relationship"}) || au.Account.Relationship != prospect {
		t.Fatalf("AccountUpdated = %v", evs[3])
	}
}

// An account a lead conversion creates is a PROSPECT: the lead has not
// bought yet.
func TestConvertedAccountIsAProspect(t *testing.T) {
	t.Parallel()
	s := start(t)
	accountID := uuid.NewString()
	s.qualify(t, uuid.NewString(), newConversion(accountID, uuid.NewString(), true, true))
	evs := s.published(t, 2)
	if ac := evs[0].(*eventsv1.AccountCreated); ac.Account.Relationship != accountv1.AccountRelationship_ACCOUNT_RELATIONSHIP_PROSPECT {
		t.Fatalf("converted account = %v", ac.Account)
	}
}
