package events

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/app"
)

// ActivityActor is who changes a lead for an activity event that names no
// actor.
const ActivityActor = "service:workflow"

// ActivityConsumer returns the durable consumer of the workflow service's
// activity events, in namespace ns, that keeps each lead's last activity
// time: an activity regarding a lead that is done (logged, a task
// completed, or moved to the lead by a merge: ActivityUpdated) moves it
// forward to the activity's occur time.
func ActivityConsumer(ns string, svc *app.Service) *inbox.Consumer {
	return &inbox.Consumer{
		Name:   "lead-activities",
		Stream: events.StreamName(ns, "workflow"),
		Subjects: []string{
			events.Subject(ns, "workflow", &eventsv1.ActivityCreated{}),
			events.Subject(ns, "workflow", &eventsv1.ActivityCompleted{}),
			events.Subject(ns, "workflow", &eventsv1.ActivityUpdated{}),
		},
		Handler: func(ctx context.Context, m inbox.Message) error { return activityDone(ctx, svc, m) },
	}
}

// activityEvent is what ActivityCreated, ActivityCompleted and
// ActivityUpdated have in common.
type activityEvent interface {
	proto.Message
	GetMeta() *eventsv1.EventMeta
	GetActivityId() string
	GetActivity() *workflowv1.Activity
	GetRegarding() string
}

func activityDone(ctx context.Context, svc *app.Service, m inbox.Message) error {
	var ev activityEvent
	switch protoreflect.FullName(m.Type) {
	case name(&eventsv1.ActivityCreated{}):
		ev = &eventsv1.ActivityCreated{}
	case name(&eventsv1.ActivityCompleted{}):
		ev = &eventsv1.ActivityCompleted{}
	case name(&eventsv1.ActivityUpdated{}):
		ev = &eventsv1.ActivityUpdated{}
	default:
		return nil
	}
	if err := decode(m, ev); err != nil {
		return err
	}
	a := ev.GetActivity()
	if a.GetStatus() != workflowv1.ActivityStatus_ACTIVITY_STATUS_DONE {
		return nil // a task still open, or cancelled
	}
	regarding := ev.GetRegarding()
	if regarding == "" {
		regarding = a.GetRegarding()
	}
	if !strings.HasPrefix(regarding, "leads/") {
		return nil // about another kind of record
	}
	lead, ok := resname.Parse(regarding, "leads")
	if !ok {
		return inbox.Permanent(fmt.Errorf("%s of activity %q regards %q, not a lead name", m.Type, ev.GetActivityId(), regarding))
	}
	if err := a.GetOccurTime().CheckValid(); err != nil {
		return inbox.Permanent(fmt.Errorf("%s of activity %q: done without a valid occur time: %w", m.Type, ev.GetActivityId(), err))
	}
	actor := ev.GetMeta().GetActor()
	if actor == "" {
		actor = ActivityActor
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
	return svc.ActivityDone(ctx, lead, a.GetOccurTime().AsTime())
}
