package wire_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/testkit"
	eventport "github.com/crmsuite/crm/services/lead/internal/ports/events"
)

// customers feeds the lead service account and contact events, as the
// account service publishes them, and waits until each is applied.
type customers struct {
	s      *suite
	stream stream
}

func (s *suite) customers(t *testing.T) customers {
	return customers{s: s, stream: s.serviceStream(t, "account")}
}

// send publishes ev and waits until the projection's consumer took it.
func (c customers) send(t *testing.T, ev proto.Message) {
	t.Helper()
	c.stream.publish(t, ev)
	id := ev.ProtoReflect().Get(ev.ProtoReflect().Descriptor().Fields().ByName("meta")).Message().Interface().(*eventsv1.EventMeta).GetEventId()
	testkit.Eventually(t, 20*time.Second, func() bool { return c.s.applied(t, eventport.CustomerKeysConsumerName, id) }, "event %s applied", id)
}

func contact(id uuid.UUID, version int64, account uuid.UUID, first, last string, emails []string, phones ...string) *accountv1.Contact {
	c := &accountv1.Contact{Name: "contacts/" + id.String(), FirstName: first, LastName: last, Etag: etag.Format(version)}
	if account != uuid.Nil {
		c.Account = "accounts/" + account.String()
	}
	for _, e := range emails {
		c.Emails = append(c.Emails, &accountv1.ContactEmail{Address: e})
	}
	for _, p := range phones {
		c.Phones = append(c.Phones, &accountv1.ContactPhone{Number: p})
	}
	return c
}

func account(id uuid.UUID, version int64, name, website string, state accountv1.AccountState) *accountv1.Account {
	return &accountv1.Account{Name: "accounts/" + id.String(), DisplayName: name, Website: website,
		Domain: strings.TrimPrefix(strings.TrimPrefix(website, "https://"), "www."), State: state, Etag: etag.Format(version)}
}

// refusal returns the precondition violations ("TYPE subject") and the
// ErrorInfo metadata of a DUPLICATE_LEAD refusal.
func refusal(t *testing.T, err error) ([]string, map[string]string, string) {
	t.Helper()
	got := duplicatesOf(t, err)
	var meta map[string]string
	var descriptions []string
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			meta = d.Metadata
		case *errdetails.PreconditionFailure:
			for _, v := range d.Violations {
				descriptions = append(descriptions, v.Description)
			}
		}
	}
	return got, meta, status.Convert(err).Message() + " | " + strings.Join(descriptions, " | ")
}

