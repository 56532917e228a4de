// Package inbox consumes events idempotently: a durable JetStream pull
// consumer whose handler runs in a Postgres transaction together with the
// record that the event was processed. A redelivered or duplicated event
// finds its record and changes nothing.
//
// Failures are retried with backoff up to MaxDeliver deliveries; after that,
// or at once for a Permanent error, the message goes to the dead-letter
// subject `<namespace>crm.dlq.<consumer>` (stream CRM_DLQ) with the reason in
// its headers, and is terminated.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/tracing"
)

// Dead-letter headers, added to the original message's headers.
const (
	HeaderDLQReason          = "Crm-Dlq-Reason"
	HeaderDLQConsumer        = "Crm-Dlq-Consumer"
	HeaderDLQOriginalSubject = "Crm-Dlq-Original-Subject"
	HeaderDLQDeliveries      = "Crm-Dlq-Deliveries"
)

// Message is an event as the handler sees it.
type Message struct {
	EventID      string
	Subject      string
	Type         string
	Data         []byte
	Header       nats.Header
	NumDelivered uint64
	// StreamSequence is the message's position in its stream.
	StreamSequence uint64
}

// Handler applies an event. It runs inside a transaction carried by ctx
// (use pg.Q(ctx, pool)); returning an error rolls the effect back.
type Handler func(ctx context.Context, m Message) error

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// errAlreadyApplied rolls back the (empty) transaction of a duplicate.
var errAlreadyApplied = errors.New("event already applied")

// Permanent marks an error that no retry can fix (a malformed event, a
// reference that cannot exist): the message goes to the dead-letter subject
// at once.
func Permanent(err error) error { return permanentError{err} }

// Consumer is a durable, idempotent event consumer.
type Consumer struct {
	// Name of the durable consumer and of the inbox records.
	Name string
	// Stream to consume and the subjects within it.
	Stream   string
	Subjects []string
	// Namespace prefixes the dead-letter subject and stream (tests).
	Namespace string
	// Replicas of the dead-letter stream the consumer ensures (the
	// service's NATS_STREAM_REPLICAS); 0 means 1. The durable consumer
	// takes its stream's.
	Replicas int

	Pool    *pgxpool.Pool
	JS      jetstream.JetStream
	Logger  *slog.Logger
	Handler Handler
	// BatchHandler, when set instead of Handler, applies the events of a
	// batch (see Batch) at once, in order, in the transaction ctx
	// carries: fewer round trips for events that make alike records. It
	// sets each event's audit cause itself (EventContext). A batch it
	// fails is applied again one event at a time.
	BatchHandler func(ctx context.Context, ms []Message) error

	// MaxDeliver deliveries before dead-lettering; default 5.
	MaxDeliver int
	// Backoff between redeliveries, by attempt; the last one repeats.
	// Default 1s, 5s, 30s, 2m.
	Backoff []time.Duration
	// AckWait before an unacknowledged message is redelivered; default 30s.
	AckWait time.Duration
	// Workers apply events concurrently, each in its own transaction;
	// default 1. Events of one aggregate (header Crm-Aggregate-Id) always
	// go to the same worker, so they are applied in stream order.
	Workers int
	// Batch is how many queued events a worker applies in one transaction
	// (default 1): fewer commits and round trips under load. A batch whose
	// handler fails is rolled back and applied again one event at a time,
	// so a failing event is retried, or dead-lettered, alone.
	Batch int
	// Applied, if set, runs after an event's effect committed (e.g. to wake
	// the outbox relay for the events the handler wrote).
	Applied func()
	// TracerProvider traces each event's processing as a child of the
	// publish span its message carries (see Process). Nil: no spans.
	TracerProvider trace.TracerProvider
	// OnDeadLetter, if set, runs after a message was dead-lettered, in its
	// own transaction, e.g. to record a failed conversion. It must be
	// idempotent: when it fails, the message is redelivered, dead-lettered
	// again and the hook runs again.
	OnDeadLetter func(ctx context.Context, m Message, reason string) error
}

// DeadLetterSubject is where the consumer's poison messages go.
func (c *Consumer) DeadLetterSubject() string {
	return c.Namespace + "crm.dlq." + c.Name
}

// DeadLetterStream is the stream holding every consumer's dead letters.
func DeadLetterStream(namespace string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:     events.StreamName(namespace, "dlq"),
		Subjects: []string{namespace + "crm.dlq.>"},
		Storage:  jetstream.FileStorage,
		MaxAge:   30 * 24 * time.Hour,
	}
}

