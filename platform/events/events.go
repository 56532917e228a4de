// Package events holds the conventions every event follows: the EventMeta
// envelope, subject names and NATS headers.
package events

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/auth"
)

// Header names on every event message.
const (
	// HeaderType is the event message's full proto name.
	HeaderType = "Crm-Event-Type"
	// HeaderMsgID is JetStream's de-duplication header; we set it to the
	// event id.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderAggregate is the id of the record the event is about;
	// consumers keep the order of one aggregate's events.
	HeaderAggregate = "Crm-Aggregate-Id"
	// HeaderEventID is the event's id on a resend (outbox.Resend), whose
	// Nats-Msg-Id is new so JetStream takes it: consumers dedupe by it.
	HeaderEventID = "Crm-Event-Id"
)

// NewMeta returns the envelope for an event caused by the request in ctx.
func NewMeta(ctx context.Context, requestID string, now time.Time) *eventsv1.EventMeta {
	return &eventsv1.EventMeta{
		EventId:   uuid.Must(uuid.NewV7()).String(),
		OccurTime: timestamppb.New(now),
		Actor:     auth.Actor(ctx),
		RequestId: requestID,
	}
}

// MetaOf returns the `meta` field of an event message.
func MetaOf(ev proto.Message) (*eventsv1.EventMeta, error) {
	m := ev.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("meta")
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.Message().FullName() != (&eventsv1.EventMeta{}).ProtoReflect().Descriptor().FullName() {
		return nil, fmt.Errorf("events: %s has no meta field", m.Descriptor().FullName())
	}
	meta, ok := m.Get(fd).Message().Interface().(*eventsv1.EventMeta)
	if !ok || meta.GetEventId() == "" {
		return nil, fmt.Errorf("events: %s has no event id", m.Descriptor().FullName())
	}
	return meta, nil
}

// Subject is where an event of a service is published:
// `<namespace>crm.<service>.<event_name_in_snake_case>`. The namespace is
// empty in production; tests sharing a NATS server use it to keep apart.
func Subject(namespace, service string, ev proto.Message) string {
	return namespace + "crm." + service + "." + snake(string(ev.ProtoReflect().Descriptor().Name()))
}

// StreamName is the JetStream stream holding a service's events.
func StreamName(namespace, service string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(namespace + "crm_" + service))
}

// StreamSubjects are the subjects of a service's stream.
func StreamSubjects(namespace, service string) []string {
	return []string{namespace + "crm." + service + ".>"}
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// renewalNamespace names the renewal opportunities' ids (UUID v5).
var renewalNamespace = uuid.MustParse("6f1c2b4e-5d0a-4c8e-9b7a-3e2f1d0c9b8a")

// RenewalOpportunityID is the id of the opportunity that renews term of
// contract: the order service names it in ContractRenewalDue and the
// opportunity service opens it with this id, so a redelivered or repeated
// event never opens a second one, and neither service asks the other.
func RenewalOpportunityID(contract uuid.UUID, term int) uuid.UUID {
	return uuid.NewSHA1(renewalNamespace, fmt.Appendf(nil, "contract-renewal/%s/%d", contract, term))
}

// leadActivityNamespace names the event ids of exported lead activities
// (UUID v5).
var leadActivityNamespace = uuid.MustParse("2b7e9c41-0f6d-4a3b-8e15-7c9d2a4f6b30")

// LeadActivityEventID is the event id of the LeadActivityLogged that
// carries lead activity activity over to the workflow service: the same
// on every export, so exporting again publishes nothing new (JetStream
// drops it within its duplicate window, the consumers' inboxes after).
func LeadActivityEventID(activity uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(leadActivityNamespace, fmt.Appendf(nil, "lead-activity/%s", activity))
}
