package wire_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestIdempotentCreateLossReasonsAndDisqualify(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, _ := s.customer(t, "Acme")

	// A retried create returns the first result and creates nothing twice.
	req := &opportunityv1.CreateOpportunityRequest{RequestId: "0199c7a4-0000-7000-8000-0000000000aa",
		Opportunity: &opportunityv1.Opportunity{DisplayName: "Once", Account: account, Amount: eur(10, 0)}}
	first, err := s.client.CreateOpportunity(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.client.CreateOpportunity(ctx, req)
	if err != nil || !proto.Equal(first, again) {
		t.Fatalf("retry = %v, %v", again, err)
	}
	req.Opportunity.DisplayName = "Other"
	_, err = s.client.CreateOpportunity(ctx, req)
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "request_id") {
		t.Fatalf("fields = %v", fields)
	}
	if list, _ := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{}); len(list.GetOpportunities()) != 1 {
		t.Fatalf("opportunities = %v", list.GetOpportunities())
	}

	// Loss reasons: the seeded list; a replacement retires what it leaves
	// out, which then cannot be chosen.
	rs, err := s.client.ListLossReasons(ctx, &opportunityv1.ListLossReasonsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs.LossReasons {
		ids = append(ids, r.Id)
	}
	if !slices.Equal(ids, []string{"price", "competitor", "no_budget", "no_decision", "timing", "product_fit", "other"}) {
		t.Fatalf("seeded reasons = %v", ids)
	}
	rs, err = s.client.UpdateLossReasons(ctx, &opportunityv1.UpdateLossReasonsRequest{LossReasons: []*opportunityv1.LossReason{
		{Id: "price", DisplayName: "Too expensive"}, {Id: "went_quiet", DisplayName: "Went quiet"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.LossReasons) != 8 || rs.LossReasons[0].DisplayName != "Too expensive" || rs.LossReasons[1].Id != "went_quiet" ||
		rs.LossReasons[1].Retired || !rs.LossReasons[2].Retired {
		t.Fatalf("reasons = %v", rs.LossReasons)
	}
	_, err = s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: first.Name, Reason: "timing"})
	if r, _ := testkit.RequireCode(t, err, codes.InvalidArgument); r != "UNKNOWN_LOSS_REASON" {
		t.Fatalf("reason = %s", r)
	}
	if _, err := s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: first.Name, Reason: "went_quiet"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.ReopenOpportunity(ctx, &opportunityv1.ReopenOpportunityRequest{Name: first.Name, Stage: "proposal"}); err != nil {
		t.Fatal(err)
	}

	// The default pipeline has no DISQUALIFIED stage: the first LOST stage,
	// state DISQUALIFIED.
	d, err := s.client.DisqualifyOpportunity(ctx, &opportunityv1.DisqualifyOpportunityRequest{Name: first.Name, Note: "no budget ever"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Stage != "lost" || d.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_DISQUALIFIED || d.CloseNote != "no budget ever" || d.Probability != 0 {
		t.Fatalf("disqualified = %v", d)
	}
	evs := s.published(t, 8)
	last := evs[len(evs)-1].(*eventsv1.OpportunityLost)
	if last.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_DISQUALIFIED {
		t.Fatalf("last event = %v", last)
	}
	if got := testkit.EventTypes(evs); !slices.Equal(got, []string{"OpportunityCreated", "OpportunityStageChanged", "OpportunityStageChanged", "OpportunityLost",
		"OpportunityStageChanged", "OpportunityReopened", "OpportunityStageChanged", "OpportunityLost"}) {
		t.Fatalf("events = %v", got)
	}
}

// Win reasons are configured like the loss reasons; :win takes one
// (optional), refuses an unknown or retired one with a field violation,
// and carries it on the opportunity and in OpportunityWon. A reopen
// clears it.
func TestWinReasons(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, _ := s.customer(t, "Acme")

	rs, err := s.client.ListWinReasons(ctx, &opportunityv1.ListWinReasonsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs.WinReasons {
		ids = append(ids, r.Id)
	}
	if !slices.Equal(ids, []string{"price", "product_fit", "relationship", "service", "timing", "other"}) {
		t.Fatalf("seeded win reasons = %v", ids)
	}
	_, err = s.client.UpdateWinReasons(testkit.As("mia", "manager"), &opportunityv1.UpdateWinReasonsRequest{WinReasons: []*opportunityv1.WinReason{{Id: "champion", DisplayName: "Champion"}}})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	admin := testkit.As("root", "admin")
	_, err = s.client.UpdateWinReasons(admin, &opportunityv1.UpdateWinReasonsRequest{WinReasons: []*opportunityv1.WinReason{
		{Id: "champion", DisplayName: "Champion"}, {Id: "Bad Id", DisplayName: "x"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "win_reasons[1].id") {
		t.Fatalf("fields = %v", fields)
	}
	rs, err = s.client.UpdateWinReasons(admin, &opportunityv1.UpdateWinReasonsRequest{WinReasons: []*opportunityv1.WinReason{
		{Id: "champion_inside", DisplayName: "Champion inside"}, {Id: "product_fit", DisplayName: "Best fit"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.WinReasons) != 7 || rs.WinReasons[0].Id != "champion_inside" || rs.WinReasons[1].DisplayName != "Best fit" ||
		!rs.WinReasons[2].Retired {
		t.Fatalf("win reasons = %v", rs.WinReasons)
	}

	o, err := s.client.CreateOpportunity(ctx, &opportunityv1.CreateOpportunityRequest{
		Opportunity: &opportunityv1.Opportunity{DisplayName: "Deal", Account: account, Amount: eur(10, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"price", "no_such_reason"} { // retired, unknown
		_, err = s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name, Reason: bad})
		if r, fields := testkit.RequireCode(t, err, codes.InvalidArgument); r != "UNKNOWN_WIN_REASON" || !slices.Equal(fields, []string{"reason"}) {
			t.Fatalf("%s: reason = %s, fields = %v", bad, r, fields)
		}
	}
	_, err = s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name, Reason: "Not-An-Id"})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "reason") {
		t.Fatalf("fields = %v", fields)
	}
	if got, _ := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: o.Name}); got.GetState() != opportunityv1.OpportunityState_OPPORTUNITY_STATE_OPEN {
		t.Fatalf("a refused win changed the opportunity: %v", got)
	}
	won, err := s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name, Reason: "champion_inside", Note: "signed"})
	if err != nil {
		t.Fatal(err)
	}
	if won.WinReason != "champion_inside" || won.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_WON {
		t.Fatalf("won = %v", won)
	}
	if got, _ := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: o.Name}); got.GetWinReason() != "champion_inside" {
		t.Fatalf("stored win reason = %q", got.GetWinReason())
	}
	reopened, err := s.client.ReopenOpportunity(ctx, &opportunityv1.ReopenOpportunityRequest{Name: o.Name, Stage: "proposal"})
	if err != nil || reopened.WinReason != "" {
		t.Fatalf("reopened = %v, %v", reopened, err)
	}
	// Without a reason, as before.
	if won, err = s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name}); err != nil || won.WinReason != "" {
		t.Fatalf("won without a reason = %v, %v", won, err)
	}
	// The relay publishes after the commit: wait for both wins.
	var wins []*eventsv1.OpportunityWon
	testkit.Eventually(t, 20*time.Second, func() bool {
		wins = wins[:0]
		for _, e := range s.published(t, 1) {
			if w, ok := e.(*eventsv1.OpportunityWon); ok {
				wins = append(wins, w)
			}
		}
		return len(wins) >= 2
	}, "both wins published")
	if len(wins) != 2 || wins[0].Reason != "champion_inside" || wins[0].Opportunity.GetWinReason() != "champion_inside" || wins[1].Reason != "" {
		t.Fatalf("OpportunityWon events = %v", wins)
	}
}
