package wire_test

import (
	"fmt"
	"slices"
	"testing"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestListFilterPagingAndText(t *testing.T) {
	t.Parallel()
	s := start(t)
	var names []string
	for i := range 7 {
		a := s.account(t, &accountv1.Account{DisplayName: fmt.Sprintf("Acme %d", i), Website: fmt.Sprintf("acme%d.example", i),
			Type: accountv1.AccountType(1 + i%2), Industry: "Rockets", Phone: "+49 30 100" + fmt.Sprint(i)})
		names = append(names, a.Name)
	}
	s.account(t, &accountv1.Account{DisplayName: "Globex", Website: "globex.example"})

	// Paging through a filtered list, oldest first, three at a time.
	var got []string
	token := ""
	for {
		resp, err := s.client.ListAccounts(testkit.As("x"), &accountv1.ListAccountsRequest{
			Filter: `industry = "rockets"`, OrderBy: "create_time", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range resp.Accounts {
			got = append(got, a.Name)
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if !slices.Equal(got, names) {
		t.Fatalf("paged = %v, want %v", got, names)
	}
	count := func(filter, order string) int {
		t.Helper()
		resp, err := s.client.ListAccounts(testkit.As("x"), &accountv1.ListAccountsRequest{Filter: filter, OrderBy: order})
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		return len(resp.Accounts)
	}
	for filter, want := range map[string]int{
		`text:"acme"`:                          7,
		`text:"GLOBEX.exa"`:                    1,
		`type = ACCOUNT_TYPE_INDIVIDUAL`:       3,
		`state = ACCOUNT_STATE_ACTIVE`:         8,
		`domain = "ACME3.example"`:             1,
		`phone = "+49 (30) 1003"`:              1,
		`owner = "alice" AND text:"acme 1"`:    1,
		`create_time > "2000-01-01T00:00:00Z"`: 8,
	} {
		if got := count(filter, "display_name desc"); got != want {
			t.Errorf("%s: %d accounts, want %d", filter, got, want)
		}
	}
	// Contacts: by account, text over names and emails, ordered by last name.
	s.contact(t, &accountv1.Contact{FirstName: "Ada", LastName: "Zed", Account: names[0], Emails: []*accountv1.ContactEmail{{Address: "ada@acme0.example"}}})
	s.contact(t, &accountv1.Contact{LastName: "Byron", Account: names[0]})
	s.contact(t, &accountv1.Contact{LastName: "Loner"})
	resp, err := s.client.ListContacts(testkit.As("x"), &accountv1.ListContactsRequest{Filter: fmt.Sprintf(`account = %q`, names[0]), OrderBy: "last_name"})
	if err != nil || len(resp.Contacts) != 2 || resp.Contacts[0].LastName != "Byron" {
		t.Fatalf("contacts of account = %v, %v", resp, err)
	}
	for filter, want := range map[string]int{
		`account = ""`:                1,
		`text:"acme0"`:                1,
		`text:"byr"`:                  1,
		`primary`:                     1,
		`NOT primary`:                 2,
		`email = "ADA@acme0.example"`: 1,
	} {
		resp, err := s.client.ListContacts(testkit.As("x"), &accountv1.ListContactsRequest{Filter: filter})
		if err != nil || len(resp.Contacts) != want {
			t.Errorf("%s: %v, %v; want %d", filter, resp, err, want)
		}
	}
}

func TestMatchCustomersRules(t *testing.T) {
	t.Parallel()
	s := start(t)
	acme := s.account(t, &accountv1.Account{DisplayName: "ACME  Corp", Website: "https://www.acme.example", Phone: "+1 212 555 0100"})
	s.account(t, &accountv1.Account{DisplayName: "Unrelated", Website: "gmail.com"})
	ada := s.contact(t, &accountv1.Contact{FirstName: "Ada", Account: acme.Name,
		Emails: []*accountv1.ContactEmail{{Address: "Ada@Acme.example"}}, Phones: []*accountv1.ContactPhone{{Number: "+44 20 7946 0000"}}})

	match := func(req *accountv1.MatchCustomersRequest) (accounts, contacts map[string][]accountv1.MatchRule) {
		t.Helper()
		resp, err := s.client.MatchCustomers(testkit.As("x"), req)
		if err != nil {
			t.Fatal(err)
		}
		accounts, contacts = map[string][]accountv1.MatchRule{}, map[string][]accountv1.MatchRule{}
		for _, m := range resp.Accounts {
			accounts[m.Account.Name] = m.Rules
		}
		for _, m := range resp.Contacts {
			contacts[m.Contact.Name] = m.Rules
		}
		return accounts, contacts
	}
	accounts, contacts := match(&accountv1.MatchCustomersRequest{Email: "ada@ACME.example", Company: "acme corp", Phone: "+44 20 7946 0000"})
	if r := accounts[acme.Name]; !slices.Equal(r, []accountv1.MatchRule{accountv1.MatchRule_MATCH_RULE_COMPANY_NAME, accountv1.MatchRule_MATCH_RULE_EMAIL_DOMAIN}) || len(accounts) != 1 {
		t.Fatalf("accounts = %v", accounts)
	}
	if r := contacts[ada.Name]; !slices.Equal(r, []accountv1.MatchRule{accountv1.MatchRule_MATCH_RULE_EMAIL, accountv1.MatchRule_MATCH_RULE_PHONE}) {
		t.Fatalf("contacts = %v", contacts)
	}
	accounts, _ = match(&accountv1.MatchCustomersRequest{Website: "acme.example/contact", Phone: "+1 (212) 555-0100"})
	if r := accounts[acme.Name]; !slices.Equal(r, []accountv1.MatchRule{accountv1.MatchRule_MATCH_RULE_WEBSITE_DOMAIN, accountv1.MatchRule_MATCH_RULE_PHONE}) {
		t.Fatalf("accounts = %v", accounts)
	}
	// A public mail domain says nothing about the employer.
	accounts, contacts = match(&accountv1.MatchCustomersRequest{Email: "someone@gmail.com"})
	if len(accounts) != 0 || len(contacts) != 0 {
		t.Fatalf("public mail matched %v %v", accounts, contacts)
	}
}
