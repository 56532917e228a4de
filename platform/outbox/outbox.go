// Package outbox implements the transactional outbox: events are written to
// the service's outbox table in the same transaction as the change they
// announce, and a Relay publishes them to JetStream afterwards. A crash
// between commit and publish therefore loses nothing: the rows wait.
//
// Ordering: every write locks its aggregate's row before appending events,
// so for one aggregate the outbox id order is the commit order. The relay
// publishes in id order and never has two events of one aggregate in
// flight at once, so each aggregate's events reach the stream in order.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/pg"
)

// Message is one outbox row.
type Message struct {
	EventID     uuid.UUID
	Subject     string
	Type        string
	AggregateID string
	Payload     []byte
	// Headers to send along (W3C trace context).
	Headers map[string]string
}

// Resend makes m a resend of its event under message id id: JetStream
// takes it even within its duplicate window (a new Nats-Msg-Id), while
// consumers see the event's own id (the Crm-Event-Id header) and skip it
// if they applied it, so a resend makes nothing twice.
func Resend(m Message, id uuid.UUID) Message {
	h := make(map[string]string, len(m.Headers)+1)
	for k, v := range m.Headers {
		h[k] = v
	}
	h[events.HeaderEventID] = m.EventID.String()
	m.Headers, m.EventID = h, id
	return m
}

// Writer turns a service's event messages into outbox rows.
type Writer struct {
	// Service names the subject space: crm.<service>.*.
	Service string
	// Namespace prefixes subjects (tests); empty in production.
	Namespace string
}

// Message builds the outbox row for ev, an event message with a `meta`
// field (crm.events.v1.EventMeta) whose event id it reuses.
func (w Writer) Message(ctx context.Context, aggregateID string, ev proto.Message) (Message, error) {
	meta, err := events.MetaOf(ev)
	if err != nil {
		return Message{}, err
	}
	id, err := uuid.Parse(meta.GetEventId())
	if err != nil {
		return Message{}, fmt.Errorf("outbox: event id: %w", err)
	}
	payload, err := proto.Marshal(ev)
	if err != nil {
		return Message{}, fmt.Errorf("outbox: marshal %T: %w", ev, err)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	return Message{
		EventID:     id,
		Subject:     events.Subject(w.Namespace, w.Service, ev),
		Type:        string(ev.ProtoReflect().Descriptor().FullName()),
		AggregateID: aggregateID,
		Payload:     payload,
		Headers:     carrier,
	}, nil
}

const insertSQL = `INSERT INTO outbox (event_id, subject, event_type, aggregate_id, payload, headers)
VALUES ($1, $2, $3, $4, $5, $6)`

// Queue adds the inserts of msgs to a batch, for callers that send their
// change and its events in one round trip.
func Queue(b *pgx.Batch, msgs ...Message) {
	for _, m := range msgs {
		b.Queue(insertSQL, m.EventID, m.Subject, m.Type, m.AggregateID, m.Payload, headersJSON(m.Headers))
	}
}

// Append inserts msgs with q: call it inside the transaction that makes
// the change.
func Append(ctx context.Context, q pg.Querier, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	Queue(b, msgs...)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("outbox: append: %w", err)
	}
	return nil
}

func headersJSON(h map[string]string) []byte {
	if len(h) == 0 {
		return nil
	}
	b, _ := json.Marshal(h)
	return b
}
