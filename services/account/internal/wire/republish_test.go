package wire_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/account/internal/wire"
)

// `account republish-customers` publishes every account and every contact
// once, as it is (with its etag), page by page, with no serving replica
// needed; running it again publishes them again (consumers keyed by the
// version change nothing).
func TestRepublishCustomersPublishesEveryRecordOnce(t *testing.T) {
	t.Parallel()
	s := start(t)
	var accounts, contacts []string
	etags := map[string]string{}
	for i := range 3 {
		a := s.account(t, &accountv1.Account{DisplayName: "Customer " + string(rune('A'+i))})
		accounts, etags[a.Name] = append(accounts, a.Name), a.Etag
		for j := range 2 {
			c := s.contact(t, &accountv1.Contact{LastName: "Person " + string(rune('A'+i)) + string(rune('a'+j)), Account: a.Name})
			contacts = append(contacts, c.Name)
		}
	}
	before := len(s.published(t, 9)) // 3 AccountCreated, 6 ContactCreated
	run := func(args ...string) {
		t.Helper()
		err := service.RunCommand(context.Background(), inproc.Config("account", s.dbURL, s.nats),
			slog.New(slog.NewTextHandler(io.Discard, nil)), wire.Spec(), "republish-customers", args)
		if err != nil {
			t.Fatal(err)
		}
	}
	run("-page-size", "2")
	evs := s.published(t, before+9)[before:]
	var gotAccounts, gotContacts []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case *eventsv1.AccountSnapshot:
			gotAccounts = append(gotAccounts, e.Account.Name)
			if e.Account.Etag != etags[e.Account.Name] || e.AccountId == "" {
				t.Errorf("snapshot of %s: etag %s, want %s", e.Account.Name, e.Account.Etag, etags[e.Account.Name])
			}
		case *eventsv1.ContactSnapshot:
			gotContacts = append(gotContacts, e.Contact.Name)
		default:
			t.Errorf("unexpected event %T", ev)
		}
	}
	slices.Sort(accounts)
	slices.Sort(contacts)
	slices.Sort(gotAccounts)
	slices.Sort(gotContacts)
	if !slices.Equal(gotAccounts, accounts) || !slices.Equal(gotContacts, contacts) {
		t.Fatalf("snapshots: accounts %v (want %v), contacts %v (want %v)", gotAccounts, accounts, gotContacts, contacts)
	}
	run()
	if n := len(s.published(t, before+18)); n != before+18 {
		t.Fatalf("second run: %d events, want %d", n, before+18)
	}
	if err := service.RunCommand(context.Background(), inproc.Config("account", s.dbURL, s.nats),
		slog.New(slog.NewTextHandler(io.Discard, nil)), wire.Spec(), "republish-customers", []string{"-page-size", "0"}); err == nil {
		t.Fatal("-page-size 0 accepted")
	}
}
