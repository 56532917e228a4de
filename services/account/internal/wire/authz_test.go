package wire_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/account/internal/wire"
)

// Every RPC the account service registers has a rule (service.Run also
// refuses to start without one), and every rule names a registered RPC.
func TestEveryAccountMethodHasARule(t *testing.T) {
	srv := grpc.NewServer()
	accountv1.RegisterAccountServiceServer(srv, accountv1.UnimplementedAccountServiceServer{})
	if missing := authz.Uncovered(wire.Spec().Rules, srv.GetServiceInfo(), grpcx.IsPublic); len(missing) > 0 {
		t.Fatalf("no authorization rule for %v", missing)
	}
	d := accountv1.AccountService_ServiceDesc
	if n := len(d.Methods) + len(d.Streams); len(wire.Rules) != n {
		t.Fatalf("%d rules for %d methods", len(wire.Rules), n)
	}
}

func TestAccountRolesAreEnforced(t *testing.T) {
	t.Parallel()
	s := start(t)
	acct, err := s.client.CreateAccount(testkit.As("sam", "sales"), &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Acme"}})
	if err != nil {
		t.Fatalf("sales creates an account: %v", err)
	}
	ops := testkit.As("olga", "ops")
	if _, err := s.client.GetAccount(ops, &accountv1.GetAccountRequest{Name: acct.Name}); err != nil {
		t.Fatalf("ops reads an account: %v", err)
	}
	if l, err := s.client.ListAccounts(ops, &accountv1.ListAccountsRequest{}); err != nil || len(l.Accounts) != 1 {
		t.Fatalf("ops lists accounts: %v, %v", l, err)
	}
	if _, err := s.client.ListContacts(ops, &accountv1.ListContactsRequest{}); err != nil {
		t.Fatalf("ops lists contacts: %v", err)
	}
	_, err = s.client.CreateAccount(ops, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Ops Inc"}})
	testkit.RequireDenied(t, "ops creates", err)
	_, err = s.client.MatchCustomers(ops, &accountv1.MatchCustomersRequest{})
	testkit.RequireDenied(t, "ops matches", err)
	// A service identity gets what lead and opportunity call, nothing more.
	svc := testkit.As("service:opportunity", "service")
	if _, err := s.client.GetAccount(svc, &accountv1.GetAccountRequest{Name: acct.Name}); err != nil {
		t.Fatalf("service reads an account: %v", err)
	}
	_, err = s.client.CreateAccount(svc, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Svc Inc"}})
	testkit.RequireDenied(t, "service creates", err)
	_, err = s.client.ListAccounts(svc, &accountv1.ListAccountsRequest{})
	testkit.RequireDenied(t, "service lists", err)
	// Deletes are admin only; a token without roles gets nowhere.
	_, err = s.client.DeleteContact(testkit.As("mia", "manager"), &accountv1.DeleteContactRequest{Name: "contacts/00000000-0000-0000-0000-000000000001"})
	testkit.RequireDenied(t, "manager deletes a contact", err)
	noRoles, err := authn.Mint([]byte(testkit.AuthSecret), testkit.AuthIssuer, testkit.AuthAudience, "nobody", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client.GetAccount(testkit.WithToken(t.Context(), noRoles), &accountv1.GetAccountRequest{Name: acct.Name})
	testkit.RequireDenied(t, "no roles reads", err)
	if l, err := s.client.ListAccounts(testkit.As("root"), &accountv1.ListAccountsRequest{}); err != nil || len(l.Accounts) != 1 {
		t.Fatalf("accounts after refused calls: %v, %v", l, err)
	}
}

// ROLES.md is the role x method matrix as the rule table enforces it.
func TestRoleMatrixIsDocumented(t *testing.T) {
	testkit.Golden(t, "../../ROLES.md", authz.Matrix("account", wire.Rules))
}
