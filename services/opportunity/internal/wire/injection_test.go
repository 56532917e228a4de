package wire_test

import (
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/opportunity/internal/adapters/postgres"
)

// SQL and LIKE metacharacters in every filter field and in text search are
// data: they match only records that hold them, and break nothing.
func TestHostileFilterValuesAreData(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	account, _ := s.customer(t, "Acme")
	ctx := testkit.As("root")
	const drop, odd = `O'Hara'; DROP TABLE opportunity.opportunities; --`, `100% _real_ \ stuff`
	for _, v := range []string{"Plain", drop, odd} {
		if _, err := s.client.CreateOpportunity(ctx, &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
			DisplayName: v, Account: account, NextStep: v,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(filter string) (int, error) {
		resp, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: filter})
		return len(resp.GetOpportunities()), err
	}
	for _, f := range testkit.HostileFilters(postgres.ListFilters()["ListOpportunities"]) {
		n, err := list(f.Filter)
		if !f.Valid {
			if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
				t.Fatalf("%s: fields %v", f.Filter, fields)
			}
			continue
		}
		if err != nil || n != 0 {
			t.Fatalf("%s: %d, %v", f.Filter, n, err)
		}
	}
	for filter, want := range map[string]int{
		"":                                 3,
		`text:"'; drop table"`:             1,
		`text:"% _real_ \\ st"`:            1,
		`text:"%_%"`:                       0,
		"owner = " + strconv.Quote("root"): 3,
	} {
		if n, err := list(filter); err != nil || n != want {
			t.Fatalf("%s: %d, %v; want %d", filter, n, err, want)
		}
	}
}
