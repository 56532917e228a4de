package wire_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

var svcCaller = testkit.As("opportunity-svc", "service")

func step(id string, required bool, kind any) *workflowv1.ProcessStep {
	s := &workflowv1.ProcessStep{Id: id, Title: id, Required: required}
	switch k := kind.(type) {
	case string:
		s.Kind = &workflowv1.ProcessStep_Condition{Condition: k}
	case workflowv1.ActivityType:
		s.Kind = &workflowv1.ProcessStep_Activity{Activity: k}
	default:
		s.Kind = &workflowv1.ProcessStep_Checklist{Checklist: &workflowv1.ChecklistItem{}}
	}
	return s
}

// Bad definitions are refused, each naming its field: a condition that
// does not compile, a stage the pipeline (or record type) does not have,
// an opportunity process without its pipeline, a step id used twice, a
// second active process for the same records, a change of record type.
func TestProcessDefinitionBadInput(t *testing.T) {
	t.Parallel()
	s := start(t, "opportunity")
	ps := s.processes()
	pipes, err := s.opps.ListPipelines(manager, &opportunityv1.ListPipelinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pipeline := pipes.GetPipelines()[0].GetName()
	opp := func(stages ...*workflowv1.ProcessStage) *workflowv1.ProcessDefinition {
		return &workflowv1.ProcessDefinition{DisplayName: "Sale", RecordType: workflowv1.ProcessRecordType_PROCESS_RECORD_TYPE_OPPORTUNITY,
			Pipeline: pipeline, Enforcement: workflowv1.Enforcement_ENFORCEMENT_BLOCK, Active: true, Stages: stages}
	}
	for _, c := range []struct {
		name  string
		def   *workflowv1.ProcessDefinition
		field string
	}{
		{"condition does not compile", opp(&workflowv1.ProcessStage{Stage: "proposal", Steps: []*workflowv1.ProcessStep{step("amount", true, "has(record.amount) &&")}}),
			"process_definition.stages[0].steps[0].condition"},
		{"condition on a field the record lacks", opp(&workflowv1.ProcessStage{Stage: "proposal", Steps: []*workflowv1.ProcessStep{step("amount", true, "record.budget > 0")}}),
			"process_definition.stages[0].steps[0].condition"},
		{"stage the pipeline lacks", opp(&workflowv1.ProcessStage{Stage: "haggling"}), "process_definition.stages[0].stage"},
		{"no pipeline", func() *workflowv1.ProcessDefinition {
			d := opp(&workflowv1.ProcessStage{Stage: "proposal"})
			d.Pipeline = ""
			return d
		}(),
			"process_definition.pipeline"},
		{"lead stage that is no status", &workflowv1.ProcessDefinition{DisplayName: "Leads", RecordType: workflowv1.ProcessRecordType_PROCESS_RECORD_TYPE_LEAD,
			Enforcement: workflowv1.Enforcement_ENFORCEMENT_WARN, Stages: []*workflowv1.ProcessStage{{Stage: "WON"}}}, "process_definition.stages[0].stage"},
		{"step id twice", opp(&workflowv1.ProcessStage{Stage: "proposal", Steps: []*workflowv1.ProcessStep{step("x", true, nil), step("x", false, nil)}}),
			"process_definition.stages[0].steps[1].id"},
		{"no enforcement", func() *workflowv1.ProcessDefinition {
			d := opp(&workflowv1.ProcessStage{Stage: "proposal"})
			d.Enforcement = 0
			return d
		}(), "process_definition.enforcement"},
		{"no stages", opp(), "process_definition.stages"},
	} {
		_, err := ps.CreateProcessDefinition(admin, &workflowv1.CreateProcessDefinitionRequest{ProcessDefinition: c.def})
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, c.field) {
			t.Errorf("%s: fields %v, want %s (%v)", c.name, fields, c.field, err)
		}
	}
	first, err := ps.CreateProcessDefinition(admin, &workflowv1.CreateProcessDefinitionRequest{ProcessDefinition: opp(&workflowv1.ProcessStage{Stage: "proposal"})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ps.CreateProcessDefinition(admin, &workflowv1.CreateProcessDefinitionRequest{ProcessDefinition: opp(&workflowv1.ProcessStage{Stage: "proposal"})})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "ACTIVE_PROCESS_EXISTS" {
		t.Fatalf("second active process: %s %v", reason, err)
	}
	_, err = ps.UpdateProcessDefinition(admin, &workflowv1.UpdateProcessDefinitionRequest{
		ProcessDefinition: &workflowv1.ProcessDefinition{Name: first.GetName(), RecordType: workflowv1.ProcessRecordType_PROCESS_RECORD_TYPE_LEAD},
		UpdateMask:        &fieldmaskpb.FieldMask{Paths: []string{"record_type"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "update_mask") {
		t.Fatalf("record type changed: %v", err)
	}
	// Admins define processes; salespeople read them.
	_, err = ps.CreateProcessDefinition(sam, &workflowv1.CreateProcessDefinitionRequest{ProcessDefinition: opp(&workflowv1.ProcessStage{Stage: "proposal"})})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	if _, err := ps.GetProcessDefinition(sam, &workflowv1.GetProcessDefinitionRequest{Name: first.GetName()}); err != nil {
		t.Fatal(err)
	}
	// Only services check transitions.
	_, err = ps.CheckTransition(sam, &workflowv1.CheckTransitionRequest{Record: "opportunities/0192f5a0-0000-7000-8000-000000000001", ToStage: "proposal"})
	testkit.RequireCode(t, err, codes.PermissionDenied)
}

// A lead process, versioned: a record keeps the version it started with
// when the definition changes mid-process, a new record starts on the new
// one, a migration moves the first over; checklist ticks, activity steps,
// conditions, and overrides (a reason required, the exception on record).
func TestProcessVersionsAndChecks(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	ps := s.processes()
	def, err := ps.CreateProcessDefinition(admin, &workflowv1.CreateProcessDefinitionRequest{ProcessDefinition: &workflowv1.ProcessDefinition{
		DisplayName: "Lead to order", RecordType: workflowv1.ProcessRecordType_PROCESS_RECORD_TYPE_LEAD,
		Enforcement: workflowv1.Enforcement_ENFORCEMENT_BLOCK, Active: true,
		Stages: []*workflowv1.ProcessStage{
			{Stage: "NEW"},
			{Stage: "CONTACTED", Steps: []*workflowv1.ProcessStep{step("intro_sent", true, nil)}},
			{Stage: "QUALIFIED", Steps: []*workflowv1.ProcessStep{
				step("called", true, workflowv1.ActivityType_ACTIVITY_TYPE_CALL),
				step("company", true, `record.company != ""`),
				step("notes", false, nil),
			}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	lead := s.lead(t, "sam", &leadv1.Lead{LastName: "Lovelace", Company: "Engines"})
	s.known(t, lead.GetName())
	check := func(l *leadv1.Lead, to string, override bool, reason string) (*workflowv1.CheckTransitionResponse, error) {
		snap, err := anypb.New(l)
		if err != nil {
			t.Fatal(err)
		}
		return ps.CheckTransition(svcCaller, &workflowv1.CheckTransitionRequest{Record: l.GetName(), ToStage: to, Snapshot: snap, Actor: "mia",
			Override: override, OverrideReason: reason})
	}
	missing := func(r *workflowv1.CheckTransitionResponse) (out []string) {
		for _, m := range r.GetMissing() {
			out = append(out, m.GetStepId())
		}
		return out
	}

	guide, err := ps.GetProcessInstance(sam, &workflowv1.GetProcessInstanceRequest{Name: lead.GetName() + "/processInstance"})
	if err != nil {
		t.Fatal(err)
	}
	if guide.GetStage() != "NEW" || guide.GetDefinitionVersion() != 1 || len(guide.GetAllowedNextStages()) != 0 {
		t.Fatalf("guidance at NEW: %v", guide)
	}
	r, err := check(lead, "QUALIFIED", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.GetAllowed() || len(missing(r)) != 2 || missing(r)[0] != "intro_sent" || missing(r)[1] != "called" {
		t.Fatalf("jump to QUALIFIED: %v", r)
	}
	if r, _ := check(lead, "NURTURING", false, ""); !r.GetAllowed() {
		t.Fatalf("a stage outside the process is not gated: %v", r)
	}
	// Ticking the wrong kind of step, then the right one.
	_, err = ps.TickChecklistItem(sam, &workflowv1.TickChecklistItemRequest{Name: lead.GetName() + "/processInstance", StepId: "company", Done: true})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "step_id") {
		t.Fatalf("tick a condition: %v", err)
	}
	if _, err = ps.TickChecklistItem(sue, &workflowv1.TickChecklistItemRequest{Name: lead.GetName() + "/processInstance", StepId: "intro_sent", Done: true}); err == nil {
		t.Fatal("sue ticked sam's lead")
	}
	guide, err = ps.TickChecklistItem(sam, &workflowv1.TickChecklistItemRequest{Name: lead.GetName() + "/processInstance", StepId: "intro_sent", Done: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(guide.GetAllowedNextStages()) != 1 || guide.GetAllowedNextStages()[0] != "CONTACTED" {
		t.Fatalf("after the tick: %v", guide)
	}
	if r, _ := check(lead, "CONTACTED", false, ""); !r.GetAllowed() {
		t.Fatalf("CONTACTED after the tick: %v", r)
	}

	// Version 2 wants a budget too; the lead mid-process keeps version 1.
	v2, err := ps.UpdateProcessDefinition(admin, &workflowv1.UpdateProcessDefinitionRequest{ProcessDefinition: &workflowv1.ProcessDefinition{
		Name: def.GetName(), Etag: def.GetEtag(), Stages: append(def.GetStages()[:1:1],
			&workflowv1.ProcessStage{Stage: "CONTACTED", Steps: []*workflowv1.ProcessStep{step("intro_sent", true, nil), step("budget", true, nil)}},
			def.GetStages()[2])}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}})
	if err != nil {
		t.Fatal(err)
	}
	if v2.GetVersion() != 2 {
		t.Fatalf("version %d", v2.GetVersion())
	}
	if r, _ := check(lead, "CONTACTED", false, ""); !r.GetAllowed() || r.GetDefinitionVersion() != 1 {
		t.Fatalf("the started lead keeps version 1: %v", r)
	}
	other := s.lead(t, "sam", &leadv1.Lead{LastName: "Babbage", Company: "Engines"})
	if r, _ := check(other, "CONTACTED", false, ""); r.GetAllowed() || r.GetDefinitionVersion() != 2 || len(missing(r)) != 2 {
		t.Fatalf("a new lead starts on version 2: %v", r)
	}
	if _, err := ps.MigrateProcessInstance(sam, &workflowv1.MigrateProcessInstanceRequest{Name: lead.GetName() + "/processInstance"}); err == nil {
		t.Fatal("a salesperson migrated an instance")
	}
	migrated, err := ps.MigrateProcessInstance(manager, &workflowv1.MigrateProcessInstanceRequest{Name: lead.GetName() + "/processInstance"})
	if err != nil || migrated.GetDefinitionVersion() != 2 {
		t.Fatalf("migrate: %v %v", migrated, err)
	}
	r, _ = check(lead, "CONTACTED", false, "")
	if r.GetAllowed() || len(missing(r)) != 1 || missing(r)[0] != "budget" {
		t.Fatalf("after migrating: %v", r)
	}
	// An override needs a reason; with one it passes and is on record.
	_, err = check(lead, "CONTACTED", true, "  ")
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "override_reason") {
		t.Fatalf("override without a reason: %v", err)
	}
	if r, err := check(lead, "CONTACTED", true, "budget agreed by phone"); err != nil || !r.GetAllowed() || len(missing(r)) != 1 {
		t.Fatalf("override: %v %v", r, err)
	}
	exc, err := ps.ListProcessExceptions(manager, &workflowv1.ListProcessExceptionsRequest{Parent: lead.GetName() + "/processInstance"})
	if err != nil || len(exc.GetExceptions()) != 1 || exc.GetExceptions()[0].GetKind() != "OVERRIDE" || exc.GetExceptions()[0].GetReason() != "budget agreed by phone" {
		t.Fatalf("exceptions %v %v", exc, err)
	}

	// WARN: the same missing steps pass, recorded.
	v3, err := ps.UpdateProcessDefinition(admin, &workflowv1.UpdateProcessDefinitionRequest{ProcessDefinition: &workflowv1.ProcessDefinition{
		Name: def.GetName(), Enforcement: workflowv1.Enforcement_ENFORCEMENT_WARN}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enforcement"}}})
	if err != nil {
		t.Fatal(err)
	}
	third := s.lead(t, "sam", &leadv1.Lead{LastName: "Somerville", Company: "Engines"})
	if r, _ := check(third, "CONTACTED", false, ""); !r.GetAllowed() || r.GetDefinitionVersion() != 3 || len(missing(r)) != 2 {
		t.Fatalf("WARN: %v", r)
	}
	// Deactivated, nothing is gated and there is no guidance.
	if _, err := ps.UpdateProcessDefinition(admin, &workflowv1.UpdateProcessDefinitionRequest{ProcessDefinition: &workflowv1.ProcessDefinition{
		Name: def.GetName(), Etag: v3.GetEtag(), Active: false}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := check(other, "CONTACTED", false, ""); !r.GetAllowed() || r.GetDefinition() != "" {
		t.Fatalf("deactivated: %v", r)
	}
	_, err = ps.GetProcessInstance(sam, &workflowv1.GetProcessInstanceRequest{Name: lead.GetName() + "/processInstance"})
	testkit.RequireCode(t, err, codes.NotFound)
}

func (s *suite) processes() workflowv1.ProcessServiceClient {
	return workflowv1.NewProcessServiceClient(s.svc.Conn)
}
