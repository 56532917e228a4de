package wire_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/testkit"
)

var manager = testkit.As("mia", "manager")

func (s *suite) getAccount(t *testing.T, name string) *accountv1.Account {
	t.Helper()
	a, err := s.client.GetAccount(testkit.As("x"), &accountv1.GetAccountRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mergedEvents[T proto.Message](evs []proto.Message) []T {
	var out []T
	for _, e := range evs {
		if m, ok := e.(T); ok {
			out = append(out, m)
		}
	}
	return out
}

func TestMergeAccountsMovesContactsAndAddressesAndKeepsTheMergedReadOnly(t *testing.T) {
	t.Parallel()
	s := start(t)
	survivor := s.account(t, &accountv1.Account{DisplayName: "Acme", CurrencyCode: "EUR",
		Addresses: []*accountv1.Address{billing("Berlin", "DE", true)}, CustomFields: map[string]string{"tier": "gold"}})
	dup := s.account(t, &accountv1.Account{DisplayName: "ACME GmbH", CurrencyCode: "EUR", Website: "acme.example",
		Addresses:    []*accountv1.Address{billing(" berlin ", "DE", true), shipping("Hamburg", "DE")},
		CustomFields: map[string]string{"tier": "silver", "segment": "smb"}})
	own := s.contact(t, &accountv1.Contact{FirstName: "Ada", Account: survivor.Name})
	moved1 := s.contact(t, &accountv1.Contact{FirstName: "Bob", Account: dup.Name})
	moved2 := s.contact(t, &accountv1.Contact{FirstName: "Cy", Account: dup.Name})
	before := s.published(t, 5)

	// The dry run says what would happen and changes nothing.
	dry, err := s.client.MergeAccounts(manager, &accountv1.MergeAccountsRequest{Survivor: survivor.Name, Merged: []string{dup.Name}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.AddedAddresses != 1 || !slices.Equal(dry.MovedContacts, []string{moved1.Name, moved2.Name}) ||
		len(dry.Account.Addresses) != 2 || dry.Account.CustomFields["segment"] != "smb" || dry.Account.CustomFields["tier"] != "gold" ||
		dry.MergedAccounts[0].State != accountv1.AccountState_ACCOUNT_STATE_ACTIVE {
		t.Fatalf("dry run = %v", dry)
	}
	if got := s.getAccount(t, survivor.Name); got.Etag != survivor.Etag || len(got.Addresses) != 1 {
		t.Fatalf("dry run changed the survivor: %v", got)
	}
	if got := s.getContact(t, moved1.Name); got.Account != dup.Name {
		t.Fatalf("dry run moved a contact: %v", got)
	}

	// The merge, retried with its request id: done once.
	req := &accountv1.MergeAccountsRequest{Survivor: survivor.Name, Merged: []string{dup.Name}, Etag: survivor.Etag, RequestId: uuid.NewString()}
	res, err := s.client.MergeAccounts(manager, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.client.MergeAccounts(manager, req)
	if err != nil || !proto.Equal(again, res) {
		t.Fatalf("retry = %v, %v; want %v", again, err, res)
	}
	if res.DryRun || res.Account.Etag == survivor.Etag || len(res.Account.Addresses) != 2 || res.Account.Website != "acme.example" {
		t.Fatalf("merged survivor = %v", res.Account)
	}
	merged := s.getAccount(t, dup.Name)
	if merged.State != accountv1.AccountState_ACCOUNT_STATE_MERGED || merged.MergedInto != survivor.Name || !proto.Equal(merged, res.MergedAccounts[0]) {
		t.Fatalf("merged = %v", merged)
	}
	for _, c := range []*accountv1.Contact{moved1, moved2} {
		if got := s.getContact(t, c.Name); got.Account != survivor.Name || got.Primary || got.Etag == c.Etag {
			t.Fatalf("moved contact = %v", got)
		}
	}
	if p := s.primaries(t, survivor.Name); !slices.Equal(p, []string{own.Name}) {
		t.Fatalf("primaries = %v", p)
	}
	evs := s.published(t, len(before)+2)
	am := mergedEvents[*eventsv1.AccountsMerged](evs)
	if len(am) != 1 || am[0].AccountId != survivor.Name[len("accounts/"):] || !slices.Equal(am[0].MergedAccountIds, []string{dup.Name[len("accounts/"):]}) ||
		len(am[0].MovedContactIds) != 2 || am[0].MergedAccounts[0].State != accountv1.AccountState_ACCOUNT_STATE_MERGED {
		t.Fatalf("AccountsMerged = %v", am)
	}

	// The merged account is kept, read-only.
	_, err = s.client.UpdateAccount(manager, &accountv1.UpdateAccountRequest{
		Account: &accountv1.Account{Name: dup.Name, Industry: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"industry"}}})
	requireReason(t, err, codes.FailedPrecondition, "ACCOUNT_MERGED")
	_, err = s.client.DeactivateAccount(manager, &accountv1.DeactivateAccountRequest{Name: dup.Name})
	requireReason(t, err, codes.FailedPrecondition, "ACCOUNT_MERGED")
	_, err = s.client.ActivateAccount(manager, &accountv1.ActivateAccountRequest{Name: dup.Name})
	requireReason(t, err, codes.FailedPrecondition, "ACCOUNT_MERGED")
	_, err = s.client.CreateContact(manager, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{FirstName: "Late", Account: dup.Name}})
	requireReason(t, err, codes.FailedPrecondition, "ACCOUNT_MERGED")
	_, err = s.client.UpdateContact(manager, &accountv1.UpdateContactRequest{
		Contact: &accountv1.Contact{Name: own.Name, Account: dup.Name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"account"}}})
	requireReason(t, err, codes.FailedPrecondition, "ACCOUNT_MERGED")
	// Merging it again, as merged or as survivor.
	other := s.account(t, &accountv1.Account{DisplayName: "Other", CurrencyCode: "EUR"})
	_, err = s.client.MergeAccounts(manager, &accountv1.MergeAccountsRequest{Survivor: other.Name, Merged: []string{dup.Name}})
	requireReason(t, err, codes.FailedPrecondition, "ACCOUNT_ALREADY_MERGED")
	_, err = s.client.MergeAccounts(manager, &accountv1.MergeAccountsRequest{Survivor: dup.Name, Merged: []string{other.Name}})
	requireReason(t, err, codes.FailedPrecondition, "ACCOUNT_ALREADY_MERGED")
	// A merged account matches no one any more.
	m, err := s.client.MatchCustomers(manager, &accountv1.MatchCustomersRequest{Website: "acme.example"})
	if err != nil || len(m.Accounts) != 1 || m.Accounts[0].Account.Name != survivor.Name {
		t.Fatalf("match = %v, %v", m, err)
	}
}

func requireReason(t *testing.T, err error, code codes.Code, want string) {
	t.Helper()
	if reason, _ := testkit.RequireCode(t, err, code); reason != want {
		t.Fatalf("reason = %s, want %s (%v)", reason, want, err)
	}
}

// requireViolation requires an InvalidArgument with a violation of field
// whose description says what.
func requireViolation(t *testing.T, err error, field, what string) {
	t.Helper()
	testkit.RequireCode(t, err, codes.InvalidArgument)
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				if v.Field == field && strings.Contains(v.Description, what) {
					return
				}
			}
		}
	}
	t.Fatalf("%v: no violation of %s saying %q", err, field, what)
}

