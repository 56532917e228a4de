package wire_test

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// violation returns the reason of err's field violation on field.
func violation(t *testing.T, err error, field string) string {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				if v.Field == field {
					return v.Reason
				}
			}
		}
	}
	t.Fatalf("%v: no violation on %s", err, field)
	return ""
}

func roleIDs(rs *accountv1.ContactRoles, retired bool) []string {
	var out []string
	for _, r := range rs.GetRoles() {
		if r.Retired == retired {
			out = append(out, r.Id)
		}
	}
	return out
}

// The contact roles are a list admins edit: seeded with the roles the
// seed names, replaced as a whole under an etag, roles left out retired.
func TestContactRoleListIsConfigurableUnderAnEtag(t *testing.T) {
	t.Parallel()
	s := start(t)
	admin := testkit.As("root")
	seeded, err := s.client.ListContactRoles(testkit.As("sam", "sales"), &accountv1.ListContactRolesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"procurement", "finance", "technical", "decision_maker"} {
		if !slices.Contains(roleIDs(seeded, false), id) {
			t.Fatalf("seeded roles %v lack %s", roleIDs(seeded, false), id)
		}
	}
	if seeded.Etag == "" {
		t.Fatal("no etag")
	}
	// Only admins edit it.
	_, err = s.client.UpdateContactRoles(testkit.As("mia", "manager"), &accountv1.UpdateContactRolesRequest{
		Roles: []*accountv1.ContactRole{{Id: "x", DisplayName: "X"}}})
	testkit.RequireDenied(t, "a manager edits the role list", err)

	next, err := s.client.UpdateContactRoles(admin, &accountv1.UpdateContactRolesRequest{Etag: seeded.Etag, Roles: []*accountv1.ContactRole{
		{Id: "decision_maker", DisplayName: "Decision maker"},
		{DisplayName: "IT security"}, // id derived: it_security
		{Id: "procurement", DisplayName: "Purchasing"},
		{Id: "technical", DisplayName: "Technical"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := roleIDs(next, false); !slices.Equal(got, []string{"decision_maker", "it_security", "procurement", "technical"}) {
		t.Fatalf("offered after update = %v", got)
	}
	if !slices.Contains(roleIDs(next, true), "finance") || next.Etag == seeded.Etag {
		t.Fatalf("finance not retired or etag unchanged: %v", next)
	}
	if next.Roles[2].DisplayName != "Purchasing" {
		t.Fatalf("renamed role: %v", next.Roles[2])
	}
	// A stale etag loses nothing: refused, the list stays.
	_, err = s.client.UpdateContactRoles(admin, &accountv1.UpdateContactRolesRequest{Etag: seeded.Etag,
		Roles: []*accountv1.ContactRole{{Id: "finance", DisplayName: "Finance"}}})
	testkit.RequireCode(t, err, codes.Aborted)
	// Bad lists name the entry.
	for _, c := range []struct {
		roles []*accountv1.ContactRole
		field string
	}{
		{[]*accountv1.ContactRole{{Id: "finance", DisplayName: "Finance"}, {Id: "finance", DisplayName: "Money"}}, "roles[1].id"},
		{[]*accountv1.ContactRole{{Id: "Bad Id", DisplayName: "Bad"}}, "roles[0].id"},
		{[]*accountv1.ContactRole{{Id: "finance"}}, "roles[0].display_name"},
		{nil, "roles"},
	} {
		_, err := s.client.UpdateContactRoles(admin, &accountv1.UpdateContactRolesRequest{Roles: c.roles})
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, c.field) {
			t.Fatalf("%v: fields %v, want %s", c.roles, fields, c.field)
		}
	}
	after, err := s.client.ListContactRoles(admin, &accountv1.ListContactRolesRequest{})
	if err != nil || after.Etag != next.Etag || !slices.Equal(roleIDs(after, false), roleIDs(next, false)) {
		t.Fatalf("list after refused updates = %v, %v", after, err)
	}
	// Without an etag the update is unconditional; a retired role comes
	// back when listed again.
	back, err := s.client.UpdateContactRoles(admin, &accountv1.UpdateContactRolesRequest{Roles: []*accountv1.ContactRole{
		{Id: "finance", DisplayName: "Finance"}}})
	if err != nil || !slices.Equal(roleIDs(back, false), []string{"finance"}) {
		t.Fatalf("unconditional update = %v, %v", back, err)
	}
}

// A contact has several roles from the list; unknown and retired roles
// are refused when given, a retired role stays on the contacts that have
// it; contacts are filtered by role; the roles travel in the events.
func TestContactRolesOnContactsFiltersAndEvents(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	acct := s.account(t, &accountv1.Account{DisplayName: "Acme"})
	ada := s.contact(t, &accountv1.Contact{FirstName: "Ada", LastName: "Lovelace", Account: acct.Name, Roles: []string{"decision_maker", "finance"}})
	if !slices.Equal(ada.Roles, []string{"decision_maker", "finance"}) {
		t.Fatalf("roles = %v", ada.Roles)
	}
	s.contact(t, &accountv1.Contact{LastName: "Babbage", Account: acct.Name, Roles: []string{"technical"}})
	s.contact(t, &accountv1.Contact{LastName: "Nobody", Account: acct.Name})

	create := func(roles ...string) error {
		_, err := s.client.CreateContact(ctx, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "X", Roles: roles}})
		return err
	}
	err := create("finance", "astrologer")
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Equal(fields, []string{"contact.roles[1]"}) ||
		violation(t, err, "contact.roles[1]") != "UNKNOWN_CONTACT_ROLE" {
		t.Fatalf("unknown role: %v", err)
	}
	if _, fields := testkit.RequireCode(t, create("Not An Id"), codes.InvalidArgument); !testkit.HasField(fields, "contact.roles") {
		t.Fatalf("malformed role: %v", fields)
	}
	if _, fields := testkit.RequireCode(t, create("finance", "finance"), codes.InvalidArgument); !testkit.HasField(fields, "contact.roles") {
		t.Fatalf("role given twice: %v", fields)
	}

	count := func(filter string) int {
		t.Helper()
		resp, err := s.client.ListContacts(ctx, &accountv1.ListContactsRequest{Filter: filter})
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		return len(resp.Contacts)
	}
	for filter, want := range map[string]int{
		`role = "decision_maker"`:                            1,
		`role = "finance" OR role = "technical"`:             2,
		`role = " technical "`:                               1,
		`NOT role = "finance"`:                               2,
		`role = "procurement"`:                               0,
		`role = "finance" AND account = "` + acct.Name + `"`: 1,
	} {
		if got := count(filter); got != want {
			t.Errorf("%s: %d contacts, want %d", filter, got, want)
		}
	}

	// Finance is retired: Ada keeps it and can be given other roles beside
	// it; no one is given it anew.
	cur, err := s.client.ListContactRoles(ctx, &accountv1.ListContactRolesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var keep []*accountv1.ContactRole
	for _, r := range cur.Roles {
		if r.Id != "finance" {
			keep = append(keep, r)
		}
	}
	if _, err := s.client.UpdateContactRoles(testkit.As("root"), &accountv1.UpdateContactRolesRequest{Roles: keep, Etag: cur.Etag}); err != nil {
		t.Fatal(err)
	}
	updated, err := s.client.UpdateContact(ctx, &accountv1.UpdateContactRequest{
		Contact:    &accountv1.Contact{Name: ada.Name, Etag: ada.Etag, Roles: []string{"finance", "technical"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"roles"}}})
	if err != nil || !slices.Equal(updated.Roles, []string{"finance", "technical"}) {
		t.Fatalf("update keeping a retired role = %v, %v", updated, err)
	}
	if err := create("finance"); violation(t, err, "contact.roles[0]") != "RETIRED_CONTACT_ROLE" {
		t.Fatalf("retired role given anew: %v", err)
	}
	// Unknown on update, too; nothing changes.
	_, err = s.client.UpdateContact(ctx, &accountv1.UpdateContactRequest{
		Contact:    &accountv1.Contact{Name: ada.Name, Roles: []string{"technical", "wizard"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"roles"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Equal(fields, []string{"contact.roles[1]"}) {
		t.Fatalf("unknown role on update: %v", fields)
	}
	if got := s.getContact(t, ada.Name); !slices.Equal(got.Roles, []string{"finance", "technical"}) || got.Etag != updated.Etag {
		t.Fatalf("after refused update: %v", got)
	}

	// The events carry the roles.
	evs := s.published(t, 5)
	created, ok := evs[1].(*eventsv1.ContactCreated)
	if !ok || !slices.Equal(created.Contact.Roles, []string{"decision_maker", "finance"}) {
		t.Fatalf("ContactCreated = %v", evs[1])
	}
	last, ok := evs[len(evs)-1].(*eventsv1.ContactUpdated)
	if !ok || !slices.Equal(last.ChangedFields, []string{"roles"}) || !slices.Equal(last.Contact.Roles, []string{"finance", "technical"}) {
		t.Fatalf("ContactUpdated = %v", evs[len(evs)-1])
	}
}

// Two admins replacing the list from the same read: one wins, the other
// is ABORTED, and the list is the winner's whole.
func TestConcurrentContactRoleEditsLoseNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	admin := testkit.As("root")
	cur, err := s.client.ListContactRoles(admin, &accountv1.ListContactRolesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.client.UpdateContactRoles(admin, &accountv1.UpdateContactRolesRequest{Etag: cur.Etag,
				Roles: []*accountv1.ContactRole{{Id: "finance", DisplayName: "Finance"}, {Id: fmt.Sprintf("editor_%d", i), DisplayName: "Editor"}}})
			errs <- err
		}()
	}
	won := 0
	for range n {
		switch err := <-errs; status.Code(err) {
		case codes.OK:
			won++
		case codes.Aborted:
		default:
			t.Fatalf("concurrent edit: %v", err)
		}
	}
	after, err := s.client.ListContactRoles(admin, &accountv1.ListContactRolesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if offered := roleIDs(after, false); won != 1 || len(offered) != 2 || offered[0] != "finance" {
		t.Fatalf("%d edits won; offered %v", won, offered)
	}
}
