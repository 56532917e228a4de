// Package timer is the suite's one durable-timer engine: per-record timers
// (renewal due, term end, task overdue, reminders, SLA warnings and
// breaches, time triggers) kept as rows of the service's own `timers`
// table, keyed by (purpose, key), e.g. ("contract.renewal_due", contract id).
//
// Set and Cancel write with the caller's Querier, so a timer is armed,
// rescheduled or cancelled in the same transaction as the change that
// decides it: a rolled-back change leaves no timer behind.
//
// An Engine fires due timers exactly once across replicas. In one
// transaction it claims up to BatchSize due rows with FOR UPDATE SKIP
// LOCKED, runs each purpose's handler in that transaction and deletes the
// rows it fired. The claim has no lower bound on due_at, so timers that fell
// due while every replica was down fire late, but fire. The row locks are
// the claim: a process killed before commit releases them with its
// connection and its effects roll back, and the next pass of any replica
// fires those timers at once. Handlers need not be idempotent, but must
// keep their effects in the transaction (rows, outbox events): a handler
// may run and be rolled back.
//
// When a handler fails its batch is rolled back and its timers are fired
// one per transaction, so that one poison timer holds up no other; the
// failing one is retried with backoff and, after MaxAttempts, marked failed
// and left for operators.
//
// Why not riverqueue/river: River commits a job's running state when it
// fetches it, so after a kill -9 mid-job the job waits for the rescuer
// (RescueStuckJobsAfter, an hour by default) and then runs again: twice in
// effect, unless every effect is idempotent. Its jobs are not keyed by
// (purpose, record), so rescheduling or cancelling one in the caller's
// transaction needs a side table; and it runs one transaction per job where
// this engine fires a batch per transaction.
package timer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/pg"
)

// Timer is one timer row.
type Timer struct {
	Purpose string
	Key     string
	DueAt   time.Time
	Payload []byte
	// Attempts that failed since the timer was last Set.
	Attempts int
	// LastError is the reason of the last failed attempt.
	LastError string
	// FailedAt is when the timer was given up (zero while it is live).
	FailedAt time.Time

	version int64
}

// Every Set takes a new version (the identity's next value, via excluded),
// even when it reuses the row: the engine deletes a fired row only if it
// still has the version it claimed.
const setSQL = `INSERT INTO timers (purpose, key, due_at, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (purpose, key) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload,
	version = excluded.version, attempts = 0, last_error = NULL, failed_at = NULL, updated_at = now()`

const cancelSQL = `DELETE FROM timers WHERE purpose = $1 AND key = $2`

// Set arms the timer (purpose, key) to fire at due with payload; an
// existing one, failed or not, is rescheduled (new due time and payload,
// attempts reset). Call it with the transaction of the change that decides
// the timer. Services call their Engine's Kick after commit when due is
// sooner than its PollInterval.
func Set(ctx context.Context, q pg.Querier, purpose, key string, due time.Time, payload []byte) error {
	if _, err := q.Exec(ctx, setSQL, purpose, key, due.UTC(), payload); err != nil {
		return fmt.Errorf("timer: set %s %s: %w", purpose, key, err)
	}
	return nil
}

// Cancel deletes the timer (purpose, key), if there is one.
func Cancel(ctx context.Context, q pg.Querier, purpose, key string) error {
	if _, err := q.Exec(ctx, cancelSQL, purpose, key); err != nil {
		return fmt.Errorf("timer: cancel %s %s: %w", purpose, key, err)
	}
	return nil
}

// QueueSet adds Set to a batch, for callers that send their change in one
// round trip.
func QueueSet(b *pgx.Batch, purpose, key string, due time.Time, payload []byte) {
	b.Queue(setSQL, purpose, key, due.UTC(), payload)
}

const setAllSQL = `INSERT INTO timers (purpose, key, due_at, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[])
ON CONFLICT (purpose, key) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload,
	version = excluded.version, attempts = 0, last_error = NULL, failed_at = NULL, updated_at = now()`

// QueueSetAll adds Set of every timer of ts (Purpose, Key, DueAt and
// Payload) to a batch as one statement, for callers that arm many at once;
// of two with the same purpose and key, the later wins.
func QueueSetAll(b *pgx.Batch, ts []Timer) {
	if len(ts) == 0 {
		return
	}
	at := make(map[[2]string]int, len(ts))
	var purposes, keys []string
	var dues []time.Time
	var payloads [][]byte
	for _, t := range ts {
		k := [2]string{t.Purpose, t.Key}
		if i, ok := at[k]; ok {
			dues[i], payloads[i] = t.DueAt.UTC(), t.Payload
			continue
		}
		at[k] = len(keys)
		purposes, keys, dues, payloads = append(purposes, t.Purpose), append(keys, t.Key), append(dues, t.DueAt.UTC()), append(payloads, t.Payload)
	}
	b.Queue(setAllSQL, purposes, keys, dues, payloads)
}

// QueueCancel adds Cancel to a batch.
func QueueCancel(b *pgx.Batch, purpose, key string) {
	b.Queue(cancelSQL, purpose, key)
}

const columns = `purpose, key, due_at, payload, attempts, coalesce(last_error, ''), failed_at, version`

func scan(row pgx.Row) (Timer, error) {
	var t Timer
	var failed *time.Time
	if err := row.Scan(&t.Purpose, &t.Key, &t.DueAt, &t.Payload, &t.Attempts, &t.LastError, &failed, &t.version); err != nil {
		return Timer{}, err
	}
	t.DueAt = t.DueAt.UTC()
	if failed != nil {
		t.FailedAt = failed.UTC()
	}
	return t, nil
}

// Get reads the timer (purpose, key), for tests and inspection.
func Get(ctx context.Context, q pg.Querier, purpose, key string) (Timer, bool, error) {
	t, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM timers WHERE purpose = $1 AND key = $2`, purpose, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Timer{}, false, nil
	}
	if err != nil {
		return Timer{}, false, fmt.Errorf("timer: get %s %s: %w", purpose, key, err)
	}
	return t, true, nil
}
