// Package events is the lead service's inbound event port: it follows the
// account, opportunity and order services' events to see conversions
// complete or fail, and the workflow service's activity events for the
// leads' last activity time.
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

// Actor recorded on leads changed by the other services' answers.
const Actor = "service:conversion"

// ConversionConsumers return the durable consumers that settle
// conversions: one on the account service's stream (ContactCreated,
// ContactLinked, LeadConversionRejected), one on the opportunity
// service's (OpportunityCreated, LeadConversionRejected), one on the order service's
// (OrderCreated, LeadConversionRejected), in namespace ns.
func ConversionConsumers(ns string, svc *app.Service) []*inbox.Consumer {
	h := func(ctx context.Context, m inbox.Message) error { return handle(ctx, svc, m) }
	return []*inbox.Consumer{{
		Name:   "lead-conversion",
		Stream: events.StreamName(ns, "account"),
		Subjects: []string{
			events.Subject(ns, "account", &eventsv1.ContactCreated{}),
			events.Subject(ns, "account", &eventsv1.ContactLinked{}),
			events.Subject(ns, "account", &eventsv1.LeadConversionRejected{}),
		},
		Handler: h,
	}, {
		Name:   "lead-conversion-opportunity",
		Stream: events.StreamName(ns, "opportunity"),
		Subjects: []string{
			events.Subject(ns, "opportunity", &eventsv1.OpportunityCreated{}),
			events.Subject(ns, "opportunity", &eventsv1.LeadConversionRejected{}),
		},
		Handler: h,
	}, {
		Name:   "lead-conversion-order",
		Stream: events.StreamName(ns, "order"),
		Subjects: []string{
			events.Subject(ns, "order", &eventsv1.OrderCreated{}),
			events.Subject(ns, "order", &eventsv1.LeadConversionRejected{}),
		},
		Handler: h,
	}}
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
	case name(&eventsv1.OpportunityCreated{}):
		var ev eventsv1.OpportunityCreated
		if err := decode(m, &ev); err != nil {
			return err
		}
		if ev.GetSourceLeadId() == "" {
			return nil // not from a conversion
		}
		lead, err1 := uuid.Parse(ev.GetSourceLeadId())
		opp, err2 := uuid.Parse(ev.GetOpportunityId())
		if err1 != nil || err2 != nil {
			return inbox.Permanent(fmt.Errorf("OpportunityCreated with lead %q, opportunity %q", ev.GetSourceLeadId(), ev.GetOpportunityId()))
		}
		return svc.OpportunityApplied(ctx, lead, opp, occurred(ev.GetMeta()))
	case name(&eventsv1.OrderCreated{}):
		var ev eventsv1.OrderCreated
		if err := decode(m, &ev); err != nil {
			return err
		}
		if ev.GetSourceLeadId() == "" {
			return nil // not from a conversion
		}
		lead, err1 := uuid.Parse(ev.GetSourceLeadId())
		order, err2 := uuid.Parse(ev.GetOrderId())
		if err1 != nil || err2 != nil {
			return inbox.Permanent(fmt.Errorf("OrderCreated with lead %q, order %q", ev.GetSourceLeadId(), ev.GetOrderId()))
		}
		return svc.OrderApplied(ctx, lead, order, occurred(ev.GetMeta()))
	case name(&eventsv1.LeadConversionRejected{}):
		// From the account or the order service: either refusal fails
		// the attempt it names.
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
	return svc.ContactApplied(ctx, lead, contact, occurred(meta))
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
