// Package events is the lead service's inbound event port: it follows the
// account service's events to see conversions complete or fail.
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/services/lead/internal/app"
)

// Actor recorded on leads changed by the account service's answers.
const Actor = "service:account"

// ConversionConsumer returns the durable consumer that settles conversions
// from the account service's ContactCreated, ContactLinked and
// LeadConversionRejected events, in namespace ns.
func ConversionConsumer(ns string, svc *app.Service) *inbox.Consumer {
	return &inbox.Consumer{
		Name:   "lead-conversion",
		Stream: events.StreamName(ns, "account"),
		Subjects: []string{
			events.Subject(ns, "account", &eventsv1.ContactCreated{}),
			events.Subject(ns, "account", &eventsv1.ContactLinked{}),
			events.Subject(ns, "account", &eventsv1.LeadConversionRejected{}),
		},
		Handler: func(ctx context.Context, m inbox.Message) error { return handle(ctx, svc, m) },
	}
}

func handle(ctx context.Context, svc *app.Service, m inbox.Message) error {
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: Actor})
	switch protoreflect.FullName(m.Type) {
	case name(&eventsv1.ContactCreated{}):
		var ev eventsv1.ContactCreated
		if err := decode(m, &ev); err != nil {
			return err
		}
		return complete(ctx, svc, ev.GetSourceLeadId(), ev.GetContactId(), ev.GetMeta())
	case name(&eventsv1.ContactLinked{}):
		var ev eventsv1.ContactLinked
		if err := decode(m, &ev); err != nil {
			return err
		}
		return complete(ctx, svc, ev.GetSourceLeadId(), ev.GetContactId(), ev.GetMeta())
	case name(&eventsv1.LeadConversionRejected{}):
		var ev eventsv1.LeadConversionRejected
		if err := decode(m, &ev); err != nil {
			return err
		}
		lead, err1 := uuid.Parse(ev.GetLeadId())
		attempt, err2 := uuid.Parse(ev.GetQualifiedEventId())
		if err1 != nil || err2 != nil {
			return inbox.Permanent(fmt.Errorf("LeadConversionRejected with lead %q, attempt %q", ev.GetLeadId(), ev.GetQualifiedEventId()))
		}
		return svc.FailConversion(ctx, lead, attempt, ev.GetReason(), ev.GetMessage(), occurred(ev.GetMeta()))
	}
	return nil
}

func complete(ctx context.Context, svc *app.Service, leadID, contactID string, meta *eventsv1.EventMeta) error {
	if leadID == "" {
		return nil // not from a conversion
	}
	lead, err1 := uuid.Parse(leadID)
	contact, err2 := uuid.Parse(contactID)
	if err1 != nil || err2 != nil {
		return inbox.Permanent(fmt.Errorf("contact event with lead %q, contact %q", leadID, contactID))
	}
	return svc.CompleteConversion(ctx, lead, contact, occurred(meta))
}

func occurred(meta *eventsv1.EventMeta) time.Time {
	if t := meta.GetOccurTime(); t != nil {
		return t.AsTime().UTC()
	}
	return time.Now().UTC()
}

func decode(m inbox.Message, into proto.Message) error {
	if err := proto.Unmarshal(m.Data, into); err != nil {
		return inbox.Permanent(fmt.Errorf("decode %s: %w", m.Type, err))
	}
	return nil
}

func name(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }
