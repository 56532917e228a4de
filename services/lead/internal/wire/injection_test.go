package wire_test

import (
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/lead/internal/adapters/postgres"
)

// SQL and LIKE metacharacters in every filter field and in text search are
// data: they match only records that hold them, and break nothing.
func TestHostileFilterValuesAreData(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("root")
	const drop, odd = `O'Hara'; DROP TABLE leads; --`, `100% _real_ \ stuff`
	for _, v := range []string{"Plain", drop, odd} {
		if _, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: v, Company: v, Campaign: v}}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(filter string) ([]*leadv1.Lead, error) {
		resp, err := s.client.ListLeads(ctx, &leadv1.ListLeadsRequest{Filter: filter})
		return resp.GetLeads(), err
	}
	for _, f := range testkit.HostileFilters(postgres.ListFilters()["ListLeads"]) {
		got, err := list(f.Filter)
		if !f.Valid {
			if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
				t.Fatalf("%s: fields %v", f.Filter, fields)
			}
			continue
		}
		if err != nil || len(got) != 0 {
			t.Fatalf("%s: %d leads, %v", f.Filter, len(got), err)
		}
	}
	for filter, want := range map[string]int{
		"":                                 3,
		"company = " + strconv.Quote(drop): 1,
		"campaign = " + strconv.Quote(odd): 1,
		`text:"'; drop table"`:             1,
		`text:"% _real_ \\ st"`:            1,
		`text:"0% _"`:                      1,
		`text:"%_%"`:                       0,
	} {
		got, err := list(filter)
		if err != nil || len(got) != want {
			t.Fatalf("%s: %d leads, %v; want %d", filter, len(got), err, want)
		}
	}
}
