package wire_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// duplicatesOf returns "TYPE subject" for each precondition violation of a
// refusal with the given reason.
func duplicatesOf(t *testing.T, err error, reason string) []string {
	t.Helper()
	if got, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); got != reason {
		t.Fatalf("reason %s, want %s", got, reason)
	}
	var out []string
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.Violations {
				out = append(out, v.Type+" "+v.Subject)
			}
		}
	}
	return out
}

// CreateAccount refuses an account with another's name (case- and
// space-folded) or web domain, naming it, unless allow_duplicate; of
// concurrent creates of the same account one wins. FindAccountDuplicates
// and ListAccountDuplicateGroups then show the allowed duplicates.
func TestAccountDuplicatesAreRefusedFoundAndGrouped(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("mia", "manager")
	create := func(a *accountv1.Account, allow bool) (*accountv1.Account, error) {
		return s.client.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: a, AllowDuplicate: allow})
	}
	engines := s.account(t, &accountv1.Account{DisplayName: "Analytical Engines", Website: "https://www.engines.example"})
	cases := []struct {
		name string
		in   *accountv1.Account
		want []string
	}{
		{"same name, other case and spacing", &accountv1.Account{DisplayName: "  analytical   ENGINES"}, []string{"DUPLICATE_COMPANY_NAME " + engines.Name}},
		{"same web domain", &accountv1.Account{DisplayName: "AE Ltd", Website: "http://Engines.example/about"}, []string{"DUPLICATE_WEBSITE_DOMAIN " + engines.Name}},
		{"both", &accountv1.Account{DisplayName: "Analytical Engines", Domain: "engines.example"}, []string{"DUPLICATE_COMPANY_NAME " + engines.Name, "DUPLICATE_WEBSITE_DOMAIN " + engines.Name}},
	}
	for _, c := range cases {
		_, err := create(c.in, false)
		if got := duplicatesOf(t, err, "DUPLICATE_ACCOUNT"); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if !strings.Contains(status.Convert(err).Message(), "Analytical Engines") {
			t.Errorf("%s: the refusal does not name the account: %s", c.name, status.Convert(err).Message())
		}
	}
	twin, err := create(&accountv1.Account{DisplayName: "Analytical engines"}, true)
	if err != nil {
		t.Fatalf("allow_duplicate: %v", err)
	}
	if _, err := create(&accountv1.Account{DisplayName: "Difference Engines", Website: "difference.example"}, false); err != nil {
		t.Fatalf("an account like no other: %v", err)
	}

	// Concurrent creates of one new account: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for range 8 {
		wg.Go(func() {
			_, err := create(&accountv1.Account{DisplayName: "Racing Engines"}, false)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if status.Code(err) == codes.FailedPrecondition {
				refused++
			}
		})
	}
	wg.Wait()
	if ok != 1 || refused != 7 {
		t.Fatalf("concurrent creates: %d made, %d refused", ok, refused)
	}

	found, err := s.client.FindAccountDuplicates(ctx, &accountv1.FindAccountDuplicatesRequest{Name: engines.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Matches) != 1 || found.Matches[0].Account.Name != twin.Name ||
		!slices.Equal(found.Matches[0].Rules, []accountv1.MatchRule{accountv1.MatchRule_MATCH_RULE_COMPANY_NAME}) {
		t.Fatalf("FindAccountDuplicates = %v", found.Matches)
	}
	// A second group by domain, to page across rules.
	domainTwin, err := create(&accountv1.Account{DisplayName: "Engine Works", Website: "difference.example"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var groups []*accountv1.AccountDuplicateGroup
	token := ""
	for {
		resp, err := s.client.ListAccountDuplicateGroups(ctx, &accountv1.ListAccountDuplicateGroupsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, resp.Groups...)
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if len(groups) != 2 ||
		groups[0].Rule != accountv1.MatchRule_MATCH_RULE_COMPANY_NAME || groups[0].Key != "analytical engines" ||
		!slices.Equal(groups[0].Accounts, []string{engines.Name, twin.Name}) ||
		groups[1].Rule != accountv1.MatchRule_MATCH_RULE_WEBSITE_DOMAIN || groups[1].Key != "difference.example" ||
		len(groups[1].Accounts) != 2 || groups[1].Accounts[1] != domainTwin.Name {
		t.Fatalf("groups = %v", groups)
	}
	byDomain, err := s.client.ListAccountDuplicateGroups(ctx, &accountv1.ListAccountDuplicateGroupsRequest{Rule: accountv1.MatchRule_MATCH_RULE_WEBSITE_DOMAIN})
	if err != nil || len(byDomain.Groups) != 1 || byDomain.NextPageToken != "" {
		t.Fatalf("groups by domain = %v, %v", byDomain, err)
	}

	// Bad input and roles.
	for _, req := range []*accountv1.ListAccountDuplicateGroupsRequest{
		{Rule: accountv1.MatchRule_MATCH_RULE_EMAIL}, {PageSize: -1}, {PageToken: "forged"}, {Rule: 99},
	} {
		_, err := s.client.ListAccountDuplicateGroups(ctx, req)
		testkit.RequireCode(t, err, codes.InvalidArgument)
	}
	for _, name := range []string{"accounts/nope", "contacts/" + engines.Name[len("accounts/"):]} {
		_, err := s.client.FindAccountDuplicates(ctx, &accountv1.FindAccountDuplicatesRequest{Name: name})
		testkit.RequireCode(t, err, codes.InvalidArgument)
	}
	_, err = s.client.FindAccountDuplicates(ctx, &accountv1.FindAccountDuplicatesRequest{Name: "accounts/00000000-0000-0000-0000-000000000001"})
	testkit.RequireCode(t, err, codes.NotFound)
	_, err = s.client.FindAccountDuplicates(testkit.As("sam", "sales"), &accountv1.FindAccountDuplicatesRequest{Name: engines.Name})
	testkit.RequireCode(t, err, codes.PermissionDenied)
}

// CreateContact refuses a contact with one of another's email addresses
// or phone numbers (normalised), naming it, unless allow_duplicate.
// FindContactDuplicates and ListContactDuplicateGroups then show the
// allowed duplicates.
func TestContactDuplicatesAreRefusedFoundAndGrouped(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("mia", "manager")
	create := func(c *accountv1.Contact, allow bool) (*accountv1.Contact, error) {
		return s.client.CreateContact(ctx, &accountv1.CreateContactRequest{Contact: c, AllowDuplicate: allow})
	}
	email := func(a ...string) []*accountv1.ContactEmail {
		var out []*accountv1.ContactEmail
		for _, x := range a {
			out = append(out, &accountv1.ContactEmail{Address: x})
		}
		return out
	}
	ada := s.contact(t, &accountv1.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: email("ada@engines.example", "ada@home.example"),
		Phones: []*accountv1.ContactPhone{{Number: "+49 30 1234567"}}})
	cases := []struct {
		name string
		in   *accountv1.Contact
		want []string
	}{
		{"second email, other case", &accountv1.Contact{LastName: "A", Emails: email("ADA@Home.example")}, []string{"DUPLICATE_EMAIL " + ada.Name}},
		{"phone, other format", &accountv1.Contact{LastName: "B", Phones: []*accountv1.ContactPhone{{Number: "+49 (30) 123-4567"}}}, []string{"DUPLICATE_PHONE " + ada.Name}},
		{"email among others, and phone", &accountv1.Contact{LastName: "C", Emails: email("c@x.example", "ada@engines.example"),
			Phones: []*accountv1.ContactPhone{{Number: "+49 30 1234567"}}}, []string{"DUPLICATE_EMAIL " + ada.Name, "DUPLICATE_PHONE " + ada.Name}},
	}
	for _, c := range cases {
		_, err := create(c.in, false)
		if got := duplicatesOf(t, err, "DUPLICATE_CONTACT"); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if !strings.Contains(status.Convert(err).Message(), "Ada Lovelace") {
			t.Errorf("%s: the refusal does not name the contact: %s", c.name, status.Convert(err).Message())
		}
	}
	twin, err := create(&accountv1.Contact{FirstName: "A.", LastName: "Lovelace", Emails: email("Ada@Engines.example")}, true)
	if err != nil {
		t.Fatalf("allow_duplicate: %v", err)
	}
	babbage, err := create(&accountv1.Contact{LastName: "Babbage", Emails: email("charles@engines.example")}, false)
	if err != nil {
		t.Fatalf("a contact like no other: %v", err)
	}
	found, err := s.client.FindContactDuplicates(ctx, &accountv1.FindContactDuplicatesRequest{Name: ada.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Matches) != 1 || found.Matches[0].Contact.Name != twin.Name ||
		!slices.Equal(found.Matches[0].Rules, []accountv1.MatchRule{accountv1.MatchRule_MATCH_RULE_EMAIL}) {
		t.Fatalf("FindContactDuplicates = %v", found.Matches)
	}
	groups, err := s.client.ListContactDuplicateGroups(ctx, &accountv1.ListContactDuplicateGroupsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.Groups) != 1 || groups.Groups[0].Key != "ada@engines.example" ||
		!slices.Equal(groups.Groups[0].Contacts, []string{ada.Name, twin.Name}) || groups.NextPageToken != "" {
		t.Fatalf("groups = %v", groups)
	}
	// An update is not refused, but a duplicate it makes is listed; once
	// a group falls apart (the contact deleted) it is not.
	listEmails := func() []string {
		t.Helper()
		resp, err := s.client.ListContactDuplicateGroups(ctx, &accountv1.ListContactDuplicateGroupsRequest{Rule: accountv1.MatchRule_MATCH_RULE_EMAIL})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range resp.Groups {
			out = append(out, g.Key+" "+strings.Join(g.Contacts, ","))
		}
		return out
	}
	if _, err := s.client.UpdateContact(ctx, &accountv1.UpdateContactRequest{
		Contact:    &accountv1.Contact{Name: babbage.Name, Emails: email("charles@engines.example", "Ada@Home.example")},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"emails"}},
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := listEmails(), []string{"ada@engines.example " + ada.Name + "," + twin.Name, "ada@home.example " + ada.Name + "," + babbage.Name}; !slices.Equal(got, want) {
		t.Fatalf("after the update: %v, want %v", got, want)
	}
	if _, err := s.client.DeleteContact(testkit.As("root", "admin"), &accountv1.DeleteContactRequest{Name: babbage.Name}); err != nil {
		t.Fatal(err)
	}
	if got, want := listEmails(), []string{"ada@engines.example " + ada.Name + "," + twin.Name}; !slices.Equal(got, want) {
		t.Fatalf("after the delete: %v, want %v", got, want)
	}
	phones, err := s.client.ListContactDuplicateGroups(ctx, &accountv1.ListContactDuplicateGroupsRequest{Rule: accountv1.MatchRule_MATCH_RULE_PHONE})
	if err != nil || len(phones.Groups) != 0 {
		t.Fatalf("phone groups = %v, %v", phones, err)
	}
	_, err = s.client.ListContactDuplicateGroups(ctx, &accountv1.ListContactDuplicateGroupsRequest{Rule: accountv1.MatchRule_MATCH_RULE_COMPANY_NAME})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	_, err = s.client.ListContactDuplicateGroups(testkit.As("sam", "sales"), &accountv1.ListContactDuplicateGroupsRequest{})
	testkit.RequireCode(t, err, codes.PermissionDenied)
}
