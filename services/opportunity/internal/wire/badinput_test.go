package wire_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestBadInputGetsClearErrorsAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, contact := s.customer(t, "Acme")
	other, otherContact := s.customer(t, "Other")
	_ = other
	o := s.create(t, &opportunityv1.Opportunity{DisplayName: "Deal", Account: account, PrimaryContact: contact, Amount: eur(100, 0)})
	lostOne := s.create(t, &opportunityv1.Opportunity{DisplayName: "Gone", Account: account})
	if _, err := s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: lostOne.Name, Reason: "price"}); err != nil {
		t.Fatal(err)
	}
	// A second change makes o's first etag stale.
	if _, err := s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: "proposal"}); err != nil {
		t.Fatal(err)
	}
	renewals, err := s.client.CreatePipeline(ctx, &opportunityv1.CreatePipelineRequest{Pipeline: &opportunityv1.Pipeline{
		DisplayName: "Renewals", Stages: []*opportunityv1.Stage{
			{DisplayName: "Due", Kind: open}, {DisplayName: "Renewed", Kind: won}, {DisplayName: "Churned", Kind: lost}}}})
	if err != nil {
		t.Fatal(err)
	}
	s.published(t, 8)
	before := s.snapshot(t)

	create := func(op *opportunityv1.Opportunity) error {
		_, err := s.client.CreateOpportunity(ctx, &opportunityv1.CreateOpportunityRequest{Opportunity: op})
		return err
	}
	missing := "accounts/" + uuid.NewString()
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		field  string // a field violation, for InvalidArgument
		reason string // the ErrorInfo reason, for others
	}{
		{"account that does not exist", create(&opportunityv1.Opportunity{DisplayName: "X", Account: missing}), codes.FailedPrecondition, "", "ACCOUNT_NOT_FOUND"},
		{"contact of another account", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account, PrimaryContact: otherContact}), codes.FailedPrecondition, "", "CONTACT_OF_ANOTHER_ACCOUNT"},
		{"contact that does not exist", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account, PrimaryContact: "contacts/" + uuid.NewString()}), codes.FailedPrecondition, "", "CONTACT_NOT_FOUND"},
		{"pipeline that does not exist", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account, Pipeline: "pipelines/" + uuid.NewString()}), codes.FailedPrecondition, "", "PIPELINE_NOT_FOUND"},
		{"no display name", create(&opportunityv1.Opportunity{Account: account}), codes.InvalidArgument, "opportunity.display_name", ""},
		{"negative amount", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account, Amount: eur(-5, 0)}), codes.InvalidArgument, "opportunity.amount", ""},
		{"negative quantity", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account,
			LineItems: []*opportunityv1.LineItem{{Product: "P", Quantity: "-1", UnitPrice: eur(1, 0)}}}), codes.InvalidArgument, "opportunity.line_items[0].quantity", ""},
		{"zero quantity", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account,
			LineItems: []*opportunityv1.LineItem{{Product: "P", Quantity: "0", UnitPrice: eur(1, 0)}}}), codes.InvalidArgument, "opportunity.line_items[0].quantity", ""},
		{"negative unit price", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account,
			LineItems: []*opportunityv1.LineItem{{Product: "P", Quantity: "1", UnitPrice: eur(-1, 0)}}}), codes.InvalidArgument, "opportunity.line_items[0].unit_price", ""},
		{"line currency other than the opportunity's", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account, Amount: eur(1, 0),
			LineItems: []*opportunityv1.LineItem{{Product: "P", Quantity: "1", UnitPrice: &money.Money{CurrencyCode: "USD", Units: 1}}}}), codes.InvalidArgument, "opportunity.line_items[0].unit_price.currency_code", ""},
		{"lines in two currencies", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account,
			LineItems: []*opportunityv1.LineItem{{Product: "P", Quantity: "1", UnitPrice: eur(1, 0)}, {Product: "Q", Quantity: "1", UnitPrice: &money.Money{CurrencyCode: "USD", Units: 1}}}}),
			codes.InvalidArgument, "opportunity.line_items[1].unit_price.currency_code", ""},
		{"unknown currency", create(&opportunityv1.Opportunity{DisplayName: "X", Account: account, Amount: &money.Money{CurrencyCode: "XYZ", Units: 1}}), codes.InvalidArgument, "opportunity.amount.currency_code", ""},
		{"moving to a stage of another pipeline", func() error {
			_, err := s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: renewals.Stages[0].Id})
			return err
		}(), codes.InvalidArgument, "stage", ""},
		{"moving to the WON stage", func() error {
			_, err := s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: "won"})
			return err
		}(), codes.InvalidArgument, "stage", ""},
		{"winning an already lost opportunity", func() error {
			_, err := s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: lostOne.Name})
			return err
		}(), codes.FailedPrecondition, "", "OPPORTUNITY_CLOSED"},
		{"losing without a reason", func() error {
			_, err := s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: o.Name})
			return err
		}(), codes.InvalidArgument, "reason", ""},
		{"losing for an unknown reason", func() error {
			_, err := s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: o.Name, Reason: "bad_karma"})
			return err
		}(), codes.InvalidArgument, "reason", ""},
		{"a pipeline without a WON stage", func() error {
			_, err := s.client.CreatePipeline(ctx, &opportunityv1.CreatePipelineRequest{Pipeline: &opportunityv1.Pipeline{
				DisplayName: "No wins", Stages: []*opportunityv1.Stage{{DisplayName: "A", Kind: open}, {DisplayName: "B", Kind: open}, {DisplayName: "L", Kind: lost}}}})
			return err
		}(), codes.InvalidArgument, "pipeline.stages", ""},
		{"a pipeline with duplicate stage ids", func() error {
			_, err := s.client.CreatePipeline(ctx, &opportunityv1.CreatePipelineRequest{Pipeline: &opportunityv1.Pipeline{
				DisplayName: "Dups", Stages: []*opportunityv1.Stage{{Id: "a", DisplayName: "A", Kind: open}, {Id: "a", DisplayName: "B", Kind: won}, {DisplayName: "L", Kind: lost}}}})
			return err
		}(), codes.InvalidArgument, "pipeline.stages[1].id", ""},
		{"an update removing the WON stage", func() error {
			_, err := s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{Pipeline: &opportunityv1.Pipeline{
				Name: renewals.Name, DisplayName: "Renewals", Stages: []*opportunityv1.Stage{renewals.Stages[0], renewals.Stages[2], {DisplayName: "X", Kind: open}}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}})
			return err
		}(), codes.InvalidArgument, "pipeline.stages", ""},
		{"deleting a stage with open opportunities without saying where they go", func() error {
			p, _ := s.client.GetPipeline(ctx, &opportunityv1.GetPipelineRequest{Name: "pipelines/00000000-0000-4000-8000-000000000001"})
			var kept []*opportunityv1.Stage
			for _, st := range p.Stages {
				if st.Id != "proposal" {
					kept = append(kept, st)
				}
			}
			p.Stages = kept
			_, err := s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{Pipeline: p, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}})
			return err
		}(), codes.FailedPrecondition, "", "STAGE_HAS_OPPORTUNITIES"},
		{"stale etag on update", func() error {
			_, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
				Opportunity: &opportunityv1.Opportunity{Name: o.Name, Account: account, Etag: o.Etag, NextStep: "y"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_step"}}})
			return err
		}(), codes.Aborted, "", "ETAG_MISMATCH"},
		{"stale etag on move", func() error {
			_, err := s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: "negotiation", Etag: o.Etag})
			return err
		}(), codes.Aborted, "", "ETAG_MISMATCH"},
		{"stale etag on delete", func() error {
			_, err := s.client.DeleteOpportunity(ctx, &opportunityv1.DeleteOpportunityRequest{Name: o.Name, Etag: o.Etag})
			return err
		}(), codes.Aborted, "", "ETAG_MISMATCH"},
		{"changing the pipeline by update", func() error {
			_, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
				Opportunity: &opportunityv1.Opportunity{Name: o.Name, Account: account, Pipeline: renewals.Name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"pipeline"}}})
			return err
		}(), codes.InvalidArgument, "update_mask", ""},
		{"unknown update_mask path", func() error {
			_, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
				Opportunity: &opportunityv1.Opportunity{Name: o.Name, Account: account}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"shoe_size"}}})
			return err
		}(), codes.InvalidArgument, "update_mask", ""},
		{"malformed filter", func() error {
			_, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: `state = = (`})
			return err
		}(), codes.InvalidArgument, "filter", ""},
		{"filter on an unknown field", func() error {
			_, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: `shoe_size = "9"`})
			return err
		}(), codes.InvalidArgument, "filter", ""},
		{"filter with a wrong enum value", func() error {
			_, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: `state = SLEEPING`})
			return err
		}(), codes.InvalidArgument, "filter", ""},
		{"unknown order", func() error {
			_, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{OrderBy: "shoe_size"})
			return err
		}(), codes.InvalidArgument, "order_by", ""},
		{"forged page token", func() error {
			_, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{PageToken: "bm9wZQ"})
			return err
		}(), codes.InvalidArgument, "page_token", ""},
		{"forecast range backwards", func() error {
			_, err := s.client.GetSalesPerformance(ctx, &opportunityv1.GetSalesPerformanceRequest{
				StartTime: tsOf(time.Now()), EndTime: tsOf(time.Now().Add(-time.Hour))})
			return err
		}(), codes.InvalidArgument, "end_time", ""},
		{"loss reasons with duplicate ids", func() error {
			_, err := s.client.UpdateLossReasons(ctx, &opportunityv1.UpdateLossReasonsRequest{LossReasons: []*opportunityv1.LossReason{
				{Id: "price", DisplayName: "Price"}, {Id: "price", DisplayName: "Again"}}})
			return err
		}(), codes.InvalidArgument, "loss_reasons[1].id", ""},
	}
	for _, c := range cases {
		reason, fields := testkit.RequireCode(t, c.err, c.code)
		if c.field != "" && !slices.Contains(fields, c.field) {
			t.Errorf("%s: fields %v, want %s", c.name, fields, c.field)
		}
		if c.reason != "" && reason != c.reason {
			t.Errorf("%s: reason %s, want %s", c.name, reason, c.reason)
		}
	}
	if s.snapshot(t) != before {
		t.Fatal("a refused request changed something")
	}
}

// With the account service down, a direct create fails with UNAVAILABLE
// within the call deadline and writes nothing.
func TestAccountServiceDownCreatesNothing(t *testing.T) {
	t.Parallel()
	s := start(t, options{accountTimeout: 500 * time.Millisecond})
	before := s.snapshot(t)
	began := time.Now()
	_, err := s.client.CreateOpportunity(testkit.As("alice"), &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
		DisplayName: "X", Account: "accounts/" + uuid.NewString(), Amount: eur(10, 0)}})
	if r, _ := testkit.RequireCode(t, err, codes.Unavailable); r != "ACCOUNT_SERVICE_UNAVAILABLE" {
		t.Fatalf("reason = %s", r)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	if s.snapshot(t) != before {
		t.Fatal("a failed create wrote something")
	}
}
