package wire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// importLeads imports rows (one lead each) as owner through the lead
// service's streaming import and returns the job's name.
func (s *suite) importLeads(t *testing.T, owner string, leads ...*leadv1.Lead) {
	t.Helper()
	stream, err := s.leads.ImportLeads(testkit.As(owner, "sales"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Options{Options: &leadv1.ImportOptions{DisplayName: "expo.csv"}}}); err != nil {
		t.Fatal(err)
	}
	rows := make([]*leadv1.ImportRow, len(leads))
	for i, l := range leads {
		rows[i] = &leadv1.ImportRow{Line: int64(i + 1), Lead: l}
	}
	if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Rows{Rows: &leadv1.ImportRows{Rows: rows}}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if p := resp.GetProgress(); p != nil && len(p.Rejections) > 0 {
			t.Fatalf("import rejected rows: %v", p.Rejections)
		}
	}
}

// callbacks lists the open call-back tasks of a lead.
func (s *suite) callbacks(t *testing.T, lead string) []*workflowv1.Activity {
	t.Helper()
	var out []*workflowv1.Activity
	for _, a := range s.openTasks(t, lead) {
		if a.Key == "callback" {
			out = append(out, a)
		}
	}
	return out
}

// The seeded rating rules fire for leads created by hand, by import, by
// web form, and on a rating change, with exactly one open call-back per
// lead: due in 1 day for HOT, 3 for WARM, 5 for COLD; a rating change
// reschedules it.
func TestRatingRuleFiresForEveryWayALeadComesIn(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	byHand := s.lead(t, "sam", &leadv1.Lead{LastName: "Hand", Rating: leadv1.Rating_RATING_HOT})
	s.importLeads(t, "sam", &leadv1.Lead{LastName: "Imported1", Company: "I1", Rating: leadv1.Rating_RATING_WARM},
		&leadv1.Lead{LastName: "Imported2", Company: "I2", Rating: leadv1.Rating_RATING_COLD})
	form, err := s.forms.CreateWebForm(admin, &leadv1.CreateWebFormRequest{WebForm: &leadv1.WebForm{
		DisplayName: "Request a demo", DefaultOwner: "sue", DefaultRating: leadv1.Rating_RATING_HOT}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.forms.SubmitWebForm(context.Background(), &leadv1.SubmitWebFormRequest{Name: form.WebForm.Name, Key: form.Key, LastName: "Visitor", Company: "Web"}); err != nil {
		t.Fatal(err)
	}
	unrated := s.lead(t, "sam", &leadv1.Lead{LastName: "Unrated"})

	all, err := s.leads.ListLeads(admin, &leadv1.ListLeadsRequest{PageSize: 100})
	if err != nil || len(all.Leads) != 5 {
		t.Fatalf("leads: %v, %v", all, err)
	}
	wantDays := map[leadv1.Rating]int{leadv1.Rating_RATING_HOT: 1, leadv1.Rating_RATING_WARM: 3, leadv1.Rating_RATING_COLD: 5}
	for _, l := range all.Leads {
		if l.Name == unrated.Name {
			continue
		}
		testkit.Eventually(t, 20*time.Second, func() bool { return len(s.callbacks(t, l.Name)) == 1 }, "a call-back for %s", l.LastName)
		cb := s.callbacks(t, l.Name)[0]
		want := l.CreateTime.AsTime().AddDate(0, 0, wantDays[l.Rating])
		if !cb.DueTime.AsTime().Equal(want) || cb.Owner != l.Owner || cb.Type != workflowv1.ActivityType_ACTIVITY_TYPE_CALL || cb.Rule == "" {
			t.Fatalf("%s's call-back: %v, want due %v for %s", l.LastName, cb, want, l.Owner)
		}
	}

	// Rating changes: the unrated lead gets one; the hot one's moves to 5
	// days (COLD) and stays the only one.
	rate := func(l *leadv1.Lead, r leadv1.Rating) {
		t.Helper()
		if _, err := s.leads.UpdateLead(admin, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, Rating: r},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rating"}}}); err != nil {
			t.Fatal(err)
		}
	}
	rate(unrated, leadv1.Rating_RATING_WARM)
	testkit.Eventually(t, 20*time.Second, func() bool { return len(s.callbacks(t, unrated.Name)) == 1 }, "a call-back once rated")
	before := s.callbacks(t, byHand.Name)[0]
	rate(byHand, leadv1.Rating_RATING_COLD)
	testkit.Eventually(t, 20*time.Second, func() bool {
		cbs := s.callbacks(t, byHand.Name)
		return len(cbs) == 1 && cbs[0].Sequence > before.Sequence
	}, "the call-back rescheduled")
	after := s.callbacks(t, byHand.Name)[0]
	if after.Name != before.Name || !after.DueTime.AsTime().After(before.DueTime.AsTime().Add(3*24*time.Hour)) {
		t.Fatalf("rescheduled call-back %v, was %v", after, before)
	}

	// Every lead's runs are recorded: the one that skipped (unrated) too.
	runs, err := s.wf.ListRuleRuns(manager, &workflowv1.ListRuleRunsRequest{Parent: "rules/-", Filter: fmt.Sprintf("record = %q", unrated.Name)})
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[workflowv1.RuleRunStatus]int{}
	for _, r := range runs.Runs {
		statuses[r.Status]++
	}
	// LeadCreated: 3 rules skipped; LeadRatingChanged: WARM succeeded, 2 skipped.
	if statuses[workflowv1.RuleRunStatus_RULE_RUN_STATUS_SKIPPED] != 5 || statuses[workflowv1.RuleRunStatus_RULE_RUN_STATUS_SUCCEEDED] != 1 {
		t.Fatalf("runs of the unrated lead: %v", runs.Runs)
	}
	for _, r := range runs.Runs {
		if r.Status == workflowv1.RuleRunStatus_RULE_RUN_STATUS_SUCCEEDED &&
			(r.Input == nil || !r.ConditionResult || len(r.Actions) != 1 || !strings.HasPrefix(r.Actions[0].Detail, "created activities/")) {
			t.Fatalf("a successful run records its input and actions: %v", r)
		}
	}
	if n := s.query(t, `SELECT count(*)::text FROM activities WHERE key = 'callback'`); n != "5" {
		t.Fatalf("%s call-backs in all, want 5 (none doubled)", n)
	}
}

// An admin's rule: a condition over the event and the record, an update
// through the owning service as the workflow service's identity, and a
// notification.
func TestRuleUpdatesARecordThroughItsService(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	value, _ := structpb.NewValue("nurture-2027")
	rule, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{
		DisplayName: "Cold leads go to nurturing", Enabled: true,
		Trigger:   &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: []string{"LeadRatingChanged"}}}},
		Condition: `event.rating == Rating.RATING_COLD && event.previous_rating != Rating.RATING_UNSPECIFIED`,
		Actions: []*workflowv1.RuleAction{
			{Kind: &workflowv1.RuleAction_UpdateField{UpdateField: &workflowv1.UpdateFieldAction{Field: "campaign", Value: value}}},
			{Kind: &workflowv1.RuleAction_Notify{Notify: &workflowv1.NotifyAction{Topic: "lead.cooled", Message: "a lead went cold"}}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	l := s.lead(t, "sam", &leadv1.Lead{LastName: "Cooling", Rating: leadv1.Rating_RATING_HOT})
	if _, err := s.leads.UpdateLead(admin, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, Rating: leadv1.Rating_RATING_COLD},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rating"}}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		got, err := s.leads.GetLead(admin, &leadv1.GetLeadRequest{Name: l.Name})
		return err == nil && got.Campaign == "nurture-2027"
	}, "the rule set the lead's campaign")
	got, _ := s.leads.GetLead(admin, &leadv1.GetLeadRequest{Name: l.Name})
	if got.UpdatedBy != "service:workflow" {
		t.Fatalf("updated by %q, want the workflow service's own identity", got.UpdatedBy)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		runs, err := s.wf.ListRuleRuns(manager, &workflowv1.ListRuleRunsRequest{Parent: rule.Name})
		return err == nil && len(runs.Runs) == 1 && runs.Runs[0].Status == workflowv1.RuleRunStatus_RULE_RUN_STATUS_SUCCEEDED
	}, "the run succeeded")
}