func (c *Consumer) defaults() {
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Batch <= 0 {
		c.Batch = 1
	}
}

// Run consumes until ctx ends, reconnecting while NATS is away.
func (c *Consumer) Run(ctx context.Context) error {
	c.defaults()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.Logger.WarnContext(ctx, "inbox consumer: will retry", "consumer", c.Name, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (c *Consumer) consume(ctx context.Context) error {
	dlq := DeadLetterStream(c.Namespace)
	dlq.Replicas = c.Replicas
	if _, err := c.JS.CreateOrUpdateStream(ctx, dlq); err != nil {
		return fmt.Errorf("ensure dead-letter stream: %w", err)
	}
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:        c.Name,
		FilterSubjects: c.Subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		// We dead-letter at MaxDeliver ourselves; the server's limit is a
		// backstop for a handler that crashes the process every time.
		MaxDeliver:    c.MaxDeliver + 2,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("ensure consumer %s: %w", c.Name, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	queues := make([]chan jetstream.Msg, c.Workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan jetstream.Msg, 16)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range queues[i] {
				batch := []jetstream.Msg{msg}
			drain:
				for len(batch) < c.Batch {
					select {
					case m, ok := <-queues[i]:
						if !ok {
							break drain
						}
						batch = append(batch, m)
					default:
						break drain
					}
				}
				c.processBatch(ctx, batch)
			}
		}()
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		queues[worker(msg, c.Workers)] <- msg
	}
}

// worker picks the queue of a message: by aggregate, so that one
// aggregate's events keep their order; by event id when the publisher did
// not say.
func worker(msg jetstream.Msg, n int) int {
	if n == 1 {
		return 0
	}
	key := msg.Headers().Get(events.HeaderAggregate)
	if key == "" {
		key = msg.Headers().Get(events.HeaderMsgID)
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Process applies one delivered message and acknowledges it as its outcome
// says: ack, delayed nak, or dead-letter and term.
//
// Its span ("process <subject>") is a child of the trace context in the
// message's headers, the relay's publish span, itself a child of the span
// that wrote the event to the outbox: a flow that crosses services through
// events (a lead's conversion) is one trace. (OpenTelemetry's messaging
// conventions also allow a new trace linked to the producer's; we choose
// the parent, so that a conversion reads as one tree.) What the handler
// writes to the outbox carries this span's context on.
func (c *Consumer) Process(ctx context.Context, msg jetstream.Msg) {
	c.defaults()
	m := MessageOf(msg)
	ctx, span := c.startProcess(ctx, m)
	defer span.End()
	log := c.Logger.With("consumer", c.Name, "subject", m.Subject, "event_id", m.EventID, "delivery", m.NumDelivered)

	var err error
	switch {
	case m.NumDelivered > uint64(c.MaxDeliver):
		err = Permanent(fmt.Errorf("gave up after %d deliveries without an outcome", m.NumDelivered-1))
	case uuid.Validate(m.EventID) != nil:
		err = Permanent(fmt.Errorf("missing or malformed %s header %q", events.HeaderMsgID, m.EventID))
	default:
		err = c.apply(ctx, m)
	}
	if errors.Is(err, errAlreadyApplied) {
		processedTotal.WithLabelValues(c.Name, "duplicate").Inc()
		span.SetAttributes(attribute.Bool("crm.inbox.duplicate", true))
		err = nil
	} else if err == nil {
		processedTotal.WithLabelValues(c.Name, "applied").Inc()
		if c.Applied != nil {
			c.Applied()
		}
	}
	if err == nil {
		if ackErr := msg.Ack(); ackErr != nil {
			log.WarnContext(ctx, "ack failed; the event will be redelivered and skipped", "error", ackErr)
		}
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, "event failed")
	var perm permanentError
	if errors.As(err, &perm) || m.NumDelivered >= uint64(c.MaxDeliver) {
		span.SetAttributes(attribute.Bool("crm.inbox.dead_lettered", true))
		c.deadLetter(ctx, log, msg, m, err)
		return
	}
	processedTotal.WithLabelValues(c.Name, "retry").Inc()
	delay := c.Backoff[min(int(m.NumDelivered), len(c.Backoff))-1]
	log.WarnContext(ctx, "event failed; will redeliver", "error", err, "retry_in", delay)
	_ = msg.NakWithDelay(delay)
}

// processBatch applies msgs (one worker's, in order) in one transaction
// and acknowledges them; when that fails it processes each on its own.
func (c *Consumer) processBatch(ctx context.Context, msgs []jetstream.Msg) {
	if len(msgs) == 1 {
		c.Process(ctx, msgs[0])
		return
	}
	ms := make([]Message, len(msgs))
	for i, msg := range msgs {
		ms[i] = MessageOf(msg)
		// First deliveries with a good id only: anything else takes the
		// careful path.
		if ms[i].NumDelivered != 1 || uuid.Validate(ms[i].EventID) != nil {
			for _, msg := range msgs {
				c.Process(ctx, msg)
			}
			return
		}
	}
	// The batch's transaction is traced as a child of its first event's
	// context, linked to every event's; each event's handler runs in a
	// span of its own under that event's context (handle), so its effects
	// stay in its own trace.
	ctx, span := c.startBatch(ctx, ms)
	defer span.End()
	var applied, duplicates int
	err := pg.InTx(ctx, c.Pool, func(ctx context.Context) error {
		subjects, ids := make([]string, len(ms)), make([]string, len(ms))
		for i, m := range ms {
			subjects[i], ids[i] = m.Subject, m.EventID
		}
		rows, err := pg.Q(ctx, c.Pool).Query(ctx, `INSERT INTO inbox (consumer, event_id, subject)
			SELECT $1, e.id::uuid, e.subject FROM unnest($2::text[], $3::text[]) AS e(id, subject)
			ON CONFLICT DO NOTHING RETURNING event_id::text`, c.Name, ids, subjects)
		if err != nil {
			return err
		}
		fresh := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			fresh[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var todo []Message
		for _, m := range ms {
			if !fresh[m.EventID] {
				duplicates++
				continue
			}
			// An event id twice in one batch is applied once.
			delete(fresh, m.EventID)
			todo = append(todo, m)
		}
		applied = len(todo)
		return c.handle(ctx, todo, true)
	})
	if err != nil {
		span.SetStatus(codes.Error, "batch rolled back")
		c.Logger.DebugContext(ctx, "inbox batch rolled back; applying its events one by one", "consumer", c.Name, "size", len(msgs), "error", err)
		for _, msg := range msgs {
			c.Process(ctx, msg)
		}
		return
	}
	processedTotal.WithLabelValues(c.Name, "applied").Add(float64(applied))
	processedTotal.WithLabelValues(c.Name, "duplicate").Add(float64(duplicates))
	if applied > 0 && c.Applied != nil {
		c.Applied()
	}
	for _, msg := range msgs {
		if err := msg.Ack(); err != nil {
			c.Logger.WarnContext(ctx, "ack failed; the event will be redelivered and skipped", "consumer", c.Name, "error", err)
		}
	}
}

// MessageOf is the handler's view of a delivered message.
func MessageOf(msg jetstream.Msg) Message {
	id := msg.Headers().Get(events.HeaderEventID) // a resend's event
	if id == "" {
		id = msg.Headers().Get(events.HeaderMsgID)
	}
	m := Message{
		EventID: id,
		Subject: msg.Subject(),
		Type:    msg.Headers().Get(events.HeaderType),
		Data:    msg.Data(),
		Header:  msg.Headers(),
	}
	if md, err := msg.Metadata(); err == nil {
		m.NumDelivered = md.NumDelivered
		m.StreamSequence = md.Sequence.Stream
	}
	return m
}

func (c *Consumer) apply(ctx context.Context, m Message) error {
	return pg.InTx(ctx, c.Pool, func(ctx context.Context) error {
		tag, err := pg.Q(ctx, c.Pool).Exec(ctx,
			`INSERT INTO inbox (consumer, event_id, subject) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			c.Name, m.EventID, m.Subject)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errAlreadyApplied
		}
		return c.handle(ctx, []Message{m}, false)
	})
}

// handle applies ms with the batch handler, or the handler one by one;
// spans, when set, traces each handler call under its event's context.
func (c *Consumer) handle(ctx context.Context, ms []Message, spans bool) error {
	if len(ms) == 0 {
		return nil
	}
	if c.BatchHandler != nil {
		return c.BatchHandler(ctx, ms)
	}
	for _, m := range ms {
		if err := c.handleOne(ctx, m, spans); err != nil {
			return err
		}
	}
	return nil
}

func (c *Consumer) handleOne(ctx context.Context, m Message, traced bool) error {
	if traced {
		var span trace.Span
		ctx, span = c.startProcess(ctx, m, trace.WithLinks(trace.LinkFromContext(ctx)))
		defer span.End()
		err := c.Handler(EventContext(ctx, m), m)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "event failed")
		}
		return err
	}
	return c.Handler(EventContext(ctx, m), m)
}

func (c *Consumer) tracer() trace.Tracer {
	if c.TracerProvider == nil {
		return noop.Tracer{}
	}
	return c.TracerProvider.Tracer("github.com/crmsuite/crm/platform/inbox")
}

// startProcess starts the span processing m, a child of the trace context
// in m's headers (or of ctx's span when they carry none).
func (c *Consumer) startProcess(ctx context.Context, m Message, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	tracer := c.tracer()
	if _, off := tracer.(noop.Tracer); off {
		// Pass the message's context on all the same (to the outbox rows
		// and calls the handler makes), as the no-op span would.
		return tracing.Extract(ctx, m.Header), trace.SpanFromContext(context.Background()) // the no-op span
	}
	opts = append(opts, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", m.Subject),
		attribute.String("messaging.consumer.group.name", c.Name),
		attribute.String("messaging.message.id", m.EventID),
		attribute.Int64("messaging.message.delivery_count", int64(m.NumDelivered)),
		attribute.String("crm.event.type", m.Type),
	))
	return tracer.Start(tracing.Extract(ctx, m.Header), "process "+m.Subject, opts...)
}

// startBatch starts the span of a batch's transaction: a child of the
// first event's context, linked to each event's.
func (c *Consumer) startBatch(ctx context.Context, ms []Message) (context.Context, trace.Span) {
	tracer := c.tracer()
	if _, off := tracer.(noop.Tracer); off {
		return ctx, trace.SpanFromContext(context.Background()) // the no-op span
	}
	links := make([]trace.Link, 0, len(ms))
	for _, m := range ms {
		if sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), m.Header)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return tracer.Start(tracing.Extract(ctx, ms[0].Header), "process "+c.Name,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.consumer.group.name", c.Name),
			attribute.Int("messaging.batch.message_count", len(ms)),
		))
}

// EventContext is ctx with m as the cause of the changes applied for it
// (the audit trail's method and actor).
func EventContext(ctx context.Context, m Message) context.Context {
	return audit.WithEvent(ctx, m.Type, actorOf(m))
}

func (c *Consumer) deadLetter(ctx context.Context, log *slog.Logger, msg jetstream.Msg, m Message, cause error) {
	dl := nats.NewMsg(c.DeadLetterSubject())
	dl.Data = m.Data
	for k, vs := range m.Header {
		for _, v := range vs {
			dl.Header.Add(k, v)
		}
	}
	reason := cause.Error()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	dl.Header.Set(HeaderDLQReason, reason)
	dl.Header.Set(HeaderDLQConsumer, c.Name)
	dl.Header.Set(HeaderDLQOriginalSubject, m.Subject)
	dl.Header.Set(HeaderDLQDeliveries, strconv.FormatUint(m.NumDelivered, 10))
	// One dead letter per consumer and message, however often we get here.
	dl.Header.Set(events.HeaderMsgID, fmt.Sprintf("%s:%d:%s", c.Name, m.StreamSequence, m.EventID))
	if _, err := c.JS.PublishMsg(ctx, dl); err != nil {
		log.ErrorContext(ctx, "dead-letter publish failed; will redeliver", "error", err)
		_ = msg.NakWithDelay(c.Backoff[len(c.Backoff)-1])
		return
	}
	processedTotal.WithLabelValues(c.Name, "dead_letter").Inc()
	log.ErrorContext(ctx, "event dead-lettered", "reason", reason, "dead_letter_subject", dl.Subject)
	if c.OnDeadLetter != nil {
		if err := pg.InTx(ctx, c.Pool, func(ctx context.Context) error { return c.OnDeadLetter(ctx, m, reason) }); err != nil {
			// Redelivered, it is dead-lettered again (the dead letter is
			// deduplicated by its id) and the hook gets another go.
			log.ErrorContext(ctx, "dead-letter hook failed; will redeliver", "error", err)
			_ = msg.NakWithDelay(c.Backoff[len(c.Backoff)-1])
			return
		}
	}
	_ = msg.TermWithReason("dead-lettered: " + reason)
}

// actorOf reads who caused an event from its meta, for the audit trail of
// the changes the consumer applies; "" when the type is unknown here.
func actorOf(m Message) string {
	t, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m.Type))
	if err != nil {
		return ""
	}
	ev := t.New().Interface()
	if err := proto.Unmarshal(m.Data, ev); err != nil {
		return ""
	}
	meta, err := events.MetaOf(ev)
	if err != nil {
		return ""
	}
	return meta.GetActor()
}