// order publishes an order event on the order stream, as the order
// service's relay would.
func (s *suite) order(t *testing.T, ev proto.Message) {
	t.Helper()
	s.nats.Publish(t, s.js, "order", ev)
}

func waitOrdersProjected(t *testing.T, s *suite) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, 20*time.Second, func() bool {
		c, err := s.js.Consumer(ctx, events.StreamName(s.nats.Namespace, "order"), "account-orders")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "order stream consumed")
}

func TestMergeAccountsRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	eur := s.account(t, &accountv1.Account{DisplayName: "Euro", CurrencyCode: "EUR"})
	usd := s.account(t, &accountv1.Account{DisplayName: "Dollar", CurrencyCode: "USD"})
	person := s.account(t, &accountv1.Account{DisplayName: "Pat", CurrencyCode: "EUR", Type: accountv1.AccountType_ACCOUNT_TYPE_INDIVIDUAL})
	merge := func(req *accountv1.MergeAccountsRequest) error {
		_, err := s.client.MergeAccounts(manager, req)
		return err
	}

	// Into itself; the survivor among the merged.
	requireViolation(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{eur.Name}}), "merged", "cannot be merged into itself")
	requireViolation(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{usd.Name, eur.Name}}), "merged", "also listed among the merged")
	// Malformed and missing names, an unknown type, a sales rep.
	_, fields := testkit.RequireCode(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{"accounts/nope"}}), codes.InvalidArgument)
	if !testkit.HasField(fields, "merged") {
		t.Fatalf("fields = %v", fields)
	}
	testkit.RequireCode(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name}), codes.InvalidArgument)
	testkit.RequireCode(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{usd.Name}, Type: 9}), codes.InvalidArgument)
	requireReason(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{"accounts/" + uuid.NewString()}}), codes.NotFound, "ACCOUNT_NOT_FOUND")
	_, err := s.client.MergeAccounts(testkit.As("alice", "sales"), &accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{usd.Name}})
	testkit.RequireDenied(t, "sales merging", err)
	requireReason(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{usd.Name}, Etag: `W/"99"`}), codes.Aborted, "ETAG_MISMATCH")

	// Different types: refused unless the request says which one wins.
	requireReason(t, merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{person.Name}, DryRun: true}), codes.FailedPrecondition, "ACCOUNT_TYPES_DIFFER")
	dry, err := s.client.MergeAccounts(manager, &accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{person.Name},
		Type: accountv1.AccountType_ACCOUNT_TYPE_INDIVIDUAL, DryRun: true})
	if err != nil || dry.Account.Type != accountv1.AccountType_ACCOUNT_TYPE_INDIVIDUAL {
		t.Fatalf("typed dry run = %v, %v", dry, err)
	}

	// Open orders in another currency: refused while any is open.
	orderID := uuid.NewString()
	order := func(status orderv1.OrderStatus, version int) *orderv1.Order {
		return &orderv1.Order{Name: "orders/" + orderID, Account: usd.Name, CurrencyCode: "USD", Status: status, Etag: `W/"` + string(rune('0'+version)) + `"`}
	}
	s.order(t, &eventsv1.OrderCreated{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, OrderId: orderID, Order: order(orderv1.OrderStatus_ORDER_STATUS_DRAFT, 1)})
	s.order(t, &eventsv1.OrderConfirmed{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, OrderId: orderID, Order: order(orderv1.OrderStatus_ORDER_STATUS_CONFIRMED, 2)})
	waitOrdersProjected(t, s)
	err = merge(&accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{usd.Name}})
	requireReason(t, err, codes.FailedPrecondition, "OPEN_ORDERS_IN_OTHER_CURRENCY")
	if meta := testkit.ErrorMeta(t, err); meta["currency_code"] != "USD" || meta["open_orders"] != "1" {
		t.Fatalf("meta = %v", meta)
	}
	// Into an account of the same currency the open order may move.
	usd2 := s.account(t, &accountv1.Account{DisplayName: "Dollar 2", CurrencyCode: "USD"})
	dry, err = s.client.MergeAccounts(manager, &accountv1.MergeAccountsRequest{Survivor: usd2.Name, Merged: []string{usd.Name}, DryRun: true})
	if err != nil || dry.OpenOrders != 1 {
		t.Fatalf("same-currency dry run = %v, %v", dry, err)
	}
	// A late redelivered older event changes nothing; the cancellation
	// (a newer version) closes the order, and the merge goes through.
	s.order(t, &eventsv1.OrderCancelled{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, OrderId: orderID, Order: order(orderv1.OrderStatus_ORDER_STATUS_CANCELLED, 3)})
	s.order(t, &eventsv1.OrderCreated{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, OrderId: orderID, Order: order(orderv1.OrderStatus_ORDER_STATUS_DRAFT, 1)})
	waitOrdersProjected(t, s)
	res, err := s.client.MergeAccounts(manager, &accountv1.MergeAccountsRequest{Survivor: eur.Name, Merged: []string{usd.Name}})
	if err != nil || res.OpenOrders != 0 {
		t.Fatalf("merge after cancel = %v, %v", res, err)
	}
}