// Bad rules are refused with the field and, for conditions, the position
// of the error.
func TestBadRules(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	s.lead(t, "sam", &leadv1.Lead{LastName: "Known"}) // sam becomes a known user
	testkit.Eventually(t, 20*time.Second, func() bool { return s.query(t, `SELECT count(*)::text FROM users WHERE id = 'sam'`) == "1" }, "sam known")
	events := func(types ...string) *workflowv1.RuleTrigger {
		return &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: types}}}
	}
	task := func(assignee string) *workflowv1.RuleAction {
		return &workflowv1.RuleAction{Kind: &workflowv1.RuleAction_CreateTask{CreateTask: &workflowv1.CreateTaskAction{
			Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL, Assignee: assignee, Due: &workflowv1.CreateTaskAction_DueInDays{DueInDays: 1}}}}
	}
	update := func(field string, v any) *workflowv1.RuleAction {
		val, _ := structpb.NewValue(v)
		return &workflowv1.RuleAction{Kind: &workflowv1.RuleAction_UpdateField{UpdateField: &workflowv1.UpdateFieldAction{Field: field, Value: val}}}
	}
	for name, c := range map[string]struct {
		rule   *workflowv1.Rule
		field  string
		detail string
	}{
		"condition does not compile":      {&workflowv1.Rule{Condition: `record.rating ==`}, "rule.condition", "1:"},
		"unknown field":                   {&workflowv1.Rule{Condition: `record.temperature > 3`}, "rule.condition", "temperature"},
		"not a boolean":                   {&workflowv1.Rule{Condition: `record.last_name`}, "rule.condition", "not a boolean"},
		"unknown user":                    {&workflowv1.Rule{Actions: []*workflowv1.RuleAction{task("nobody")}}, "rule.actions[0].create_task.assignee", ""},
		"unknown field of the target":     {&workflowv1.Rule{Actions: []*workflowv1.RuleAction{update("temperature", 3)}}, "rule.actions[0].update_field", "temperature"},
		"a value the field does not take": {&workflowv1.Rule{Actions: []*workflowv1.RuleAction{update("rating", "SCORCHING")}}, "rule.actions[0].update_field", ""},
		"an output-only field":            {&workflowv1.Rule{Actions: []*workflowv1.RuleAction{update("create_time", "2027-01-01T00:00:00Z")}}, "rule.actions[0].update_field", "cannot be set"},
		"unknown event":                   {&workflowv1.Rule{Trigger: events("LeadTeleported")}, "rule.trigger.events.event_types[0]", ""},
		"mixed record types":              {&workflowv1.Rule{Trigger: events("LeadCreated", "AccountCreated")}, "rule.trigger.events.event_types[1]", ""},
		"imports trigger LeadCreated":     {&workflowv1.Rule{Trigger: events("LeadsImported")}, "rule.trigger.events.event_types[0]", "LeadCreated"},
	} {
		t.Run(name, func(t *testing.T) {
			r := c.rule
			r.DisplayName = name
			if r.Trigger == nil {
				r.Trigger = events("LeadCreated")
			}
			if r.Actions == nil {
				r.Actions = []*workflowv1.RuleAction{task("sam")}
			}
			_, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: r})
			_, fields := testkit.RequireCode(t, err, codes.InvalidArgument)
			if !testkit.HasField(fields, c.field) || !strings.Contains(err.Error(), c.detail) {
				t.Fatalf("%v: fields %v, want %s mentioning %q", err, fields, c.field, c.detail)
			}
		})
	}
	if n := s.query(t, `SELECT count(*)::text FROM rules WHERE NOT seeded`); n != "0" {
		t.Fatalf("%s bad rules saved", n)
	}
}

