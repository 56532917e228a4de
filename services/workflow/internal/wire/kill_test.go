package wire_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// A kill -9 of the workflow service while it applies imported leads
// (between an event's arrival and its rules' actions) loses no run and
// doubles none: after a restart every lead has its three runs (one per
// seeded rule) and exactly one call-back, announced once.
func TestKillWhileApplyingEventsLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	s := startServices(t, "lead")
	wf := s.startProc(t)
	const total = 600
	leads := make([]*leadv1.Lead, total)
	for i := range leads {
		leads[i] = &leadv1.Lead{LastName: fmt.Sprintf("Imported %d", i), Company: fmt.Sprintf("Co %d", i), Rating: leadv1.Rating_RATING_HOT}
	}
	s.importLeads(t, "sam", leads...)
	// Kill it mid-way: some runs recorded, not all.
	testkit.Eventually(t, 60*time.Second, func() bool {
		n := atoi(s.query(t, `SELECT count(*)::text FROM rule_runs`))
		return n > 0
	}, "the rules running")
	wf.Kill()
	<-wf.Done()
	done := atoi(s.query(t, `SELECT count(DISTINCT record)::text FROM rule_runs`))
	t.Logf("killed with %d of %d leads' rules run", done, total)
	if done == total {
		t.Log("the service was faster than the kill; the test still checks nothing doubled")
	}
	wf.Restart()
	testkit.Eventually(t, 60*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM activities WHERE key = 'callback'`) == fmt.Sprint(total)
	}, "a call-back for every lead")
	time.Sleep(time.Second) // anything doubled would show by now
	if n := s.query(t, `SELECT count(*)::text FROM (SELECT record FROM rule_runs GROUP BY record HAVING count(*) <> 3) r`); n != "0" {
		t.Fatalf("%s leads without exactly 3 runs", n)
	}
	if n := s.query(t, `SELECT count(*)::text FROM activities WHERE key = 'callback'`); n != fmt.Sprint(total) {
		t.Fatalf("%s call-backs, want %d", n, total)
	}
	created := map[string]int{}
	for _, e := range s.published(t, total) {
		if ev, ok := e.(*eventsv1.ActivityCreated); ok {
			created[ev.ActivityId]++
		}
	}
	if len(created) != total {
		t.Fatalf("%d ActivityCreated, want %d", len(created), total)
	}
	for id, n := range created {
		if n != 1 {
			t.Fatalf("ActivityCreated for %s published %d times", id, n)
		}
	}
}

// Overdue and reminder timers fire once across a kill -9 while they fire,
// and late (but once) after the service was down past their due time;
// rescheduling moves them.
func TestTaskTimersFireOnceAcrossKillsAndDowntime(t *testing.T) {
	t.Parallel()
	s := startServices(t, "account")
	wf := s.startProc(t)
	acct, _ := s.account(t, "sam", "Acme")
	const total = 200
	var tasks []*workflowv1.Activity
	for range total {
		a, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: acct.Name, Activity: &workflowv1.Activity{
			Type: workflowv1.ActivityType_ACTIVITY_TYPE_TODO, Subject: "follow up",
			DueTime: timestamppb.New(time.Now().Add(time.Hour)), ReminderTime: timestamppb.New(time.Now().Add(30 * time.Minute))}})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, a)
	}
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// bring makes the tasks' reminder (due) times come in d, timers too.
	bring := func(purpose, column string, d time.Duration) {
		t.Helper()
		if _, err := conn.Exec(context.Background(), `UPDATE workflow.activities SET `+column+` = now() + $1::interval WHERE owner = 'sam'`, d.String()); err != nil {
			t.Fatal(err)
		}
		tag, err := conn.Exec(context.Background(), `UPDATE workflow.timers SET due_at = a.`+column+`
			FROM workflow.activities a WHERE a.id::text = timers.key AND timers.purpose = $1`, purpose)
		if err != nil || tag.RowsAffected() != total {
			t.Fatalf("%s timers: %v, %v", purpose, tag, err)
		}
	}
	bring("task.reminder", "reminder_at", 300*time.Millisecond)
	// Kill it while its firing transaction holds the timers.
	testkit.Eventually(t, 10*time.Second, func() bool {
		var free int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT 1 FROM workflow.timers
			WHERE purpose = 'task.reminder' FOR UPDATE SKIP LOCKED) f`).Scan(&free)
		return err == nil && free < total
	}, "the engine firing the reminders")
	wf.Kill()
	<-wf.Done()
	var unfired int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM workflow.timers WHERE purpose = 'task.reminder'`).Scan(&unfired); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with %d of %d reminders unfired", unfired, total)
	wf.Restart()
	count := func(typ string) map[string]int {
		seen := map[string]int{}
		for _, e := range s.published(t, 1) {
			switch ev := e.(type) {
			case *eventsv1.TaskReminderDue:
				if typ == "reminder" {
					seen[ev.ActivityId]++
				}
			case *eventsv1.TaskOverdue:
				if typ == "overdue" {
					seen[ev.ActivityId]++
				}
			}
		}
		return seen
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return len(count("reminder")) == total }, "a reminder for every task")

	// Down past the due time: they fire late, once, after the restart.
	wf.Kill()
	<-wf.Done()
	bring("task.overdue", "due_at", 300*time.Millisecond)
	time.Sleep(time.Second)
	wf.Restart()
	testkit.Eventually(t, 30*time.Second, func() bool { return len(count("overdue")) == total }, "every task overdue")
	time.Sleep(500 * time.Millisecond)
	for typ, seen := range map[string]map[string]int{"reminder": count("reminder"), "overdue": count("overdue")} {
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("%s for %s published %d times", typ, id, n)
			}
		}
	}
	// A rescheduled task's timer moves; a completed one's is gone.
	_, err = s.wf.RescheduleActivity(sam, &workflowv1.RescheduleActivityRequest{Name: tasks[0].Name, DueTime: timestamppb.New(time.Now().Add(400 * time.Millisecond))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wf.CompleteActivity(sam, &workflowv1.CompleteActivityRequest{Name: tasks[1].Name}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return count("overdue")[tasks[0].Name[len("activities/"):]] == 2 }, "the rescheduled task overdue again")
	if n := s.query(t, `SELECT count(*)::text FROM timers WHERE key = $1`, tasks[1].Name[len("activities/"):]); n != "0" {
		t.Fatalf("a completed task keeps %s timers", n)
	}
}
