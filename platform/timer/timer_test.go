package timer_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/timer"
)

func TestMain(m *testing.M) { testkit.Main(m) }

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// setup returns a pool on a fresh svc schema with an effects table, where
// the record handler counts every firing that committed.
func setup(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := testkit.Pool(t, "svc")
	if _, err := pool.Exec(context.Background(), `CREATE TABLE effects (
		purpose text NOT NULL, key text NOT NULL, n int NOT NULL DEFAULT 1,
		fired_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (purpose, key))`); err != nil {
		t.Fatal(err)
	}
	return pool
}

// record is a handler whose one effect is an effects row in the firing
// transaction; a second firing of a key would count n up.
func record(pool *pgxpool.Pool) timer.Handler {
	return func(ctx context.Context, t timer.Timer) error {
		_, err := pg.Q(ctx, pool).Exec(ctx, `INSERT INTO effects (purpose, key) VALUES ($1, $2)
			ON CONFLICT (purpose, key) DO UPDATE SET n = effects.n + 1`, t.Purpose, t.Key)
		return err
	}
}

func set(t *testing.T, pool *pgxpool.Pool, purpose, key string, due time.Time, payload []byte) {
	t.Helper()
	if err := timer.Set(context.Background(), pool, purpose, key, due, payload); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, pool *pgxpool.Pool, purpose, key string) (timer.Timer, bool) {
	t.Helper()
	tm, ok, err := timer.Get(context.Background(), pool, purpose, key)
	if err != nil {
		t.Fatal(err)
	}
	return tm, ok
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// effects is how often key fired (0: never; more than 1: a double firing).
func effects(t *testing.T, pool *pgxpool.Pool, purpose, key string) int {
	t.Helper()
	return count(t, pool, `SELECT coalesce(sum(n), 0) FROM effects WHERE purpose = $1 AND key = $2`, purpose, key)
}

func TestSetReschedulesAndCancelDeletes(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	due := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))

	set(t, pool, "contract.renewal_due", "c1", due, []byte("one"))
	tm, ok := get(t, pool, "contract.renewal_due", "c1")
	if !ok || !tm.DueAt.Equal(due) || tm.DueAt.Location() != time.UTC || string(tm.Payload) != "one" || tm.Attempts != 0 {
		t.Fatalf("after Set: %+v, %v", tm, ok)
	}

	// A failed timer that is Set again is live again, with attempts reset.
	if _, err := pool.Exec(ctx, `UPDATE timers SET attempts = 4, last_error = 'boom', failed_at = now()`); err != nil {
		t.Fatal(err)
	}
	later := due.Add(24 * time.Hour)
	set(t, pool, "contract.renewal_due", "c1", later, []byte("two"))
	tm, _ = get(t, pool, "contract.renewal_due", "c1")
	if !tm.DueAt.Equal(later) || string(tm.Payload) != "two" || tm.Attempts != 0 || tm.LastError != "" || !tm.FailedAt.IsZero() {
		t.Fatalf("after reschedule: %+v", tm)
	}
	if n := count(t, pool, `SELECT count(*) FROM timers`); n != 1 {
		t.Fatalf("%d timers, want 1", n)
	}

	for range 2 { // the second Cancel finds nothing, and that is fine
		if err := timer.Cancel(ctx, pool, "contract.renewal_due", "c1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := get(t, pool, "contract.renewal_due", "c1"); ok {
		t.Fatal("timer still there after Cancel")
	}

	// Batched, as callers that send their change in one round trip do.
	b := &pgx.Batch{}
	timer.QueueSet(b, "task.overdue", "t1", due, nil)
	timer.QueueSet(b, "task.overdue", "t2", due, nil)
	timer.QueueCancel(b, "task.overdue", "t1")
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, pool, "task.overdue", "t1"); ok {
		t.Fatal("t1 cancelled in the batch is there")
	}
	if tm, ok := get(t, pool, "task.overdue", "t2"); !ok || tm.Payload != nil {
		t.Fatalf("t2 = %+v, %v", tm, ok)
	}
}

func TestTimerSetInRolledBackTransactionDoesNotExist(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	boom := errors.New("boom")
	err := pg.InTx(context.Background(), pool, func(ctx context.Context) error {
		if err := timer.Set(ctx, pg.Q(ctx, pool), "task.overdue", "t1", time.Now(), nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, ok := get(t, pool, "task.overdue", "t1"); ok {
		t.Fatal("timer of a rolled-back transaction exists")
	}
}