// Two rules that undo each other's update would run forever: each is
// stopped after domain.LoopBound runs on changes the workflow service
// itself made, with a clear run error.
func TestRuleLoopsAreStopped(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	for _, v := range []string{"ping", "pong"} {
		value, _ := structpb.NewValue(v)
		if _, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{
			DisplayName: "set " + v, Enabled: true,
			Trigger: &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: []string{"LeadUpdated"}}}},
			Actions: []*workflowv1.RuleAction{{Kind: &workflowv1.RuleAction_UpdateField{UpdateField: &workflowv1.UpdateFieldAction{Field: "campaign", Value: value}}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	l := s.lead(t, "sam", &leadv1.Lead{LastName: "Loopy"})
	if _, err := s.leads.UpdateLead(sam, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, Title: "CTO"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
		t.Fatal(err)
	}
	loopErrors := func() int {
		return atoi(s.query(t, `SELECT count(*)::text FROM rule_runs WHERE error LIKE 'RULE_LOOP:%'`))
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return loopErrors() >= 1 }, "the loop stopped")
	time.Sleep(2 * time.Second)
	runs := s.query(t, `SELECT count(*)::text FROM rule_runs WHERE NOT EXISTS (SELECT 1 FROM rules WHERE rules.id = rule_id AND seeded)`)
	time.Sleep(2 * time.Second)
	if again := s.query(t, `SELECT count(*)::text FROM rule_runs WHERE NOT EXISTS (SELECT 1 FROM rules WHERE rules.id = rule_id AND seeded)`); again != runs {
		t.Fatalf("runs went on: %s, then %s", runs, again)
	}
	// Each rule updates at most LoopBound+1 times (once for the human's
	// change); every update is an event both rules run on.
	if n, most := atoi(runs), 2*(1+2*(domain.LoopBound+1)); n > most {
		t.Fatalf("%d runs before the loop was stopped, want at most %d", n, most)
	}
	failed, err := s.wf.ListRuleRuns(manager, &workflowv1.ListRuleRunsRequest{Parent: "rules/-", Filter: `status = FAILED`})
	if err != nil || len(failed.Runs) == 0 || !strings.Contains(failed.Runs[0].Error, "ran 3 times") {
		t.Fatalf("failed runs: %v, %v", failed, err)
	}
}

