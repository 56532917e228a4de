package wire_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// A sales rep logs a call on a contact, schedules a meeting on an
// opportunity and sees one to-do list by due time, overdue first; a task
// due in the past is overdue at once (TaskOverdue).
func TestActivitiesAndMyTasks(t *testing.T) {
	t.Parallel()
	s := start(t, "account", "opportunity")
	acct, contact := s.account(t, "sam", "Acme")
	opp, err := s.opps.CreateOpportunity(sam, &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
		DisplayName: "Acme deal", Account: acct.Name, Amount: nil}})
	if err != nil {
		t.Fatal(err)
	}

	call, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: contact.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL, Subject: "Intro call", Direction: workflowv1.Direction_DIRECTION_OUTBOUND,
		Outcome: "interested", Duration: durationpb.New(12 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if call.Status != workflowv1.ActivityStatus_ACTIVITY_STATUS_DONE || call.Owner != "sam" || call.Account != acct.Name ||
		call.RegardingDisplayName != "Ada Buyer" || call.OccurTime == nil || call.DueTime != nil {
		t.Fatalf("logged call: %v", call)
	}
	now := time.Now()
	meeting, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Activity: &workflowv1.Activity{
		Regarding: opp.Name, Type: workflowv1.ActivityType_ACTIVITY_TYPE_MEETING, Subject: "Demo",
		DueTime: timestamppb.New(now.Add(48 * time.Hour)), ReminderTime: timestamppb.New(now.Add(47 * time.Hour)),
		Participants: []string{contact.Name}, Duration: durationpb.New(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if meeting.Status != workflowv1.ActivityStatus_ACTIVITY_STATUS_OPEN || meeting.Overdue || meeting.Account != acct.Name {
		t.Fatalf("scheduled meeting: %v", meeting)
	}
	// Due an hour ago: allowed, and overdue at once.
	late, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: acct.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_TODO, Subject: "Send the quote", DueTime: timestamppb.New(now.Add(-time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	if !late.Overdue {
		t.Fatalf("a task due in the past is overdue: %v", late)
	}
	soon, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: acct.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_TODO, Subject: "Check in", DueTime: timestamppb.New(now.Add(2 * time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	// Another's task is not on sam's list.
	if _, err := s.wf.CreateActivity(sue, &workflowv1.CreateActivityRequest{Parent: acct.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_TODO, Subject: "Sue's", DueTime: timestamppb.New(now)}}); err != nil {
		t.Fatal(err)
	}

	list, err := s.wf.ListTasks(sam, &workflowv1.ListTasksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(list.Tasks); !equal(got, []string{late.Name, soon.Name, meeting.Name}) {
		t.Fatalf("my tasks %v, want the overdue one, then by due time", got)
	}
	if !list.Tasks[0].Overdue || list.Tasks[1].Overdue {
		t.Fatalf("overdue marks: %v", list.Tasks)
	}
	// A due range.
	ranged, err := s.wf.ListTasks(sam, &workflowv1.ListTasksRequest{DueAfter: timestamppb.New(now), DueBefore: timestamppb.New(now.Add(24 * time.Hour))})
	if err != nil || !equal(names(ranged.Tasks), []string{soon.Name}) {
		t.Fatalf("tasks due within a day: %v, %v", ranged, err)
	}
	// A manager lists anyone's; a salesperson only its own.
	if other, err := s.wf.ListTasks(manager, &workflowv1.ListTasksRequest{Owner: "sam"}); err != nil || len(other.Tasks) != 3 {
		t.Fatalf("manager lists sam's tasks: %v, %v", other, err)
	}
	_, err = s.wf.ListTasks(sue, &workflowv1.ListTasksRequest{Owner: "sam"})
	testkit.RequireDenied(t, "sue lists sam's tasks", err)

	// TaskOverdue for the late one, exactly once.
	testkit.Eventually(t, 10*time.Second, func() bool { return countEvents(s.published(t, 1), "TaskOverdue", late.Name) == 1 }, "TaskOverdue")

	// Completing logs it; it leaves the list.
	done, err := s.wf.CompleteActivity(sam, &workflowv1.CompleteActivityRequest{Name: late.Name, Outcome: "sent", Etag: late.Etag})
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != workflowv1.ActivityStatus_ACTIVITY_STATUS_DONE || done.OccurTime == nil || done.Outcome != "sent" || done.Overdue {
		t.Fatalf("completed: %v", done)
	}
	_, err = s.wf.CompleteActivity(sam, &workflowv1.CompleteActivityRequest{Name: late.Name})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "ACTIVITY_NOT_OPEN" {
		t.Fatalf("completing twice: %s", reason)
	}
	// A stale etag loses nothing.
	_, err = s.wf.CancelActivity(sam, &workflowv1.CancelActivityRequest{Name: soon.Name, Etag: `"99"`})
	testkit.RequireCode(t, err, codes.Aborted)

	// The account's timeline holds the contact's call, the opportunity's
	// meeting and the account's own tasks, newest first.
	tl, err := s.wf.ListActivities(sam, &workflowv1.ListActivitiesRequest{Parent: acct.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(tl.Activities); len(got) != 5 || got[0] != meeting.Name {
		t.Fatalf("timeline %v", got)
	}
	calls, err := s.wf.ListActivities(sam, &workflowv1.ListActivitiesRequest{Parent: acct.Name, Filter: `type = CALL`})
	if err != nil || !equal(names(calls.Activities), []string{call.Name}) {
		t.Fatalf("timeline's calls: %v, %v", calls, err)
	}
	_ = accountv1.AccountState_ACCOUNT_STATE_ACTIVE
}

func names(as []*workflowv1.Activity) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// countEvents counts the events of type typ about activity name.
func countEvents(evs []proto.Message, typ, name string) int {
	n := 0
	for _, e := range evs {
		var a *workflowv1.Activity
		switch ev := e.(type) {
		case *eventsv1.TaskOverdue:
			if typ == "TaskOverdue" {
				a = ev.Activity
			}
		case *eventsv1.TaskReminderDue:
			if typ == "TaskReminderDue" {
				a = ev.Activity
			}
		case *eventsv1.ActivityCreated:
			if typ == "ActivityCreated" {
				a = ev.Activity
			}
		}
		if a != nil && a.Name == name {
			n++
		}
	}
	return n
}
