package wire_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

const (
	open   = opportunityv1.StageKind_STAGE_KIND_OPEN
	won    = opportunityv1.StageKind_STAGE_KIND_WON
	lost   = opportunityv1.StageKind_STAGE_KIND_LOST
	disq   = opportunityv1.StageKind_STAGE_KIND_DISQUALIFIED
	commit = opportunityv1.ForecastCategory_FORECAST_CATEGORY_COMMIT
)

func stageIDs(p *opportunityv1.Pipeline) []string {
	var ids []string
	for _, s := range p.Stages {
		ids = append(ids, s.Id)
	}
	return ids
}

func TestDefaultPipelineIsSeeded(t *testing.T) {
	t.Parallel()
	s := start(t)
	resp, err := s.client.ListPipelines(testkit.As("x"), &opportunityv1.ListPipelinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Pipelines) != 1 || !resp.Pipelines[0].Default {
		t.Fatalf("pipelines = %v", resp.Pipelines)
	}
	p := resp.Pipelines[0]
	if !slices.Equal(stageIDs(p), []string{"qualification", "needs_analysis", "proposal", "negotiation", "won", "lost"}) {
		t.Fatalf("stages = %v", stageIDs(p))
	}
	var probs []int32
	var cats []opportunityv1.ForecastCategory
	for _, st := range p.Stages {
		probs, cats = append(probs, st.Probability), append(cats, st.ForecastCategory)
	}
	if !slices.Equal(probs, []int32{10, 25, 50, 75, 100, 0}) || cats[2] != opportunityv1.ForecastCategory_FORECAST_CATEGORY_BEST_CASE ||
		cats[3] != commit || cats[4] != opportunityv1.ForecastCategory_FORECAST_CATEGORY_CLOSED || cats[5] != opportunityv1.ForecastCategory_FORECAST_CATEGORY_OMITTED ||
		p.Stages[4].Kind != won || p.Stages[5].Kind != lost {
		t.Fatalf("stages = %v", p.Stages)
	}
}

