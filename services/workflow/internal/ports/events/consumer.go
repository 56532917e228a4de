// Package events is the workflow service's inbound event port: every
// event of the lead, account, opportunity and order streams, applied to
// its projection of the suite's records, and the rules they trigger.
package events

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

// Streams the workflow service follows, by owning service, with their
// durable consumer names (dead letters go to crm.dlq.<name>).
var Streams = map[string]string{
	"lead":        "workflow-leads",
	"account":     "workflow-accounts",
	"opportunity": "workflow-opportunities",
	"order":       "workflow-orders",
}

// Handlers apply the events.
type Handlers struct {
	App *app.Service
}

// Decode reads a delivered event into what the use cases apply; ok is
// false for an event that carries no record (or that this build does not
// know: a newer publisher's), which is acknowledged and skipped.
func Decode(m inbox.Message) (ev app.Event, ok bool, err error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m.Type))
	if err != nil {
		return app.Event{}, false, nil
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(m.Data, msg); err != nil {
		return app.Event{}, false, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: decode %s: %w", m.Type, err))
	}
	ev, err = protomap.EventOf(msg, m.StreamSequence)
	if err != nil {
		return app.Event{}, false, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	if ev.ID == "" {
		ev.ID = m.EventID
	}
	return ev, len(ev.Records) > 0, nil
}

// Apply applies one event. A refusal by the use cases (the event says
// something the service cannot apply) is dead-lettered; anything else
// (the database) is retried.
func (h *Handlers) Apply(ctx context.Context, m inbox.Message) error {
	ev, ok, err := Decode(m)
	if err != nil || !ok {
		return err
	}
	err = h.App.ApplyEvent(ctx, ev)
	if e, isApp := apperr.As(err); isApp && e.Kind != apperr.KindUnavailable && e.Kind != apperr.KindAborted {
		return inbox.Permanent(err)
	}
	return err
}
