package wire_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// A time rule ("an hour before a lead's next contact") is armed for the
// leads that exist when it is made and for those that come later, moves
// when the date moves, and runs once per record and due time.
func TestTimeRuleFiresOncePerRecordAndDate(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	soon := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(time.Now().Add(time.Hour + d)) }
	early := s.lead(t, "sam", &leadv1.Lead{LastName: "Early", NextContactTime: soon(3 * time.Second)})
	later := s.lead(t, "sam", &leadv1.Lead{LastName: "Moved", NextContactTime: soon(4 * time.Second)})
	none := s.lead(t, "sam", &leadv1.Lead{LastName: "No date"})
	for _, l := range []*leadv1.Lead{early, later, none} {
		s.known(t, l.Name)
	}
	rule, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{
		DisplayName: "Prepare the call", Enabled: true,
		Trigger: &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Time{Time: &workflowv1.TimeTrigger{
			RecordType: workflowv1.RecordType_RECORD_TYPE_LEAD, Field: "next_contact_time", Offset: durationpb.New(-time.Hour)}}},
		Condition: `record.status == Status.STATUS_NEW`,
		Actions: []*workflowv1.RuleAction{{Kind: &workflowv1.RuleAction_CreateTask{CreateTask: &workflowv1.CreateTaskAction{
			Type: workflowv1.ActivityType_ACTIVITY_TYPE_TODO, Subject: "Prepare the call", Key: "prepare",
			Due: &workflowv1.CreateTaskAction_DueInHours{DueInHours: 1}}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// One made after the rule is armed as it comes.
	fresh := s.lead(t, "sam", &leadv1.Lead{LastName: "Fresh", NextContactTime: soon(3 * time.Second)})
	// One moves its date away before the rule fires: it fires at the new
	// date only.
	if _, err := s.leads.UpdateLead(sam, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: later.Name, NextContactTime: soon(24 * time.Hour)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_contact_time"}}}); err != nil {
		t.Fatal(err)
	}
	prepared := func(l *leadv1.Lead) int {
		return atoi(s.query(t, `SELECT count(*)::text FROM activities WHERE regarding = $1 AND key = 'prepare'`, l.Name))
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return prepared(early) == 1 && prepared(fresh) == 1
	}, "the rule fired for both")
	time.Sleep(2 * time.Second)
	if prepared(early) != 1 || prepared(fresh) != 1 || prepared(later) != 0 || prepared(none) != 0 {
		t.Fatalf("prepare tasks: early %d, fresh %d, moved %d, no date %d", prepared(early), prepared(fresh), prepared(later), prepared(none))
	}
	runs, err := s.wf.ListRuleRuns(manager, &workflowv1.ListRuleRunsRequest{Parent: rule.Name})
	if err != nil || len(runs.Runs) != 2 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	for _, r := range runs.Runs {
		if r.DueTime == nil || r.EventId != "" || r.Status != workflowv1.RuleRunStatus_RULE_RUN_STATUS_SUCCEEDED {
			t.Fatalf("time run %v", r)
		}
	}
	// The moved lead's timer waits for its new date.
	if due := s.query(t, `SELECT due_at::text FROM timers WHERE purpose = 'rule.time' AND key = $1`,
		fmt.Sprintf("%s|%s", rule.Name[len("rules/"):], later.Name)); due == "" {
		t.Fatal("no timer for the moved lead")
	}
	// Disabling the rule stops it.
	if _, err := s.wf.UpdateRule(admin, &workflowv1.UpdateRuleRequest{Rule: &workflowv1.Rule{Name: rule.Name, Enabled: false, Etag: rule.Etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}}}); err != nil {
		t.Fatal(err)
	}
}