func TestPipelinesDefaultsAndStageRemoval(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("manager")
	account, _ := s.customer(t, "Initech")
	list, _ := s.client.ListPipelines(ctx, &opportunityv1.ListPipelinesRequest{})
	sales := list.Pipelines[0]

	p, err := s.client.CreatePipeline(ctx, &opportunityv1.CreatePipelineRequest{Pipeline: &opportunityv1.Pipeline{
		DisplayName: "Renewals", Default: true,
		Stages: []*opportunityv1.Stage{
			{DisplayName: "Due soon", Kind: open, Probability: 40},
			{DisplayName: "Quote sent!", Kind: open, Probability: 70, ForecastCategory: commit},
			{DisplayName: "Renewed", Kind: won, Probability: 20},
			{DisplayName: "Churned", Kind: lost, Probability: 30},
			{DisplayName: "Bad fit", Kind: disq},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Ids from names, categories from kinds, closed probabilities
	// normalised.
	if !slices.Equal(stageIDs(p), []string{"due_soon", "quote_sent", "renewed", "churned", "bad_fit"}) ||
		p.Stages[0].ForecastCategory != opportunityv1.ForecastCategory_FORECAST_CATEGORY_PIPELINE || p.Stages[1].ForecastCategory != commit ||
		p.Stages[2].Probability != 100 || p.Stages[3].Probability != 0 || !p.Default {
		t.Fatalf("pipeline = %v", p)
	}
	// The previous default is no longer.
	old, _ := s.client.GetPipeline(ctx, &opportunityv1.GetPipelineRequest{Name: sales.Name})
	if old.Default || old.Etag == sales.Etag {
		t.Fatalf("old default = %v", old)
	}
	// New opportunities start in the default pipeline's first open stage.
	o := s.create(t, &opportunityv1.Opportunity{DisplayName: "Renewal 2027", Account: account, Amount: eur(1000, 0)})
	if o.Pipeline != p.Name || o.Stage != "due_soon" || o.Probability != 40 {
		t.Fatalf("opportunity = %v", o)
	}
	// Disqualifying uses the DISQUALIFIED stage of a pipeline that has one.
	d := s.create(t, &opportunityv1.Opportunity{DisplayName: "Tyre kicker", Account: account})
	d, err = s.client.DisqualifyOpportunity(ctx, &opportunityv1.DisqualifyOpportunityRequest{Name: d.Name, Note: "student"})
	if err != nil || d.Stage != "bad_fit" || d.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_DISQUALIFIED {
		t.Fatalf("disqualified = %v, %v", d, err)
	}

	// Removing due_soon, which has an opportunity, without saying where
	// it goes is refused, naming the stage; nothing changes.
	before := s.snapshot(t)
	newStages := []*opportunityv1.Stage{
		{Id: "quote_sent", DisplayName: "Quote sent", Kind: open, Probability: 70, ForecastCategory: commit},
		{DisplayName: "Negotiating", Kind: open, Probability: 80},
		{Id: "renewed", DisplayName: "Renewed", Kind: won},
		{Id: "churned", DisplayName: "Churned", Kind: lost},
		{Id: "bad_fit", DisplayName: "Bad fit", Kind: disq, Retired: true},
	}
	_, err = s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{
		Pipeline:   &opportunityv1.Pipeline{Name: p.Name, DisplayName: "Renewals", Stages: newStages},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}})
	if r, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); r != "STAGE_HAS_OPPORTUNITIES" {
		t.Fatalf("reason = %s", r)
	}
	if s.snapshot(t) != before {
		t.Fatal("a refused pipeline update changed something")
	}
	// A move to a stage of another kind is refused too.
	_, err = s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{
		Pipeline:   &opportunityv1.Pipeline{Name: p.Name, DisplayName: "Renewals", Stages: newStages},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}, StageMoves: map[string]string{"due_soon": "renewed"}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "stage_moves[due_soon]") {
		t.Fatalf("fields = %v", fields)
	}
	// With the move it goes through, in one transaction.
	up, err := s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{
		Pipeline:   &opportunityv1.Pipeline{Name: p.Name, DisplayName: "Renewals", Stages: newStages},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}, StageMoves: map[string]string{"due_soon": "negotiating"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stageIDs(up), []string{"quote_sent", "negotiating", "renewed", "churned", "bad_fit"}) || !up.Stages[4].Retired {
		t.Fatalf("updated = %v", up)
	}
	got, _ := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: o.Name})
	if got.Stage != "negotiating" || got.Probability != 80 {
		t.Fatalf("moved opportunity = %v", got)
	}
	hist, _ := s.client.ListStageChanges(ctx, &opportunityv1.ListStageChangesRequest{Parent: o.Name})
	if n := len(hist.StageChanges); n != 2 || hist.StageChanges[1].FromStage != "due_soon" || hist.StageChanges[1].ToStage != "negotiating" || hist.StageChanges[1].Actor != "manager" {
		t.Fatalf("history = %v", hist.StageChanges)
	}
	// The disqualified one stays in its retired stage.
	if got, _ := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: d.Name}); got.Stage != "bad_fit" {
		t.Fatalf("disqualified = %v", got)
	}
	var changed *eventsv1.PipelineChanged
	for _, e := range s.published(t, 10) {
		if pc, ok := e.(*eventsv1.PipelineChanged); ok && pc.PipelineId == p.Name[len("pipelines/"):] {
			changed = pc
		}
	}
	if changed == nil || changed.StageMoves["due_soon"] != "negotiating" || len(changed.Pipeline.Stages) != 5 {
		t.Fatalf("PipelineChanged = %v", changed)
	}
	// A stale etag is ABORTED.
	_, err = s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{
		Pipeline:   &opportunityv1.Pipeline{Name: p.Name, DisplayName: "Renamed", Etag: p.Etag, Stages: newStages},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
	testkit.RequireCode(t, err, codes.Aborted)
	// The default cannot be switched off, only handed over.
	_, err = s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{
		Pipeline:   &opportunityv1.Pipeline{Name: p.Name, DisplayName: "Renewals", Stages: newStages},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default"}}})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	back, err := s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{
		Pipeline:   &opportunityv1.Pipeline{Name: sales.Name, DisplayName: "Sales", Default: true, Stages: sales.Stages},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default"}}})
	if err != nil || !back.Default {
		t.Fatalf("back = %v, %v", back, err)
	}
	if r, _ := s.client.GetPipeline(ctx, &opportunityv1.GetPipelineRequest{Name: p.Name}); r.Default {
		t.Fatal("two default pipelines")
	}
}