func TestMergeContacts(t *testing.T) {
	t.Parallel()
	s := start(t)
	acme := s.account(t, &accountv1.Account{DisplayName: "Acme", CurrencyCode: "EUR"})
	other := s.account(t, &accountv1.Account{DisplayName: "Other", CurrencyCode: "EUR"})
	primary := s.contact(t, &accountv1.Contact{FirstName: "Ada", LastName: "L", Account: acme.Name, Roles: []string{"finance", "technical"},
		Emails: []*accountv1.ContactEmail{{Address: "ada@acme.example"}}})
	// The same person twice, as merges find them: saved despite the duplicate check.
	survivor, err := s.client.CreateContact(testkit.As("alice"), &accountv1.CreateContactRequest{AllowDuplicate: true,
		Contact: &accountv1.Contact{LastName: "Lovelace", Account: acme.Name, Roles: []string{"technical"},
			Emails: []*accountv1.ContactEmail{{Address: "ADA@acme.example"}}}})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := s.contact(t, &accountv1.Contact{FirstName: "Ada", Account: other.Name, Title: "CTO",
		Phones: []*accountv1.ContactPhone{{Number: "+49 30 1234567"}}, Birthday: &date.Date{Month: 12, Day: 10},
		Emails: []*accountv1.ContactEmail{{Address: "ada@home.example"}}})
	stays := s.contact(t, &accountv1.Contact{FirstName: "Zed", Account: other.Name})
	merge := func(req *accountv1.MergeContactsRequest) (*accountv1.MergeContactsResponse, error) {
		return s.client.MergeContacts(manager, req)
	}

	dry, err := merge(&accountv1.MergeContactsRequest{Survivor: survivor.Name, Merged: []string{primary.Name, elsewhere.Name}, DryRun: true})
	if err != nil || !dry.DryRun || dry.Contact.FirstName != "Ada" || len(dry.Contact.Emails) != 2 || len(dry.Contact.Phones) != 1 ||
		dry.Contact.Title != "CTO" || dry.Contact.Birthday.GetDay() != 10 || dry.MergedContacts[0].MergedInto != "" {
		t.Fatalf("dry run = %v, %v", dry, err)
	}
	if got := s.getContact(t, survivor.Name); got.Etag != survivor.Etag {
		t.Fatalf("dry run changed the survivor: %v", got)
	}

	req := &accountv1.MergeContactsRequest{Survivor: survivor.Name, Merged: []string{primary.Name, elsewhere.Name}, RequestId: uuid.NewString()}
	res, err := merge(req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := merge(req); err != nil || !proto.Equal(again, res) {
		t.Fatalf("retry = %v, %v", again, err)
	}
	// The survivor took over its account's primary from the merged one;
	// the other account's primary went to its remaining contact.
	if !res.Contact.Primary || !slices.Contains(res.ChangedFields, "emails") {
		t.Fatalf("survivor = %v (%v)", res.Contact, res.ChangedFields)
	}
	// It plays every role either record knew.
	if !slices.Equal(res.Contact.Roles, []string{"technical", "finance"}) || !slices.Contains(res.ChangedFields, "roles") {
		t.Fatalf("survivor's roles = %v (%v)", res.Contact.Roles, res.ChangedFields)
	}
	if p := s.primaries(t, acme.Name); !slices.Equal(p, []string{survivor.Name}) {
		t.Fatalf("acme primaries = %v", p)
	}
	if p := s.primaries(t, other.Name); !slices.Equal(p, []string{stays.Name}) {
		t.Fatalf("other primaries = %v", p)
	}
	for _, m := range []*accountv1.Contact{primary, elsewhere} {
		got := s.getContact(t, m.Name)
		if got.MergedInto != survivor.Name || got.Primary {
			t.Fatalf("merged contact = %v", got)
		}
		_, err := s.client.UpdateContact(manager, &accountv1.UpdateContactRequest{
			Contact: &accountv1.Contact{Name: m.Name, Title: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
		requireReason(t, err, codes.FailedPrecondition, "CONTACT_MERGED")
		_, err = s.client.DeleteContact(testkit.As("root", "admin"), &accountv1.DeleteContactRequest{Name: m.Name})
		requireReason(t, err, codes.FailedPrecondition, "CONTACT_MERGED")
	}
	evs := s.published(t, 1)
	cm := mergedEvents[*eventsv1.ContactsMerged](evs)
	if len(cm) != 1 || len(cm[0].MergedContactIds) != 2 || cm[0].Contact.Name != survivor.Name {
		t.Fatalf("ContactsMerged = %v", cm)
	}

	// Refusals.
	_, err = merge(&accountv1.MergeContactsRequest{Survivor: stays.Name, Merged: []string{stays.Name}})
	requireViolation(t, err, "merged", "cannot be merged into itself")
	_, err = merge(&accountv1.MergeContactsRequest{Survivor: stays.Name, Merged: []string{survivor.Name, stays.Name}})
	requireViolation(t, err, "merged", "also listed among the merged")
	_, err = merge(&accountv1.MergeContactsRequest{Survivor: stays.Name, Merged: []string{primary.Name}})
	requireReason(t, err, codes.FailedPrecondition, "CONTACT_ALREADY_MERGED")
	_, err = merge(&accountv1.MergeContactsRequest{Survivor: elsewhere.Name, Merged: []string{stays.Name}})
	requireReason(t, err, codes.FailedPrecondition, "CONTACT_ALREADY_MERGED")
	_, err = merge(&accountv1.MergeContactsRequest{Survivor: stays.Name, Merged: []string{"contacts/" + uuid.NewString()}})
	requireReason(t, err, codes.NotFound, "CONTACT_NOT_FOUND")
	_, err = s.client.MergeContacts(testkit.As("alice", "sales"), &accountv1.MergeContactsRequest{Survivor: stays.Name, Merged: []string{survivor.Name}})
	testkit.RequireDenied(t, "sales merging contacts", err)
}
