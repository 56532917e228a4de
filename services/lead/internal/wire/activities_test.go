package wire_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// workflowEvent is an activity event of the workflow service.
type workflowEvent interface {
	proto.Message
	GetMeta() *eventsv1.EventMeta
}

// The workflow service owns activities; the lead service follows its
// activity events (consumer lead-activities) to keep last_activity_time:
// forward only, for activities done regarding the lead, each move
// announced as LeadUpdated.
func TestLastActivityTimeFollowsTheWorkflowServicesActivities(t *testing.T) {
	t.Parallel()
	s := start(t)
	wf := s.serviceStream(t, "workflow")
	lead := s.create(t, &leadv1.Lead{LastName: "Lovelace", Company: "Engines"})
	other := s.create(t, &leadv1.Lead{LastName: "Babbage", Company: "Engines"})
	dup := s.create(t, &leadv1.Lead{LastName: "Babbage", Company: "Engines Ltd"})
	if _, err := s.client.MergeLeads(testkit.As("mia", "manager"), &leadv1.MergeLeadsRequest{Primary: other.Name, Duplicates: []string{dup.Name}}); err != nil {
		t.Fatal(err)
	}

	base := time.Now().UTC().Truncate(time.Microsecond).Add(-72 * time.Hour)
	activity := func(regarding string, status workflowv1.ActivityStatus, occur time.Time) *workflowv1.Activity {
		a := &workflowv1.Activity{Name: "activities/" + uuid.NewString(), Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL,
			Regarding: regarding, Status: status}
		if !occur.IsZero() {
			a.OccurTime = timestamppb.New(occur)
		}
		return a
	}
	// send publishes ev as the workflow service would and waits until the
	// consumer has taken it (applied or ignored).
	send := func(ev workflowEvent) {
		t.Helper()
		wf.publish(t, ev)
		testkit.Eventually(t, 20*time.Second, func() bool { return s.applied(t, "lead-activities", ev.GetMeta().GetEventId()) },
			"%T taken", ev)
	}
	last := func(name string) *timestamppb.Timestamp {
		t.Helper()
		return s.lead(t, name).GetLastActivityTime()
	}
	by := func(actor string) *eventsv1.EventMeta {
		m := meta(time.Now())
		m.Actor = actor
		return m
	}
	done := workflowv1.ActivityStatus_ACTIVITY_STATUS_DONE

	// A call logged on the lead: its time, told as LeadUpdated by bob.
	call := activity(lead.Name, done, base.Add(time.Hour))
	send(&eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(call.Name), Activity: call, Regarding: lead.Name})
	if got := last(lead.Name); !got.AsTime().Equal(base.Add(time.Hour)) {
		t.Fatalf("last activity after a logged call = %v", got)
	}
	etag := s.lead(t, lead.Name).Etag

	// An older activity, an open task, a cancelled one, another record's
	// and an unknown lead's change nothing.
	older := activity(lead.Name, done, base)
	send(&eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(older.Name), Activity: older, Regarding: lead.Name})
	task := activity(lead.Name, workflowv1.ActivityStatus_ACTIVITY_STATUS_OPEN, time.Time{})
	task.DueTime = timestamppb.New(time.Now().Add(24 * time.Hour))
	send(&eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(task.Name), Activity: task, Regarding: lead.Name})
	cancelled := activity(lead.Name, workflowv1.ActivityStatus_ACTIVITY_STATUS_CANCELLED, base.Add(10*time.Hour))
	send(&eventsv1.ActivityUpdated{Meta: by("bob"), ActivityId: id(cancelled.Name), Activity: cancelled, Regarding: lead.Name})
	account := activity("accounts/"+uuid.NewString(), done, base.Add(10*time.Hour))
	send(&eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(account.Name), Activity: account, Regarding: account.Regarding})
	unknown := activity("leads/"+uuid.NewString(), done, base.Add(10*time.Hour))
	send(&eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(unknown.Name), Activity: unknown, Regarding: unknown.Regarding})
	if got := s.lead(t, lead.Name); !got.GetLastActivityTime().AsTime().Equal(base.Add(time.Hour)) || got.Etag != etag {
		t.Fatalf("lead after activities that do not count = %v", got)
	}

	// The task done: its completion time. Told again (another event of
	// the same completion), nothing more.
	task.Status, task.OccurTime = done, timestamppb.New(base.Add(2*time.Hour))
	send(&eventsv1.ActivityCompleted{Meta: by("carol"), ActivityId: id(task.Name), Activity: task, Regarding: lead.Name})
	send(&eventsv1.ActivityCompleted{Meta: by("carol"), ActivityId: id(task.Name), Activity: task, Regarding: lead.Name})
	if got := last(lead.Name); !got.AsTime().Equal(base.Add(2 * time.Hour)) {
		t.Fatalf("last activity after a completed task = %v", got)
	}

	// An activity moved to another lead (the workflow service applying a
	// merge) counts for that lead; a merged lead stays as it is.
	moved := activity(other.Name, done, base.Add(90*time.Minute))
	send(&eventsv1.ActivityUpdated{Meta: by(""), ActivityId: id(moved.Name), Activity: moved, Regarding: other.Name,
		ChangedFields: []string{"regarding"}})
	if got := last(other.Name); !got.AsTime().Equal(base.Add(90 * time.Minute)) {
		t.Fatalf("last activity of the lead an activity moved to = %v", got)
	}
	late := activity(dup.Name, done, base.Add(5*time.Hour))
	send(&eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(late.Name), Activity: late, Regarding: dup.Name})
	if got := last(dup.Name); got != nil {
		t.Fatalf("a merged lead's last activity = %v", got)
	}

	// Malformed events are dead-lettered.
	bad := activity("leads/not-a-uuid", done, base)
	wf.publish(t, &eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(bad.Name), Activity: bad, Regarding: bad.Regarding})
	noTime := activity(lead.Name, done, time.Time{})
	wf.publish(t, &eventsv1.ActivityCreated{Meta: by("bob"), ActivityId: id(noTime.Name), Activity: noTime, Regarding: lead.Name})
	s.nats.DeadLetters(t, s.js, "lead-activities", 2)

	// 3 created, 1 merge, 3 moves of last_activity_time.
	var updates []*eventsv1.LeadUpdated
	for _, e := range s.published(t, 7) {
		if u, ok := e.(*eventsv1.LeadUpdated); ok {
			updates = append(updates, u)
		}
	}
	want := []struct {
		lead, actor string
		at          time.Time
	}{
		{lead.Name, "bob", base.Add(time.Hour)},
		{lead.Name, "carol", base.Add(2 * time.Hour)},
		{other.Name, "service:workflow", base.Add(90 * time.Minute)},
	}
	if len(updates) != len(want) {
		t.Fatalf("LeadUpdated events = %v", updates)
	}
	for i, w := range want {
		u := updates[i]
		if u.Lead.GetName() != w.lead || u.Meta.GetActor() != w.actor || !slices.Equal(u.ChangedFields, []string{"last_activity_time"}) ||
			!u.Lead.GetLastActivityTime().AsTime().Equal(w.at) {
			t.Errorf("LeadUpdated %d = %v, want %s at %v by %s", i, u, w.lead, w.at, w.actor)
		}
	}
}
