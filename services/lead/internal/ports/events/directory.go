package events

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/services/lead/internal/app"
)

// DirectoryConsumer returns the durable consumer of the workflow
// service's UserChanged events, in namespace ns: the active users
// AssignLead accepts as owners.
func DirectoryConsumer(ns string, svc *app.Service) *inbox.Consumer {
	return &inbox.Consumer{
		Name:     "lead-directory",
		Stream:   events.StreamName(ns, "workflow"),
		Subjects: []string{events.Subject(ns, "workflow", &eventsv1.UserChanged{})},
		Handler: func(ctx context.Context, m inbox.Message) error {
			if protoreflect.FullName(m.Type) != name(&eventsv1.UserChanged{}) {
				return nil
			}
			var ev eventsv1.UserChanged
			if err := decode(m, &ev); err != nil {
				return err
			}
			id := strings.TrimSpace(ev.GetUserId())
			if id == "" || ev.GetVersion() <= 0 {
				return inbox.Permanent(fmt.Errorf("UserChanged %s names no user or version", ev.GetMeta().GetEventId()))
			}
			return svc.ApplyUserChanged(ctx, app.DirectoryUser{
				ID: id, Active: ev.GetUser().GetActive() && !ev.GetDeleted(), Deleted: ev.GetDeleted(), Version: ev.GetVersion(),
			})
		},
	}
}
