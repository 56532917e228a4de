package wire_test

import (
	"testing"
	"time"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
)

// Merging two accounts in the account service moves the merged one's
// orders and contracts to the survivor, with its credit exposure (the
// ledger following, so it still sums to the exposure); a contact merge
// moves the orders' and contracts' contact.
func TestMergesRepointOrdersContractsAndExposure(t *testing.T) {
	t.Parallel()
	s := start(t)
	survivor, _ := s.customer(t, "Acme", 10000)
	dup, dupContact := s.customer(t, "ACME GmbH", 10000)
	for _, a := range []string{survivor, dup} {
		o := s.order(t, a, line("P", "1", eur(300, 0)))
		if _, err := s.client.ConfirmOrder(ops, &orderv1.ConfirmOrderRequest{Name: o.Name}); err != nil {
			t.Fatal(err)
		}
	}
	draft := s.order(t, dup, line("P", "2", eur(50, 0)))
	ct := s.contract(t, dup, &orderv1.Contract{Contact: dupContact, StartDate: &date.Date{Year: 2027, Month: 1, Day: 1}, TermMonths: 12,
		BillingInterval: orderv1.BillingInterval_BILLING_INTERVAL_MONTHLY})
	manager := testkit.As("mia", "manager")
	if _, err := s.accounts.MergeAccounts(manager, &accountv1.MergeAccountsRequest{Survivor: survivor, Merged: []string{dup}}); err != nil {
		t.Fatal(err)
	}
	dupID, survivorID := dup[len("accounts/"):], survivor[len("accounts/"):]
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM orders WHERE account_id = $1`, dupID) == "0"
	}, "orders re-pointed")
	if got := s.query(t, `SELECT count(*)::text FROM orders WHERE account_id = $1`, survivorID); got != "3" {
		t.Fatalf("survivor's orders: %s", got)
	}
	got, err := s.client.GetContract(ops, &orderv1.GetContractRequest{Name: ct.Name})
	if err != nil || got.Account != survivor || got.Etag == ct.Etag {
		t.Fatalf("contract = %v, %v", got, err)
	}
	if o, err := s.client.GetOrder(ops, &orderv1.GetOrderRequest{Name: draft.Name}); err != nil || o.Account != survivor {
		t.Fatalf("draft = %v, %v", o, err)
	}
	if got := s.query(t, `SELECT coalesce(string_agg(account_id::text || ':' || amount::text, ','), '') FROM credit_exposure WHERE amount > 0`); got != survivorID+":600.00" && got != survivorID+":600" {
		t.Fatalf("exposure: %s", got)
	}
	if got := s.query(t, `SELECT (sum(delta) = (SELECT amount FROM credit_exposure WHERE account_id = $1))::text FROM credit_ledger WHERE account_id = $1`, survivorID); got != "true" {
		t.Fatalf("the ledger no longer sums to the exposure")
	}
	if got := s.query(t, `SELECT count(*)::text FROM inbox WHERE subject LIKE '%accounts_merged'`); got != "1" {
		t.Fatalf("merge applied %s times", got)
	}

	// A win for the merged account arriving after the merge (the
	// opportunity was won before it was re-pointed) makes the survivor's
	// order.
	ev := won(dup, dupContact)
	s.nats.Publish(t, s.js, "opportunity", ev)
	testkit.Eventually(t, 20*time.Second, func() bool { return len(s.ordersOf(t, ev.Opportunity.Name)) == 1 }, "the late win's order")
	if o := s.ordersOf(t, ev.Opportunity.Name)[0]; o.Account != survivor {
		t.Fatalf("late win's order: %v", o)
	}
	// New orders for the merged account are refused.
	_, err = s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{Account: dup, CurrencyCode: "EUR", Lines: []*orderv1.OrderLine{line("P", "1", eur(1, 0))}}})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "ACCOUNT_MERGED" {
		t.Fatalf("order for a merged account: %v", err)
	}

	// The merged account's contact now belongs to the survivor; merging it
	// into another contact moves the contract's contact.
	other, err := s.accounts.CreateContact(testkit.As("alice"), &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Other", Account: survivor}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.accounts.MergeContacts(manager, &accountv1.MergeContactsRequest{Survivor: other.Name, Merged: []string{dupContact}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		c, err := s.client.GetContract(ops, &orderv1.GetContractRequest{Name: ct.Name})
		return err == nil && c.Contact == other.Name
	}, "contract's contact re-pointed")
}