// A new lead is checked against the contacts' emails and phones and the
// accounts' names and web domains, normalised as leads are; the refusal
// names the record and suggests converting into it (existing_contact,
// existing_account of :qualify), and allow_duplicate saves the lead
// anyway. An update that sets such a key is refused the same way, and an
// import skips the row (SKIP, UPDATE: there is no lead to update) naming
// the record, or creates it (CREATE_ANYWAY).
func TestLeadsAreCheckedAgainstContactsAndAccounts(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.customers(t)
	acc, ada := uuid.New(), uuid.New()
	c.send(t, &eventsv1.AccountCreated{Meta: meta(time.Now()), AccountId: acc.String(),
		Account: account(acc, 1, "Analytical Engines Ltd", "https://www.engines.example", accountv1.AccountState_ACCOUNT_STATE_ACTIVE)})
	c.send(t, &eventsv1.ContactCreated{Meta: meta(time.Now()), ContactId: ada.String(), AccountId: acc.String(),
		Contact: contact(ada, 1, acc, "Ada", "Lovelace", []string{"ada@engines.example", "ada@home.example"}, "+49 30 1234567")})
	accName, adaName := "accounts/"+acc.String(), "contacts/"+ada.String()

	ctx := testkit.As("alice")
	create := func(l *leadv1.Lead, allow bool) (*leadv1.Lead, error) {
		return s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l, AllowDuplicate: allow})
	}
	cases := []struct {
		name string
		lead *leadv1.Lead
		want []string
	}{
		{"contact's second email, other case and spacing", &leadv1.Lead{LastName: "A", Email: "  ADA@Home.Example "}, []string{"DUPLICATE_EMAIL " + adaName}},
		{"contact's phone in local form", &leadv1.Lead{LastName: "B", Phone: "030 1234567", Address: &leadv1.PostalAddress{RegionCode: "DE"}}, []string{"DUPLICATE_PHONE " + adaName}},
		{"account's name, other case and spacing", &leadv1.Lead{LastName: "C", Company: " analytical  ENGINES ltd"}, []string{"DUPLICATE_COMPANY_NAME " + accName}},
		{"account's web domain", &leadv1.Lead{LastName: "D", Website: "http://Engines.Example/about"}, []string{"DUPLICATE_WEB_DOMAIN " + accName}},
		{"contact and account at once", &leadv1.Lead{LastName: "E", Email: "ada@engines.example", Company: "Analytical Engines Ltd"},
			[]string{"DUPLICATE_EMAIL " + adaName, "DUPLICATE_COMPANY_NAME " + accName}},
	}
	for _, tc := range cases {
		_, err := create(tc.lead, false)
		got, md, text := refusal(t, err)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: violations %v, want %v", tc.name, got, tc.want)
		}
		if md["existing_account"] != accName {
			t.Errorf("%s: existing_account %q, want %s", tc.name, md["existing_account"], accName)
		}
		if strings.Contains(tc.want[0], "contacts/") && md["existing_contact"] != adaName {
			t.Errorf("%s: existing_contact %q, want %s", tc.name, md["existing_contact"], adaName)
		}
		wantName := "Analytical Engines Ltd"
		if strings.Contains(tc.want[0], "contacts/") {
			wantName = "Ada Lovelace"
		}
		if !strings.Contains(text, wantName) || !strings.Contains(text, ":qualify") {
			t.Errorf("%s: refusal %q does not name %q or suggest converting", tc.name, text, wantName)
		}
	}
	if _, err := create(&leadv1.Lead{LastName: "Someone", Email: "someone@else.example", Company: "Other Co"}, false); err != nil {
		t.Fatalf("a lead like no customer: %v", err)
	}
	dup, err := create(&leadv1.Lead{LastName: "Lovelace", Email: "ADA@engines.example"}, true)
	if err != nil {
		t.Fatalf("allow_duplicate: %v", err)
	}
	// An update setting the contact's phone is refused; with
	// allow_duplicate it goes through.
	other, err := create(&leadv1.Lead{LastName: "Babbage"}, false)
	if err != nil {
		t.Fatal(err)
	}
	update := func(allow bool) error {
		_, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: other.Name, Phone: "+49 30 123 4567"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"phone"}}, AllowDuplicate: allow})
		return err
	}
	if got, _, _ := refusal(t, update(false)); !slices.Equal(got, []string{"DUPLICATE_PHONE " + adaName}) {
		t.Fatalf("update: %v", got)
	}
	if err := update(true); err != nil {
		t.Fatalf("update with allow_duplicate: %v", err)
	}
	// An unrelated edit of the lead saved with allow_duplicate passes.
	if _, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: dup.Name, Title: "Countess"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
		t.Fatalf("unrelated edit: %v", err)
	}

	for _, policy := range []leadv1.DuplicatePolicy{leadv1.DuplicatePolicy_DUPLICATE_POLICY_SKIP, leadv1.DuplicatePolicy_DUPLICATE_POLICY_UPDATE} {
		r := runImport(t, s, &leadv1.ImportOptions{DuplicatePolicy: policy},
			rows(&leadv1.Lead{LastName: "Row", Website: "engines.example"}, &leadv1.Lead{LastName: "Fresh", Email: "fresh-" + policy.String() + "@new.example"}))
		if r.job.Counts.Created != 1 || r.job.Counts.Skipped != 1 || len(r.rejections) != 1 ||
			!slices.Equal(r.rejections[0].Duplicates, []string{accName}) || r.rejections[0].Reason != "DUPLICATE_SKIPPED" {
			t.Fatalf("import %s: counts %v, rejections %v", policy, r.job.Counts, r.rejections)
		}
	}
	r := runImport(t, s, &leadv1.ImportOptions{DuplicatePolicy: leadv1.DuplicatePolicy_DUPLICATE_POLICY_CREATE_ANYWAY},
		rows(&leadv1.Lead{LastName: "Row", Email: "ada@engines.example"}))
	if r.job.Counts.Created != 1 {
		t.Fatalf("import CREATE_ANYWAY: %v", r.job.Counts)
	}
}

