package wire_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func eur(units int64, nanos int32) *money.Money {
	return &money.Money{CurrencyCode: "EUR", Units: units, Nanos: nanos}
}

func TestOpportunityLifecycleWithEventsAndHistory(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, contact := s.customer(t, "Acme")

	o := s.create(t, &opportunityv1.Opportunity{
		DisplayName: "Acme rollout", Account: account, PrimaryContact: contact,
		ExpectedCloseDate: &date.Date{Year: 2027, Month: 2, Day: 15},
		LineItems: []*opportunityv1.LineItem{
			{Product: "Seats", Quantity: "2.5", UnitPrice: eur(100, 0), DiscountPercent: "10"},
			{Product: "Setup", Quantity: "1", UnitPrice: eur(49, 990000000)},
		},
	})
	// 2.5 x 100 x 0.9 + 49.99
	if o.Stage != "qualification" || o.Probability != 10 || o.ProbabilityOverridden || o.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_OPEN ||
		o.ForecastCategory != opportunityv1.ForecastCategory_FORECAST_CATEGORY_PIPELINE || o.Owner != "alice" ||
		!proto.Equal(o.Amount, eur(274, 990000000)) || !proto.Equal(o.LineItems[0].Amount, eur(225, 0)) || o.Pipeline == "" {
		t.Fatalf("created = %v", o)
	}

	moved, err := s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: "proposal", Etag: o.Etag})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Stage != "proposal" || moved.Probability != 50 || moved.ForecastCategory != opportunityv1.ForecastCategory_FORECAST_CATEGORY_BEST_CASE {
		t.Fatalf("moved = %v", moved)
	}
	// An override survives moves between open stages.
	upd, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
		Opportunity: &opportunityv1.Opportunity{Name: o.Name, Account: account, Probability: 60, NextStep: "call"},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"probability", "next_step"}}})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Probability != 60 || !upd.ProbabilityOverridden {
		t.Fatalf("updated = %v", upd)
	}
	moved, err = s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: "negotiation"})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Probability != 60 || moved.Stage != "negotiation" {
		t.Fatalf("moved = %v", moved)
	}

	won, err := s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name, Note: "signed", RequestId: "0199c7a4-0000-7000-8000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	if won.Stage != "won" || won.Probability != 100 || won.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_WON || won.CloseTime == nil ||
		won.ForecastCategory != opportunityv1.ForecastCategory_FORECAST_CATEGORY_CLOSED || won.CloseNote != "signed" {
		t.Fatalf("won = %v", won)
	}
	// A retry of the same request returns the first answer.
	again, err := s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name, Note: "signed", RequestId: "0199c7a4-0000-7000-8000-000000000001"})
	if err != nil || !proto.Equal(again, won) {
		t.Fatalf("retry = %v, %v", again, err)
	}
	// Closed: no edits, no moves.
	_, err = s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
		Opportunity: &opportunityv1.Opportunity{Name: o.Name, Account: account, NextStep: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_step"}}})
	if r, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); r != "OPPORTUNITY_CLOSED" {
		t.Fatalf("reason = %s", r)
	}
	_, err = s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: "proposal"})
	testkit.RequireCode(t, err, codes.FailedPrecondition)

	re, err := s.client.ReopenOpportunity(ctx, &opportunityv1.ReopenOpportunityRequest{Name: o.Name})
	if err != nil {
		t.Fatal(err)
	}
	if re.Stage != "negotiation" || re.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_OPEN || re.CloseTime != nil || re.Probability != 75 || re.CloseNote != "" {
		t.Fatalf("reopened = %v", re)
	}
	lost, err := s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: o.Name, Reason: "competitor", Competitor: "Globex"})
	if err != nil {
		t.Fatal(err)
	}
	if lost.Stage != "lost" || lost.Probability != 0 || lost.LossReason != "competitor" || lost.Competitor != "Globex" ||
		lost.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_LOST {
		t.Fatalf("lost = %v", lost)
	}

	evs := s.published(t, 11)
	want := []string{"OpportunityCreated", "OpportunityStageChanged", "OpportunityStageChanged", "OpportunityUpdated",
		"OpportunityStageChanged", "OpportunityStageChanged", "OpportunityWon", "OpportunityStageChanged", "OpportunityReopened",
		"OpportunityStageChanged", "OpportunityLost"}
	if got := testkit.EventTypes(eventsOf(evs, o.Name)); !slices.Equal(got, want) {
		t.Fatalf("events = %v", got)
	}
	var wonEv *eventsv1.OpportunityWon
	for _, e := range evs {
		if w, ok := e.(*eventsv1.OpportunityWon); ok {
			wonEv = w
		}
	}
	if wonEv.AccountId != account[len("accounts/"):] || wonEv.ContactId != contact[len("contacts/"):] || wonEv.Owner != "alice" ||
		!proto.Equal(wonEv.Opportunity.Amount, eur(274, 990000000)) || len(wonEv.Opportunity.LineItems) != 2 || wonEv.Note != "signed" ||
		wonEv.Meta.RequestId != "0199c7a4-0000-7000-8000-000000000001" {
		t.Fatalf("won event = %v", wonEv)
	}

	hist, err := s.client.ListStageChanges(ctx, &opportunityv1.ListStageChangesRequest{Parent: o.Name, PageSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	rest, err := s.client.ListStageChanges(ctx, &opportunityv1.ListStageChangesRequest{Parent: o.Name, PageSize: 4, PageToken: hist.NextPageToken})
	if err != nil {
		t.Fatal(err)
	}
	all := append(hist.StageChanges, rest.StageChanges...)
	var path []string
	for _, c := range all {
		path = append(path, c.FromStage+">"+c.ToStage)
		if c.Actor != "alice" || c.Pipeline != o.Pipeline || c.ChangeTime == nil || c.TimeInPreviousStage == nil {
			t.Fatalf("change = %v", c)
		}
	}
	if !slices.Equal(path, []string{">qualification", "qualification>proposal", "proposal>negotiation", "negotiation>won", "won>negotiation", "negotiation>lost"}) ||
		rest.NextPageToken != "" {
		t.Fatalf("history = %v", path)
	}
	if all[1].TimeInPreviousStage.AsDuration() <= 0 || all[1].TimeInPreviousStage.AsDuration() > time.Minute {
		t.Fatalf("time in qualification = %v", all[1].TimeInPreviousStage.AsDuration())
	}

	// Winning a lost opportunity is refused.
	_, err = s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name})
	if r, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); r != "OPPORTUNITY_CLOSED" {
		t.Fatalf("reason = %s", r)
	}
	// Delete.
	cur, _ := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: o.Name})
	if _, err := s.client.DeleteOpportunity(ctx, &opportunityv1.DeleteOpportunityRequest{Name: o.Name, Etag: cur.Etag}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: o.Name})
	testkit.RequireCode(t, err, codes.NotFound)
	if got := testkit.EventTypes(s.published(t, 12)); got[len(got)-1] != "OpportunityDeleted" {
		t.Fatalf("events = %v", got)
	}
}
