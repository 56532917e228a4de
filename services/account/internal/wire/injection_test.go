package wire_test

import (
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/account/internal/adapters/postgres"
)

// SQL and LIKE metacharacters in every filter field and in text search are
// data: they match only records that hold them, and break nothing.
func TestHostileFilterValuesAreData(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("root")
	const drop, odd = `O'Hara'; DROP TABLE account.accounts; --`, `100% _real_ \ stuff`
	for _, v := range []string{"Plain", drop, odd} {
		a, err := s.client.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: v, Industry: v}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.client.CreateContact(ctx, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: v, Account: a.Name}}); err != nil {
			t.Fatal(err)
		}
	}
	lists := map[string]func(filter string) (int, error){
		"ListAccounts": func(filter string) (int, error) {
			resp, err := s.client.ListAccounts(ctx, &accountv1.ListAccountsRequest{Filter: filter})
			return len(resp.GetAccounts()), err
		},
		"ListContacts": func(filter string) (int, error) {
			resp, err := s.client.ListContacts(ctx, &accountv1.ListContactsRequest{Filter: filter})
			return len(resp.GetContacts()), err
		},
	}
	schemas := postgres.ListFilters("")
	if len(schemas) != len(lists) {
		t.Fatalf("filters of %d lists, %d tested", len(schemas), len(lists))
	}
	for rpc, list := range lists {
		for _, f := range testkit.HostileFilters(schemas[rpc]) {
			n, err := list(f.Filter)
			if !f.Valid {
				if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
					t.Fatalf("%s %s: fields %v", rpc, f.Filter, fields)
				}
				continue
			}
			if err != nil || n != 0 {
				t.Fatalf("%s %s: %d, %v", rpc, f.Filter, n, err)
			}
		}
		for filter, want := range map[string]int{
			"":                      3,
			`text:"'; drop table"`:  1,
			`text:"% _real_ \\ st"`: 1,
			`text:"%_%"`:            0,
		} {
			if n, err := list(filter); err != nil || n != want {
				t.Fatalf("%s %s: %d, %v; want %d", rpc, filter, n, err, want)
			}
		}
	}
	if n, err := lists["ListAccounts"]("industry = " + strconv.Quote(drop)); err != nil || n != 1 {
		t.Fatalf("industry = drop: %d, %v", n, err)
	}
}