// At most domain.MaxRulesPerEvent enabled rules trigger on one event type;
// more are refused (disabled ones may be kept), and an event still runs
// them all in one go.
func TestRulesPerEventAreBounded(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	notify := []*workflowv1.RuleAction{{Kind: &workflowv1.RuleAction_Notify{Notify: &workflowv1.NotifyAction{Topic: "t"}}}}
	trigger := &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: []string{"LeadCreated"}}}}
	enabled, refused := 3, 0 // the seeded ones
	for i := range 1000 {
		_, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{
			DisplayName: fmt.Sprintf("rule %d", i), Enabled: true, Trigger: trigger, Actions: notify,
			Condition: fmt.Sprintf("record.last_name != %q", fmt.Sprint(i))}})
		switch {
		case err == nil:
			enabled++
		default:
			if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "TOO_MANY_RULES" {
				t.Fatalf("rule %d: %s", i, reason)
			}
			refused++
			// Kept disabled instead.
			if _, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{
				DisplayName: fmt.Sprintf("rule %d", i), Trigger: trigger, Actions: notify}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if enabled != domain.MaxRulesPerEvent || refused != 1000-(domain.MaxRulesPerEvent-3) {
		t.Fatalf("%d enabled, %d refused", enabled, refused)
	}
	l := s.lead(t, "sam", &leadv1.Lead{LastName: "Busy", Rating: leadv1.Rating_RATING_HOT})
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM rule_runs WHERE record = $1`, l.Name) == strconv.Itoa(domain.MaxRulesPerEvent)
	}, "every enabled rule ran once")
	testkit.Eventually(t, 10*time.Second, func() bool { return len(s.callbacks(t, l.Name)) == 1 }, "the call-back")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
