package wire_test

import (
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// A salesperson reads, changes, closes and reports on its own
// opportunities only; ops reads won ones only. Another's opportunity
// answers PermissionDenied (as a missing one does) and stays as it was.
func TestSalesReachesOnlyItsOwnOpportunities(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	account, _ := s.customer(t, "Acme")
	sam, bob, olga := testkit.As("sam", "sales"), testkit.As("bob", "sales"), testkit.As("olga", "ops")
	closeDate := &date.Date{Year: 2027, Month: 3, Day: 1}
	create := func(who string, name string) *opportunityv1.Opportunity {
		t.Helper()
		o, err := s.client.CreateOpportunity(testkit.As(who, "sales"), &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
			DisplayName: name, Account: account, Amount: eur(1000, 0), ExpectedCloseDate: closeDate,
		}})
		if err != nil {
			t.Fatalf("%s creates: %v", who, err)
		}
		return o
	}
	mine, theirs, theirsWon := create("sam", "Mine"), create("bob", "Theirs"), create("bob", "Theirs, won")
	won, err := s.client.WinOpportunity(bob, &opportunityv1.WinOpportunityRequest{Name: theirsWon.Name})
	if err != nil {
		t.Fatalf("bob wins his own: %v", err)
	}

	_, err = s.client.CreateOpportunity(sam, &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{DisplayName: "Gift", Account: account, Owner: "bob"}})
	testkit.RequireDenied(t, "sales creates for another owner", err)
	_, err = s.client.GetOpportunity(sam, &opportunityv1.GetOpportunityRequest{Name: theirs.Name})
	testkit.RequireDenied(t, "sales reads another's", err)
	const missing = "opportunities/00000000-0000-4000-8000-000000000099"
	_, err = s.client.GetOpportunity(sam, &opportunityv1.GetOpportunityRequest{Name: missing})
	testkit.RequireDenied(t, "sales reads a missing one", err)
	_, err = s.client.GetOpportunity(testkit.As("mia", "manager"), &opportunityv1.GetOpportunityRequest{Name: missing})
	testkit.RequireCode(t, err, codes.NotFound)

	changes := map[string]func() error{
		"update": func() error {
			_, err := s.client.UpdateOpportunity(sam, &opportunityv1.UpdateOpportunityRequest{
				Opportunity: &opportunityv1.Opportunity{Name: theirs.Name, Account: account, NextStep: "mine"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_step"}},
			})
			return err
		},
		"move": func() error {
			_, err := s.client.MoveOpportunity(sam, &opportunityv1.MoveOpportunityRequest{Name: theirs.Name, Stage: "proposal"})
			return err
		},
		"win": func() error {
			_, err := s.client.WinOpportunity(sam, &opportunityv1.WinOpportunityRequest{Name: theirs.Name})
			return err
		},
		"lose": func() error {
			_, err := s.client.LoseOpportunity(sam, &opportunityv1.LoseOpportunityRequest{Name: theirs.Name, Reason: "price"})
			return err
		},
		"disqualify": func() error {
			_, err := s.client.DisqualifyOpportunity(sam, &opportunityv1.DisqualifyOpportunityRequest{Name: theirs.Name})
			return err
		},
		"reopen a won one": func() error {
			_, err := s.client.ReopenOpportunity(sam, &opportunityv1.ReopenOpportunityRequest{Name: won.Name})
			return err
		},
		"stage history": func() error {
			_, err := s.client.ListStageChanges(sam, &opportunityv1.ListStageChangesRequest{Parent: theirs.Name})
			return err
		},
		"forecast of another owner": func() error {
			_, err := s.client.GetForecast(sam, &opportunityv1.GetForecastRequest{Owners: []string{"bob"}})
			return err
		},
		"performance of another owner": func() error {
			_, err := s.client.GetSalesPerformance(sam, &opportunityv1.GetSalesPerformanceRequest{Owner: "bob"})
			return err
		},
		"hand its own to another": func() error {
			_, err := s.client.UpdateOpportunity(sam, &opportunityv1.UpdateOpportunityRequest{
				Opportunity: &opportunityv1.Opportunity{Name: mine.Name, Account: account, Owner: "bob"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner"}},
			})
			return err
		},
	}
	for what, call := range changes {
		testkit.RequireDenied(t, "sales: "+what, call())
	}
	root := testkit.As("root")
	for _, want := range []*opportunityv1.Opportunity{theirs, won, mine} {
		got, err := s.client.GetOpportunity(root, &opportunityv1.GetOpportunityRequest{Name: want.Name})
		if err != nil || !proto.Equal(got, want) {
			t.Fatalf("after refused changes = %v, %v; want %v", got, err, want)
		}
	}

	// Lists hold what the caller may read, whatever its filter.
	list := func(who string, roles []string, filter string) []string {
		t.Helper()
		resp, err := s.client.ListOpportunities(testkit.As(who, roles...), &opportunityv1.ListOpportunitiesRequest{Filter: filter, OrderBy: "create_time"})
		if err != nil {
			t.Fatalf("%s lists %q: %v", who, filter, err)
		}
		var out []string
		for _, o := range resp.Opportunities {
			out = append(out, o.DisplayName)
		}
		return out
	}
	for _, c := range []struct {
		who    string
		roles  []string
		filter string
		want   string
	}{
		{"sam", []string{"sales"}, "", "[Mine]"},
		{"sam", []string{"sales"}, `owner = "bob"`, "[]"},
		{"olga", []string{"ops"}, "", "[Theirs, won]"},
		{"olga", []string{"ops"}, "state = OPEN", "[]"},
		{"sam", []string{"sales", "ops"}, "", "[Mine Theirs, won]"},
		{"mia", []string{"manager"}, "", "[Mine Theirs Theirs, won]"},
	} {
		if got := list(c.who, c.roles, c.filter); fmt.Sprint(got) != c.want {
			t.Fatalf("%s %v lists %q: %v, want %s", c.who, c.roles, c.filter, got, c.want)
		}
	}
	if _, err := s.client.GetOpportunity(olga, &opportunityv1.GetOpportunityRequest{Name: won.Name}); err != nil {
		t.Fatalf("ops reads a won opportunity: %v", err)
	}
	_, err = s.client.GetOpportunity(olga, &opportunityv1.GetOpportunityRequest{Name: theirs.Name})
	testkit.RequireDenied(t, "ops reads an open opportunity", err)

	// Reports cover the caller's own opportunities.
	fc, err := s.client.GetForecast(sam, &opportunityv1.GetForecastRequest{
		StartDate: &date.Date{Year: 2027, Month: 1, Day: 1}, EndDate: &date.Date{Year: 2027, Month: 12, Day: 31},
		GroupBy: []opportunityv1.ForecastDimension{opportunityv1.ForecastDimension_FORECAST_DIMENSION_OWNER},
	})
	if err != nil || len(fc.Rows) != 1 || fc.Rows[0].Owner != "sam" {
		t.Fatalf("sales forecast = %v, %v", fc, err)
	}
	perf, err := s.client.GetSalesPerformance(bob, &opportunityv1.GetSalesPerformanceRequest{})
	if err != nil || len(perf.Owners) != 1 || perf.Owners[0].Owner != "bob" || perf.Owners[0].WonCount != 1 {
		t.Fatalf("sales performance = %v, %v", perf, err)
	}

	// Its own a salesperson changes; a manager changes anyone's.
	if _, err := s.client.MoveOpportunity(sam, &opportunityv1.MoveOpportunityRequest{Name: mine.Name, Stage: "proposal"}); err != nil {
		t.Fatalf("sales moves its own: %v", err)
	}
	if _, err := s.client.MoveOpportunity(testkit.As("mia", "manager"), &opportunityv1.MoveOpportunityRequest{Name: theirs.Name, Stage: "proposal"}); err != nil {
		t.Fatalf("manager moves another's: %v", err)
	}
}
