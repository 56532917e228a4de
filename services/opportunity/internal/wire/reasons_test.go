package wire_test

import (
	"slices"
	"testing"

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
