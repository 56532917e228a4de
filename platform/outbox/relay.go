package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/tracing"
)

// Relay publishes outbox rows to JetStream and deletes them once acked.
//
// Several relays (one per replica) may run against one schema: each batch
// is read, published and deleted inside one transaction holding a
// transaction-scoped advisory lock, so one relay at a time owns the head of
// the outbox. A relay that dies mid-batch releases the lock with its
// connection; the next one publishes the same rows again with the same
// Nats-Msg-Id, which JetStream drops as duplicates (and consumers dedupe by
// event id beyond JetStream's window).
type Relay struct {
	Pool   *pgxpool.Pool
	JS     jetstream.JetStream
	Logger *slog.Logger
	// Stream is created or updated before the first publish.
	Stream jetstream.StreamConfig
	// BatchSize rows per transaction; default 500.
	BatchSize int
	// PollInterval between looks at an empty outbox; default 200ms. Kick
	// wakes the relay early.
	PollInterval time.Duration
	// MaxBackoff caps the wait between retries while NATS or Postgres is
	// down; default 5s.
	MaxBackoff time.Duration
	// TracerProvider traces each publish as a child of the span that
	// wrote the row (its trace context is stored with the row), and the
	// message carries the publish span's context on to the consumers.
	// Nil: no spans (the stored context is passed on as it is).
	TracerProvider trace.TracerProvider

	// afterPublish, when set (tests), runs after a batch was acked and
	// before its rows are deleted; an error aborts the batch there.
	afterPublish func() error

	kickOnce      sync.Once
	kick          chan struct{}
	streamEnsured bool
}

// Kick wakes the relay: call it after committing events for low latency.
// It never blocks.
func (r *Relay) Kick() {
	select {
	case r.kicks() <- struct{}{}:
	default:
	}
}

func (r *Relay) kicks() chan struct{} {
	r.kickOnce.Do(func() { r.kick = make(chan struct{}, 1) })
	return r.kick
}

// Run publishes until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	r.kicks()
	batch := r.BatchSize
	if batch <= 0 {
		batch = 500
	}
	poll := r.PollInterval
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	maxBackoff := r.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Second
	}
	backoff := 50 * time.Millisecond
	for {
		n, err := r.RelayOnce(ctx, batch)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		switch {
		case err != nil:
			publishFailuresTotal.Inc()
			r.Logger.WarnContext(ctx, "outbox relay: will retry", "error", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, maxBackoff)
		case n == batch:
			backoff = 50 * time.Millisecond
			continue
		default:
			backoff = 50 * time.Millisecond
			wait = poll
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.kicks():
		case <-time.After(wait):
		}
	}
}

type row struct {
	id          int64
	eventID     string
	subject     string
	eventType   string
	aggregateID string
	payload     []byte
	headers     []byte
	createdAt   time.Time
}

// RelayOnce publishes at most limit rows and reports how many it published.
// It publishes nothing when another relay holds the outbox.
func (r *Relay) RelayOnce(ctx context.Context, limit int) (int, error) {
	if !r.streamEnsured {
		if _, err := r.JS.CreateOrUpdateStream(ctx, r.Stream); err != nil {
			return 0, fmt.Errorf("ensure stream %s: %w", r.Stream.Name, err)
		}
		r.streamEnsured = true
	}
	tx, err := r.Pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext('outbox:' || current_schema()))`).Scan(&locked); err != nil {
		return 0, err
	}
	if !locked {
		return 0, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, event_id::text, subject, event_type, aggregate_id, payload, headers, created_at
		FROM outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return 0, err
	}
	var batch []row
	for rows.Next() {
		var rw row
		if err := rows.Scan(&rw.id, &rw.eventID, &rw.subject, &rw.eventType, &rw.aggregateID, &rw.payload, &rw.headers, &rw.createdAt); err != nil {
			return 0, err
		}
		batch = append(batch, rw)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		oldestAge.Set(0)
		return 0, tx.Commit(ctx)
	}
	oldestAge.Set(time.Since(batch[0].createdAt).Seconds())
	acked, pubErr := r.publish(ctx, batch)
	if pubErr == nil && r.afterPublish != nil {
		if err := r.afterPublish(); err != nil {
			return 0, err
		}
	}
	if len(acked) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, acked); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	publishedTotal.Add(float64(len(acked)))
	return len(acked), pubErr
}

// publish sends rows in waves: wave k holds the k-th pending event of each
// aggregate, so an aggregate never has two events in flight and a failure
// cannot let a later event overtake an earlier one. It returns the ids
// JetStream acked, and stops at the first wave with a failure.
func (r *Relay) publish(ctx context.Context, batch []row) ([]int64, error) {
	var waves [][]row
	seen := make(map[string]int, len(batch))
	for _, rw := range batch {
		k := seen[rw.aggregateID]
		seen[rw.aggregateID] = k + 1
		if k == len(waves) {
			waves = append(waves, nil)
		}
		waves[k] = append(waves[k], rw)
	}
	acked := make([]int64, 0, len(batch))
	tracer := r.tracer()
	for _, wave := range waves {
		futures := make([]jetstream.PubAckFuture, 0, len(wave))
		spans := make([]trace.Span, 0, len(wave))
		var failed error
		for _, rw := range wave {
			m := toNATS(rw)
			span := startPublish(ctx, tracer, rw, m)
			f, err := r.JS.PublishMsgAsync(m)
			if err != nil {
				endSpan(span, err)
				failed = err
				break
			}
			futures = append(futures, f)
			spans = append(spans, span)
		}
		for i, f := range futures {
			select {
			case <-f.Ok():
				endSpan(spans[i], nil)
				acked = append(acked, wave[i].id)
			case err := <-f.Err():
				endSpan(spans[i], err)
				failed = errors.Join(failed, err)
			case <-ctx.Done():
				for _, s := range spans[i:] {
					endSpan(s, ctx.Err())
				}
				return acked, ctx.Err()
			}
		}
		if failed != nil {
			return acked, fmt.Errorf("publish: %w", failed)
		}
	}
	return acked, nil
}

func (r *Relay) tracer() trace.Tracer {
	if r.TracerProvider == nil {
		return noop.Tracer{}
	}
	return r.TracerProvider.Tracer("github.com/crmsuite/crm/platform/outbox")
}

// startPublish starts the publish span of rw as a child of the context
// stored with the row, and puts the span's context into m's headers in
// place of the stored one. Without a tracer (or with tracing off) the
// stored context goes on unchanged.
func startPublish(ctx context.Context, tracer trace.Tracer, rw row, m *nats.Msg) trace.Span {
	if _, off := tracer.(noop.Tracer); off {
		return nil
	}
	ctx, span := tracer.Start(tracing.Extract(ctx, m.Header), "publish "+rw.subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", rw.subject),
			attribute.String("messaging.message.id", rw.eventID),
			attribute.String("crm.event.type", rw.eventType),
			attribute.String("crm.aggregate.id", rw.aggregateID),
		))
	if span.SpanContext().IsValid() {
		tracing.Inject(ctx, m.Header)
	}
	return span
}

func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	span.End()
}

func toNATS(rw row) *nats.Msg {
	m := nats.NewMsg(rw.subject)
	m.Data = rw.payload
	if len(rw.headers) > 0 {
		var h map[string]string
		if json.Unmarshal(rw.headers, &h) == nil {
			for k, v := range h {
				m.Header.Set(k, v)
			}
		}
	}
	m.Header.Set(events.HeaderMsgID, rw.eventID)
	m.Header.Set(events.HeaderType, rw.eventType)
	m.Header.Set(events.HeaderAggregate, rw.aggregateID)
	return m
}