// customerKeys returns the projection's keys of a record, "RULE key",
// sorted, and its state ("" if unknown).
func (s *suite) customerKeys(t *testing.T, id uuid.UUID) ([]string, string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var state string
	if err := conn.QueryRow(ctx, `SELECT state FROM lead.customer_records WHERE id = $1`, id).Scan(&state); err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT rule || ' ' || key FROM lead.customer_keys WHERE record_id = $1 ORDER BY 1`, id)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return keys, state
}

// The projection (consumer lead-customer-keys) is idempotent and follows
// the records: the same event twice changes nothing; an older version than
// the one applied changes nothing; an update that changes the email moves
// the key; a deleted contact no longer matches and a late update does not
// bring it back; a deactivated account stops matching until activated.
func TestCustomerKeysProjectionFollowsTheAccountEvents(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.customers(t)
	ctx := testkit.As("alice")
	matches := func(l *leadv1.Lead) bool {
		t.Helper()
		_, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l})
		if err == nil {
			return false
		}
		duplicatesOf(t, err)
		return true
	}
	grace := uuid.New()
	created := &eventsv1.ContactCreated{Meta: meta(time.Now()), ContactId: grace.String(),
		Contact: contact(grace, 1, uuid.Nil, "Grace", "Hopper", []string{"Grace@Navy.example"}, "+1 415 555 0134")}
	c.send(t, created)
	c.send(t, created) // redelivered: the inbox has it
	want := []string{"EMAIL grace@navy.example", "PHONE +14155550134"}
	if keys, state := s.customerKeys(t, grace); !slices.Equal(keys, want) || state != "LIVE" {
		t.Fatalf("after ContactCreated twice: %v %s", keys, state)
	}
	c.send(t, &eventsv1.ContactUpdated{Meta: meta(time.Now()), ContactId: grace.String(),
		Contact: contact(grace, 2, uuid.Nil, "Grace", "Hopper", []string{"grace@cobol.example"}, "+1 415 555 0134")})
	// A different event with an older version (a late redelivery of the
	// creation under another id) is ignored.
	c.send(t, &eventsv1.ContactCreated{Meta: meta(time.Now()), ContactId: grace.String(), Contact: created.Contact})
	want = []string{"EMAIL grace@cobol.example", "PHONE +14155550134"}
	if keys, _ := s.customerKeys(t, grace); !slices.Equal(keys, want) {
		t.Fatalf("after the email changed: %v, want %v", keys, want)
	}
	if matches(&leadv1.Lead{LastName: "Old", Email: "grace@navy.example"}) {
		t.Fatal("the contact's former email still matches")
	}
	if !matches(&leadv1.Lead{LastName: "New", Email: "GRACE@cobol.example"}) {
		t.Fatal("the contact's new email does not match")
	}
	// Deleted: carries the contact as it was (same version as the last
	// update), and wins; a later update (out of order) changes nothing.
	c.send(t, &eventsv1.ContactDeleted{Meta: meta(time.Now()), ContactId: grace.String(),
		Contact: contact(grace, 2, uuid.Nil, "Grace", "Hopper", []string{"grace@cobol.example"}, "+1 415 555 0134")})
	c.send(t, &eventsv1.ContactUpdated{Meta: meta(time.Now()), ContactId: grace.String(),
		Contact: contact(grace, 3, uuid.Nil, "Grace", "Hopper", []string{"grace@cobol.example"})})
	if keys, state := s.customerKeys(t, grace); len(keys) != 0 || state != "DELETED" {
		t.Fatalf("deleted contact: keys %v, state %s", keys, state)
	}
	if matches(&leadv1.Lead{LastName: "Again", Email: "grace@cobol.example", Phone: "+1 415 555 0134"}) {
		t.Fatal("a deleted contact still matches")
	}

	acc := uuid.New()
	c.send(t, &eventsv1.AccountCreated{Meta: meta(time.Now()), AccountId: acc.String(),
		Account: account(acc, 1, "Difference Engines", "", accountv1.AccountState_ACCOUNT_STATE_ACTIVE)})
	c.send(t, &eventsv1.AccountDeactivated{Meta: meta(time.Now()), AccountId: acc.String(),
		Account: account(acc, 2, "Difference Engines", "", accountv1.AccountState_ACCOUNT_STATE_INACTIVE)})
	if matches(&leadv1.Lead{LastName: "X", Company: "Difference Engines"}) {
		t.Fatal("a deactivated account matches")
	}
	c.send(t, &eventsv1.AccountActivated{Meta: meta(time.Now()), AccountId: acc.String(),
		Account: account(acc, 3, "Difference Engines", "", accountv1.AccountState_ACCOUNT_STATE_ACTIVE)})
	c.send(t, &eventsv1.AccountUpdated{Meta: meta(time.Now()), AccountId: acc.String(),
		Account: account(acc, 4, "Difference Engines Ltd", "https://engines.example", accountv1.AccountState_ACCOUNT_STATE_ACTIVE)})
	if keys, state := s.customerKeys(t, acc); !slices.Equal(keys, []string{"COMPANY_NAME difference engines ltd", "WEB_DOMAIN engines.example"}) || state != "LIVE" {
		t.Fatalf("renamed account: %v %s", keys, state)
	}
	if matches(&leadv1.Lead{LastName: "Y", Company: "Difference Engines"}) || !matches(&leadv1.Lead{LastName: "Z", Company: "difference engines LTD"}) {
		t.Fatal("the account's key did not move with its name")
	}
}

// An account event that names no valid record is dead-lettered at once
// and stores nothing; the consumer goes on with the next.
func TestCustomerKeysConsumerRefusesMalformedEvents(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.customers(t)
	bad := []proto.Message{
		&eventsv1.ContactCreated{Meta: meta(time.Now()), Contact: &accountv1.Contact{Name: "contacts/not-a-uuid", Etag: etag.Format(1),
			Emails: []*accountv1.ContactEmail{{Address: "bad@example.com"}}}},
		&eventsv1.ContactCreated{Meta: meta(time.Now()), Contact: &accountv1.Contact{Name: "contacts/" + uuid.Nil.String(), Etag: etag.Format(1),
			Emails: []*accountv1.ContactEmail{{Address: "bad@example.com"}}}},
		&eventsv1.ContactCreated{Meta: meta(time.Now()), Contact: &accountv1.Contact{Name: "contacts/" + uuid.NewString(),
			Emails: []*accountv1.ContactEmail{{Address: "bad@example.com"}}}}, // no etag, no version
		&eventsv1.AccountCreated{Meta: meta(time.Now())}, // no account
	}
	for _, ev := range bad {
		c.stream.publish(t, ev)
	}
	good := uuid.New()
	c.send(t, &eventsv1.ContactCreated{Meta: meta(time.Now()), Contact: contact(good, 1, uuid.Nil, "Good", "One", []string{"good@example.com"})})
	if _, err := s.client.CreateLead(testkit.As("alice"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "B", Email: "bad@example.com"}}); err != nil {
		t.Fatalf("a malformed event's email matches: %v", err)
	}
	if keys, _ := s.customerKeys(t, good); len(keys) != 1 {
		t.Fatalf("the consumer did not go on: %v", keys)
	}
}

// The snapshots the account service republishes (`account
// republish-customers`) fill the projection with records it has not seen
// change, and change nothing for those it knows at that version.
func TestCustomerSnapshotsFillTheProjection(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.customers(t)
	old, acc := uuid.New(), uuid.New()
	c.send(t, &eventsv1.ContactSnapshot{Meta: meta(time.Now()), ContactId: old.String(),
		Contact: contact(old, 7, uuid.Nil, "Old", "Customer", []string{"old@customer.example"})})
	c.send(t, &eventsv1.AccountSnapshot{Meta: meta(time.Now()), AccountId: acc.String(),
		Account: account(acc, 3, "Old Customer Ltd", "", accountv1.AccountState_ACCOUNT_STATE_ACTIVE)})
	if keys, _ := s.customerKeys(t, old); !slices.Equal(keys, []string{"EMAIL old@customer.example"}) {
		t.Fatalf("contact snapshot: %v", keys)
	}
	if keys, _ := s.customerKeys(t, acc); !slices.Equal(keys, []string{"COMPANY_NAME old customer ltd"}) {
		t.Fatalf("account snapshot: %v", keys)
	}
	// Changed since (v8), then the snapshot of v7 arrives again: ignored.
	c.send(t, &eventsv1.ContactUpdated{Meta: meta(time.Now()), ContactId: old.String(),
		Contact: contact(old, 8, uuid.Nil, "Old", "Customer", []string{"new@customer.example"})})
	c.send(t, &eventsv1.ContactSnapshot{Meta: meta(time.Now()), ContactId: old.String(),
		Contact: contact(old, 7, uuid.Nil, "Old", "Customer", []string{"old@customer.example"})})
	if keys, _ := s.customerKeys(t, old); !slices.Equal(keys, []string{"EMAIL new@customer.example"}) {
		t.Fatalf("an older snapshot changed the keys: %v", keys)
	}
}

// Merges: the merged account and contact no longer match; a lead like
// them (or like a contact that moved with the account) is offered the
// survivors; the same merge event again changes nothing.
func TestCustomerKeysFollowMerges(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.customers(t)
	ctx := testkit.As("alice")
	survivor, merged, ada, adaToo := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	c.send(t, &eventsv1.AccountCreated{Meta: meta(time.Now()), AccountId: survivor.String(),
		Account: account(survivor, 1, "Analytical Engines", "", accountv1.AccountState_ACCOUNT_STATE_ACTIVE)})
	c.send(t, &eventsv1.AccountCreated{Meta: meta(time.Now()), AccountId: merged.String(),
		Account: account(merged, 1, "Babbage Works", "", accountv1.AccountState_ACCOUNT_STATE_ACTIVE)})
	c.send(t, &eventsv1.ContactCreated{Meta: meta(time.Now()), ContactId: ada.String(), AccountId: merged.String(),
		Contact: contact(ada, 1, merged, "Ada", "Lovelace", []string{"ada@babbage.example"})})
	c.send(t, &eventsv1.ContactCreated{Meta: meta(time.Now()), ContactId: adaToo.String(), AccountId: survivor.String(),
		Contact: contact(adaToo, 1, survivor, "Ada", "L", []string{"ada@home.example"})})

	gone := account(merged, 2, "Babbage Works", "", accountv1.AccountState_ACCOUNT_STATE_MERGED)
	gone.MergedInto = "accounts/" + survivor.String()
	accountsMerged := &eventsv1.AccountsMerged{Meta: meta(time.Now()), AccountId: survivor.String(),
		Account:          account(survivor, 2, "Analytical Engines", "", accountv1.AccountState_ACCOUNT_STATE_ACTIVE),
		MergedAccountIds: []string{merged.String()}, MergedAccounts: []*accountv1.Account{gone}, MovedContactIds: []string{ada.String()}}
	c.send(t, accountsMerged)
	c.send(t, accountsMerged) // redelivered
	if keys, state := s.customerKeys(t, merged); len(keys) != 0 || state != "DELETED" {
		t.Fatalf("merged account: keys %v, state %s", keys, state)
	}
	if _, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "B", Company: "Babbage Works"}}); err != nil {
		t.Fatalf("the merged account's name still matches: %v", err)
	}
	_, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Lovelace", Email: "ada@babbage.example"}})
	if _, meta, _ := refusal(t, err); meta["existing_account"] != "accounts/"+survivor.String() || meta["existing_contact"] != "contacts/"+ada.String() {
		t.Fatalf("a lead like the moved contact is offered %v", meta)
	}

	// The two Adas are one person: the survivor has both emails now.
	mergedAda := contact(ada, 3, survivor, "Ada", "Lovelace", []string{"ada@babbage.example"})
	mergedAda.MergedInto = "contacts/" + adaToo.String()
	c.send(t, &eventsv1.ContactsMerged{Meta: meta(time.Now()), ContactId: adaToo.String(),
		Contact:          contact(adaToo, 2, survivor, "Ada", "L", []string{"ada@home.example", "ada@babbage.example"}),
		MergedContactIds: []string{ada.String()}, MergedContacts: []*accountv1.Contact{mergedAda}})
	if keys, state := s.customerKeys(t, ada); len(keys) != 0 || state != "DELETED" {
		t.Fatalf("merged contact: keys %v, state %s", keys, state)
	}
	_, err = s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Lovelace", Email: "ADA@babbage.example"}})
	if got, meta, _ := refusal(t, err); meta["existing_contact"] != "contacts/"+adaToo.String() || len(got) != 1 {
		t.Fatalf("a lead like the merged contact: %v %v", got, meta)
	}
}
