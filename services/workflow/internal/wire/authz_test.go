package wire_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/workflow/internal/wire"
)

// Every RPC the workflow service registers has a rule, and every rule
// names a registered RPC.
func TestEveryWorkflowMethodHasARule(t *testing.T) {
	srv := grpc.NewServer()
	workflowv1.RegisterWorkflowServiceServer(srv, workflowv1.UnimplementedWorkflowServiceServer{})
	workflowv1.RegisterProcessServiceServer(srv, workflowv1.UnimplementedProcessServiceServer{})
	workflowv1.RegisterSlaServiceServer(srv, workflowv1.UnimplementedSlaServiceServer{})
	workflowv1.RegisterDirectoryServiceServer(srv, workflowv1.UnimplementedDirectoryServiceServer{})
	if missing := authz.Uncovered(wire.Spec().Rules, srv.GetServiceInfo(), grpcx.IsPublic); len(missing) > 0 {
		t.Fatalf("no authorization rule for %v", missing)
	}
	n := 0
	for _, d := range []grpc.ServiceDesc{workflowv1.WorkflowService_ServiceDesc, workflowv1.ProcessService_ServiceDesc, workflowv1.SlaService_ServiceDesc, workflowv1.DirectoryService_ServiceDesc} {
		n += len(d.Methods) + len(d.Streams)
	}
	if len(wire.Rules) != n {
		t.Fatalf("%d rules for %d methods", len(wire.Rules), n)
	}
}

// ROLES.md is the role x method matrix as the rule table enforces it.
func TestRoleMatrixIsDocumented(t *testing.T) {
	testkit.Golden(t, "../../ROLES.md", authz.Matrix("workflow", wire.Rules))
}

// Rules are admins' to write and managers' to read; a salesperson may not
// touch another's activity, delete any, or list another's tasks; an
// activity's audit trail follows the activity.
func TestWorkflowRolesAreEnforced(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	l := s.lead(t, "sam", &leadv1.Lead{LastName: "Mine"})
	a, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_TODO, DueTime: timestamppb.New(time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	rule := &workflowv1.Rule{DisplayName: "r", Trigger: &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: []string{"LeadCreated"}}}},
		Actions: []*workflowv1.RuleAction{{Kind: &workflowv1.RuleAction_Notify{Notify: &workflowv1.NotifyAction{}}}}}
	for _, who := range []context.Context{manager, sam} {
		_, err := s.wf.CreateRule(who, &workflowv1.CreateRuleRequest{Rule: rule})
		testkit.RequireDenied(t, "a non-admin creates a rule", err)
	}
	if _, err := s.wf.ListRules(manager, &workflowv1.ListRulesRequest{}); err != nil {
		t.Fatalf("a manager lists rules: %v", err)
	}
	_, err = s.wf.ListRules(sam, &workflowv1.ListRulesRequest{})
	testkit.RequireDenied(t, "a salesperson lists rules", err)
	_, err = s.wf.DeleteActivity(sam, &workflowv1.DeleteActivityRequest{Name: a.Name})
	testkit.RequireDenied(t, "a salesperson deletes", err)
	// Sue cannot see sam's lead: its activity is hidden from her.
	_, err = s.wf.CompleteActivity(sue, &workflowv1.CompleteActivityRequest{Name: a.Name})
	testkit.RequireDenied(t, "sue completes sam's task", err)
	if _, err := s.wf.ListAuditEntries(sam, &workflowv1.ListAuditEntriesRequest{Parent: a.Name}); err != nil {
		t.Fatalf("sam reads its activity's trail: %v", err)
	}
	_, err = s.wf.ListAuditEntries(sue, &workflowv1.ListAuditEntriesRequest{Parent: a.Name})
	testkit.RequireDenied(t, "sue reads the trail of sam's activity", err)
	_, err = s.wf.ListAuditEntries(sam, &workflowv1.ListAuditEntriesRequest{Parent: "activities/-"})
	testkit.RequireDenied(t, "a salesperson reads every activity's trail", err)
	if _, err := s.wf.DeleteActivity(manager, &workflowv1.DeleteActivityRequest{Name: a.Name}); err != nil {
		t.Fatalf("a manager deletes: %v", err)
	}
	trail, err := s.wf.ListAuditEntries(manager, &workflowv1.ListAuditEntriesRequest{Parent: a.Name})
	if err != nil || len(trail.AuditEntries) != 2 {
		t.Fatalf("a deleted activity's trail: %v, %v", trail, err)
	}
}

// Bad input is InvalidArgument naming the field, and changes nothing.
func TestBadActivityInput(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	l := s.lead(t, "sam", &leadv1.Lead{LastName: "Target"})
	s.known(t, l.Name)
	now := time.Now()
	for name, c := range map[string]struct {
		req   *workflowv1.CreateActivityRequest
		field string
	}{
		"no type":         {&workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{}}, "activity.type"},
		"no record":       {&workflowv1.CreateActivityRequest{Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE}}, "activity.regarding"},
		"not a record":    {&workflowv1.CreateActivityRequest{Parent: "webForms/0192f5a0-0000-7000-8000-000000000001", Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE}}, "parent"},
		"parent mismatch": {&workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{Regarding: "leads/0192f5a0-0000-7000-8000-000000000001", Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE}}, "activity.regarding"},
		"reminder after due": {&workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_TODO,
			DueTime: timestamppb.New(now), ReminderTime: timestamppb.New(now.Add(time.Hour))}}, "activity.reminder_time"},
		"reminder without due": {&workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE,
			ReminderTime: timestamppb.New(now)}}, "activity.reminder_time"},
		"too long": {&workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL,
			Duration: durationpb.New(25 * time.Hour)}}, "activity.duration"},
		"participant not a contact": {&workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_MEETING,
			Participants: []string{l.Name}}}, "activity.participants[0]"},
		"bad request id": {&workflowv1.CreateActivityRequest{Parent: l.Name, RequestId: "x", Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE}}, "request_id"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.wf.CreateActivity(sam, c.req)
			if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, c.field) {
				t.Fatalf("%v: fields %v, want %s", err, fields, c.field)
			}
		})
	}
	if n := s.query(t, `SELECT count(*)::text FROM activities`); n != "0" {
		t.Fatalf("%s activities saved from bad input", n)
	}
	// Hostile filters are refused or match nothing.
	for _, f := range testkit.HostileFilters(postgres.ListFilters()["ListActivities"]) {
		resp, err := s.wf.ListActivities(manager, &workflowv1.ListActivitiesRequest{Filter: f.Filter})
		if !f.Valid {
			if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
				t.Fatalf("%s: fields %v", f.Filter, fields)
			}
			continue
		}
		if err != nil || len(resp.Activities) != 0 {
			t.Fatalf("%s: %v, %v", f.Filter, resp, err)
		}
	}
	// A retried create (same request id) makes one activity.
	req := &workflowv1.CreateActivityRequest{Parent: l.Name, RequestId: "0192f5a0-0000-7000-8000-0000000000aa",
		Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE, Subject: "once"}}
	first, err := s.wf.CreateActivity(sam, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.wf.CreateActivity(sam, req)
	if err != nil || again.Name != first.Name {
		t.Fatalf("retry: %v, %v", again, err)
	}
	if n := s.query(t, `SELECT count(*)::text FROM activities`); n != "1" {
		t.Fatalf("%s activities after a retried create", n)
	}
}
