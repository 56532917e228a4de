package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func (s *suite) audit(t *testing.T, ctx context.Context, parent, filter string) []*auditv1.AuditEntry {
	t.Helper()
	resp, err := s.client.ListAuditEntries(ctx, &accountv1.ListAuditEntriesRequest{Parent: parent, Filter: filter})
	if err != nil {
		t.Fatalf("ListAuditEntries(%s, %s): %v", parent, filter, err)
	}
	return resp.AuditEntries
}

// changes maps an entry's changes by field to [old, new] as compact JSON.
func changes(e *auditv1.AuditEntry) map[string][2]string {
	out := map[string][2]string{}
	js := func(v *structpb.Value) string {
		if v == nil {
			return ""
		}
		b, _ := v.MarshalJSON()
		var c bytes.Buffer
		_ = json.Compact(&c, b)
		return c.String()
	}
	for _, c := range e.Changes {
		out[c.Field] = [2]string{js(c.OldValue), js(c.NewValue)}
	}
	return out
}

func TestAuditTrailOfAccountsAndContacts(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice, bob := testkit.As("alice", "sales"), testkit.As("bob", "sales")
	carol, olga := testkit.As("carol", "manager"), testkit.As("olga", "ops")
	a := s.account(t, &accountv1.Account{DisplayName: "Initech", CurrencyCode: "USD",
		CreditLimit: &moneypb.Money{CurrencyCode: "USD", Units: 50000}, PaymentTerms: accountv1.PaymentTerms_PAYMENT_TERMS_NET_30})
	if _, err := s.client.UpdateAccount(alice, &accountv1.UpdateAccountRequest{
		Account:    &accountv1.Account{Name: a.Name, CreditLimit: &moneypb.Money{CurrencyCode: "USD", Units: 75000}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"credit_limit"}},
	}); err != nil {
		t.Fatal(err)
	}
	c := s.contact(t, &accountv1.Contact{LastName: "Gibbons", Account: a.Name})

	entries := s.audit(t, alice, a.Name, "")
	if len(entries) != 2 {
		t.Fatalf("account entries = %v", entries)
	}
	upd, created := entries[0], entries[1]
	if c := changes(created); created.Action != auditv1.AuditEntry_ACTION_CREATE || created.RecordType != "crm.account.v1.Account" ||
		c["credit_limit"] != [2]string{"", `{"currencyCode":"USD","units":"50000"}`} || c["payment_terms"][1] != `"PAYMENT_TERMS_NET_30"` {
		t.Errorf("create entry = %v", created)
	}
	// Only the credit limit changed: the primary contact the new contact
	// brought is the contact's trail's.
	if c := changes(upd); upd.Actor != "alice" || upd.Method != "/crm.account.v1.AccountService/UpdateAccount" || len(c) != 1 ||
		c["credit_limit"] != [2]string{`{"currencyCode":"USD","units":"50000"}`, `{"currencyCode":"USD","units":"75000"}`} {
		t.Errorf("update entry = %v", upd)
	}
	if e := s.audit(t, alice, c.Name, ""); len(e) != 1 || changes(e[0])["primary"] != [2]string{"", "true"} ||
		changes(e[0])["account"] != [2]string{"", `"` + a.Name + `"`} {
		t.Errorf("contact entries = %v", e)
	}

	// Who may read a record's trail: whoever may read the record, and
	// accounts and contacts every salesperson, ops and manager may.
	for _, name := range []string{a.Name, c.Name} {
		if len(s.audit(t, bob, name, "")) == 0 || len(s.audit(t, olga, name, "")) == 0 || len(s.audit(t, carol, name, "")) == 0 {
			t.Errorf("%s: another salesperson, ops or a manager see no entries", name)
		}
	}
	_, err := s.client.ListAuditEntries(olga, &accountv1.ListAuditEntriesRequest{Parent: "accounts/-"})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	if e := s.audit(t, carol, "contacts/-", ""); len(e) != 1 || e[0].Record != c.Name {
		t.Errorf("all contacts = %v", e)
	}
	if e := s.audit(t, carol, "accounts/-", `actor = "alice" AND action = UPDATE`); len(e) != 1 {
		t.Errorf("all accounts updated by alice = %v", e)
	}
	_, err = s.client.ListAuditEntries(carol, &accountv1.ListAuditEntriesRequest{Parent: a.Name, Filter: `owner = "x"`})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	_, err = s.client.ListAuditEntries(carol, &accountv1.ListAuditEntriesRequest{Parent: "leads/" + uuid.NewString()})
	testkit.RequireCode(t, err, codes.InvalidArgument)

	// A deleted contact keeps its trail, ending with its last values.
	if _, err := s.client.DeleteContact(testkit.As("root", "admin"), &accountv1.DeleteContactRequest{Name: c.Name}); err != nil {
		t.Fatal(err)
	}
	entries = s.audit(t, carol, c.Name, "")
	if len(entries) != 2 || entries[0].Action != auditv1.AuditEntry_ACTION_DELETE || changes(entries[0])["last_name"] != [2]string{`"Gibbons"`, ""} {
		t.Errorf("deleted contact's entries = %v", entries)
	}
	_, err = s.client.ListAuditEntries(alice, &accountv1.ListAuditEntriesRequest{Parent: c.Name})
	testkit.RequireCode(t, err, codes.NotFound)
}

func TestAuditTrailRecordsConversionsIntoAccounts(t *testing.T) {
	t.Parallel()
	s := start(t)
	accountID, contactID, eventID := uuid.NewString(), uuid.NewString(), uuid.NewString()
	s.qualify(t, eventID, newConversion(accountID, contactID, true, true))
	seller := testkit.As("seller", "sales")
	var entries []*auditv1.AuditEntry
	testkit.Eventually(t, 20*time.Second, func() bool {
		resp, err := s.client.ListAuditEntries(seller, &accountv1.ListAuditEntriesRequest{Parent: "contacts/" + contactID})
		entries = resp.GetAuditEntries()
		return err == nil && len(entries) == 1
	}, "conversion recorded")
	for _, e := range append(entries, s.audit(t, seller, "accounts/"+accountID, "")...) {
		if e.Action != auditv1.AuditEntry_ACTION_CREATE || e.Actor != "seller" || e.Method != "event:crm.events.v1.LeadQualified" || e.RequestId != eventID {
			t.Errorf("conversion entry = %v", e)
		}
	}
}
