package wire_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// Rules set a lead's lifecycle stage (seed 004) through the lead service:
// web-form leads become MQLs, an MQL rated HOT becomes an SQL, and the
// LeadLifecycleStageChanged event triggers rules of its own.
func TestRulesSetTheLifecycleStage(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	setStage := func(stage string) *workflowv1.RuleAction {
		v, _ := structpb.NewValue(stage)
		return &workflowv1.RuleAction{Kind: &workflowv1.RuleAction_UpdateField{UpdateField: &workflowv1.UpdateFieldAction{Field: "lifecycle_stage", Value: v}}}
	}
	on := func(types ...string) *workflowv1.RuleTrigger {
		return &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: types}}}
	}
	accepted, _ := structpb.NewValue("sales-accepted")
	for _, r := range []*workflowv1.Rule{
		{DisplayName: "Web-form leads are MQLs", Trigger: on("LeadCreated"),
			Condition: `record.source == Source.SOURCE_WEB_FORM`, Actions: []*workflowv1.RuleAction{setStage("LIFECYCLE_STAGE_MQL")}},
		{DisplayName: "Hot MQLs are SQLs", Trigger: on("LeadRatingChanged"),
			Condition: `event.rating == Rating.RATING_HOT && record.lifecycle_stage == LifecycleStage.LIFECYCLE_STAGE_MQL`,
			Actions:   []*workflowv1.RuleAction{setStage("LIFECYCLE_STAGE_SQL")}},
		{DisplayName: "Mark SQLs", Trigger: on("LeadLifecycleStageChanged"),
			Condition: `event.stage == LifecycleStage.LIFECYCLE_STAGE_SQL && !event.backwards`,
			Actions:   []*workflowv1.RuleAction{{Kind: &workflowv1.RuleAction_UpdateField{UpdateField: &workflowv1.UpdateFieldAction{Field: "campaign", Value: accepted}}}}},
	} {
		r.Enabled = true
		if _, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: r}); err != nil {
			t.Fatalf("%s: %v", r.DisplayName, err)
		}
	}
	// A stage the field does not take is refused when the rule is made.
	_, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{DisplayName: "bad", Enabled: true,
		Trigger: on("LeadCreated"), Actions: []*workflowv1.RuleAction{setStage("LIFECYCLE_STAGE_CUSTOMER")}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "rule.actions[0].update_field") {
		t.Fatalf("bad stage: fields %v", fields)
	}

	web := s.lead(t, "sam", &leadv1.Lead{LastName: "Webby", Source: leadv1.Source_SOURCE_WEB_FORM})
	manual := s.lead(t, "sam", &leadv1.Lead{LastName: "Manual"})
	get := func(name string) *leadv1.Lead {
		l, err := s.leads.GetLead(admin, &leadv1.GetLeadRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return get(web.Name).LifecycleStage == leadv1.LifecycleStage_LIFECYCLE_STAGE_MQL },
		"the rule made the web-form lead an MQL")
	got := get(web.Name)
	if got.LifecycleStageChangedBy != "service:workflow" || got.MqlTime == nil {
		t.Fatalf("MQL by the rule = %v", got)
	}
	for _, l := range []*leadv1.Lead{web, manual} {
		if _, err := s.leads.UpdateLead(testkit.As("sam", "sales"), &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, Rating: leadv1.Rating_RATING_HOT},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rating"}}}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		l := get(web.Name)
		return l.LifecycleStage == leadv1.LifecycleStage_LIFECYCLE_STAGE_SQL && l.Campaign == "sales-accepted"
	}, "the hot MQL became an SQL, and the stage change triggered the third rule")
	if l := get(manual.Name); l.LifecycleStage != leadv1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED || l.Campaign != "" {
		t.Fatalf("the manual lead (no MQL) = %v", l)
	}
}
