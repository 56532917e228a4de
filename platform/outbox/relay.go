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

	"github.com/crmsuite/crm/platform/events"
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
	for _, wave := range waves {
		futures := make([]jetstream.PubAckFuture, 0, len(wave))
		var failed error
		for _, rw := range wave {
			f, err := r.JS.PublishMsgAsync(toNATS(rw))
			if err != nil {
				failed = err
				break
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			select {
			case <-f.Ok():
				acked = append(acked, wave[i].id)
			case err := <-f.Err():
				failed = errors.Join(failed, err)
			case <-ctx.Done():
				return acked, ctx.Err()
			}
		}
		if failed != nil {
			return acked, fmt.Errorf("publish: %w", failed)
		}
	}
	return acked, nil
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
