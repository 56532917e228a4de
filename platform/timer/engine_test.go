package timer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/timer"
)

func run(t *testing.T, e *timer.Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestTwoEnginesFireEachTimerExactlyOnce(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	const n = 2000
	b := &pgx.Batch{}
	now := time.Now()
	for i := range n {
		timer.QueueSet(b, "task.overdue", fmt.Sprint(i), now.Add(-time.Duration(i)*time.Millisecond), nil)
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	var calls [2]atomic.Int32
	for i := range 2 { // two replicas, each with its own pool
		p, err := pg.Connect(ctx, pg.PoolConfig{URL: pool.Config().ConnString(), Schema: "svc"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		run(t, &timer.Engine{Pool: p, Logger: testLog, BatchSize: 25, PollInterval: 10 * time.Millisecond,
			Handlers: map[string]timer.Handler{"task.overdue": func(ctx context.Context, tm timer.Timer) error {
				calls[i].Add(1)
				return record(p)(ctx, tm)
			}}})
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM timers`) == 0
	}, "timers left")
	if got := count(t, pool, `SELECT count(*) FROM effects`); got != n {
		t.Fatalf("%d keys fired, want %d", got, n)
	}
	if twice := count(t, pool, `SELECT count(*) FROM effects WHERE n <> 1`); twice != 0 {
		t.Fatalf("%d keys fired more than once", twice)
	}
	t.Logf("handler calls by engine: %d, %d", calls[0].Load(), calls[1].Load())
}

func TestTimersDueDuringDowntimeFireAtOnceOnStart(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	for i := range 3 {
		set(t, pool, "task.overdue", fmt.Sprint(i), time.Now().Add(-time.Hour-time.Duration(i)*24*time.Hour), nil)
	}
	start := time.Now()
	run(t, &timer.Engine{Pool: pool, Logger: testLog, PollInterval: time.Hour,
		Handlers: map[string]timer.Handler{"task.overdue": record(pool)}})
	testkit.Eventually(t, 5*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM effects`) == 3
	}, "late timers did not fire")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("late timers took %v to fire", d)
	}
	if n := count(t, pool, `SELECT count(*) FROM timers`); n != 0 {
		t.Fatalf("%d timers left", n)
	}
}

func TestTimerFiresWhenDueAndNotBefore(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	const poll = 200 * time.Millisecond
	due := time.Now().Add(time.Second)
	set(t, pool, "task.overdue", "soon", due, nil)
	set(t, pool, "task.overdue", "later", time.Now().Add(time.Hour), nil)
	run(t, &timer.Engine{Pool: pool, Logger: testLog, PollInterval: poll,
		Handlers: map[string]timer.Handler{"task.overdue": record(pool)}})

	time.Sleep(300 * time.Millisecond)
	if n := effects(t, pool, "task.overdue", "soon"); n != 0 {
		t.Fatal("fired before due")
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return effects(t, pool, "task.overdue", "soon") == 1 }, "not fired")
	var late time.Duration
	if err := pool.QueryRow(context.Background(), `SELECT fired_at - $1 FROM effects WHERE key = 'soon'`, due).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if late < 0 || late > poll+time.Second {
		t.Errorf("fired %v after due; want within the poll interval (%v) and a margin", late, poll)
	}
	if _, ok := get(t, pool, "task.overdue", "later"); !ok || effects(t, pool, "task.overdue", "later") != 0 {
		t.Fatal("the timer due in an hour fired")
	}
}

// An idle engine sleeps PollInterval; Kick makes it look again, and it then
// sleeps only until the next due time.
func TestKickWakesTheEngineForATimerDueSooner(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	e := &timer.Engine{Pool: pool, Logger: testLog, PollInterval: time.Minute,
		Handlers: map[string]timer.Handler{"task.overdue": record(pool)}}
	run(t, e)
	time.Sleep(200 * time.Millisecond) // the engine found nothing and sleeps
	set(t, pool, "task.overdue", "t1", time.Now().Add(300*time.Millisecond), nil)
	e.Kick()
	testkit.Eventually(t, 10*time.Second, func() bool { return effects(t, pool, "task.overdue", "t1") == 1 }, "not fired")
}

func TestHandlerRearmingItsTimerKeepsIt(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	next := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	set(t, pool, "reminder", "r1", time.Now().Add(-time.Second), []byte("first"))
	set(t, pool, "reminder", "r2", time.Now().Add(-time.Second), []byte("first"))
	e := &timer.Engine{Pool: pool, Logger: testLog, Handlers: map[string]timer.Handler{
		"reminder": func(ctx context.Context, tm timer.Timer) error {
			if err := record(pool)(ctx, tm); err != nil {
				return err
			}
			if tm.Key == "r1" {
				return timer.Set(ctx, pg.Q(ctx, pool), tm.Purpose, tm.Key, next, []byte("second"))
			}
			return nil
		},
	}}
	if n, err := e.FireDue(ctx, 10); err != nil || n != 2 {
		t.Fatalf("FireDue = %d, %v", n, err)
	}
	tm, ok := get(t, pool, "reminder", "r1")
	if !ok || !tm.DueAt.Equal(next) || string(tm.Payload) != "second" {
		t.Fatalf("re-armed timer = %+v, %v; want due %v", tm, ok, next)
	}
	if _, ok := get(t, pool, "reminder", "r2"); ok {
		t.Fatal("r2 was not deleted")
	}
	if n, err := e.FireDue(ctx, 10); err != nil || n != 0 {
		t.Fatalf("FireDue of the re-armed timer before its time = %d, %v", n, err)
	}
}

func TestPoisonTimerIsRetriedThenFailedWithoutBlockingOthers(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	for i := range 20 {
		set(t, pool, "task.overdue", fmt.Sprint(i), time.Now().Add(-time.Minute), nil)
	}
	set(t, pool, "task.overdue", "poison", time.Now().Add(-time.Minute), nil)
	set(t, pool, "task.overdue", "panic", time.Now().Add(-time.Minute), nil)
	var calls atomic.Int32
	var firedHook atomic.Int32
	// Discarding the log of the panic's stack.
	e := &timer.Engine{Pool: pool, Logger: slog.New(slog.DiscardHandler), BatchSize: 50, MaxAttempts: 3,
		Backoff: []time.Duration{100 * time.Millisecond, time.Hour, 200 * time.Millisecond},
		Fired:   func() { firedHook.Add(1) },
		Handlers: map[string]timer.Handler{"task.overdue": func(ctx context.Context, tm timer.Timer) error {
			if err := record(pool)(ctx, tm); err != nil { // rolled back when failing below
				return err
			}
			switch tm.Key {
			case "poison":
				calls.Add(1)
				return errors.New("boom")
			case "panic":
				panic("kaboom")
			}
			return nil
		}},
	}
	before := time.Now()
	if n, err := e.FireDue(ctx, 100); err != nil || n != 20 {
		t.Fatalf("FireDue = %d, %v; want the 20 healthy ones", n, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM effects WHERE n = 1`); n != 20 {
		t.Fatalf("%d effects, want 20", n)
	}
	if firedHook.Load() == 0 {
		t.Fatal("Fired hook not called")
	}
	for key, reason := range map[string]string{"poison": "boom", "panic": "kaboom"} {
		tm, ok := get(t, pool, "task.overdue", key)
		if !ok || tm.Attempts != 1 || !strings.Contains(tm.LastError, reason) || !tm.FailedAt.IsZero() {
			t.Fatalf("%s after one failure: %+v, %v", key, tm, ok)
		}
		if tm.DueAt.Before(before.Add(50 * time.Millisecond)) {
			t.Fatalf("%s due at %v, not pushed out by the backoff", key, tm.DueAt)
		}
		if effects(t, pool, "task.overdue", key) != 0 {
			t.Fatalf("the failing handler's effect on %s was kept", key)
		}
	}

	// The second backoff is an hour: not due, not fired.
	testkit.Eventually(t, 5*time.Second, func() bool {
		_, _ = e.FireDue(ctx, 100)
		p, _ := get(t, pool, "task.overdue", "poison")
		q, _ := get(t, pool, "task.overdue", "panic")
		return p.Attempts == 2 && q.Attempts == 2
	}, "failing timers not retried")
	c := calls.Load()
	if n, err := e.FireDue(ctx, 100); err != nil || n != 0 || calls.Load() != c {
		t.Fatalf("FireDue = %d, %v, %d calls; want the poison timer waiting", n, err, calls.Load()-c)
	}

	// Its last attempt fails it for good.
	if _, err := pool.Exec(ctx, `UPDATE timers SET due_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.FireDue(ctx, 100); err != nil {
		t.Fatal(err)
	}
	tm, _ := get(t, pool, "task.overdue", "poison")
	if tm.Attempts != 3 || tm.FailedAt.IsZero() || tm.LastError != "boom" {
		t.Fatalf("poison after MaxAttempts: %+v", tm)
	}
	c = calls.Load()
	if n, err := e.FireDue(ctx, 100); err != nil || n != 0 || calls.Load() != c {
		t.Fatalf("FireDue = %d, %v, %d calls; failed timers must not be claimed", n, err, calls.Load()-c)
	}
	if n := count(t, pool, `SELECT count(*) FROM timers WHERE failed_at IS NOT NULL`); n != 2 {
		t.Fatalf("%d failed timers kept, want 2", n)
	}
}

func TestTimersOfPurposesWithoutHandlerAreLeftAlone(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	set(t, pool, "sla.breach", "s1", time.Now().Add(-time.Minute), []byte("p"))
	set(t, pool, "task.overdue", "t1", time.Now().Add(-time.Minute), nil)
	e := &timer.Engine{Pool: pool, Logger: testLog, Handlers: map[string]timer.Handler{"task.overdue": record(pool)}}
	if n, err := e.FireDue(ctx, 10); err != nil || n != 1 {
		t.Fatalf("FireDue = %d, %v", n, err)
	}
	tm, ok := get(t, pool, "sla.breach", "s1")
	if !ok || tm.Attempts != 0 || string(tm.Payload) != "p" {
		t.Fatalf("unhandled timer = %+v, %v", tm, ok)
	}
	// A process that handles it (after a rolling deploy) fires it.
	e.Handlers["sla.breach"] = record(pool)
	if n, err := e.FireDue(ctx, 10); err != nil || n != 1 {
		t.Fatalf("FireDue = %d, %v", n, err)
	}
}

// A batch handler gets every due timer of its purpose of a batch at once;
// a batch it fails is fired again one timer at a time, so only the
// poison timer fails.
func TestBatchHandlerFiresTimersTogetherAndAPoisonAlone(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	for i := range 30 {
		set(t, pool, "contract.due", fmt.Sprint(i), time.Now().Add(-time.Minute), nil)
	}
	set(t, pool, "contract.due", "poison", time.Now().Add(-time.Minute), nil)
	var sizes []int
	e := &timer.Engine{Pool: pool, Logger: slog.New(slog.DiscardHandler), BatchSize: 100, MaxAttempts: 3,
		BatchHandlers: map[string]timer.BatchHandler{"contract.due": func(ctx context.Context, ts []timer.Timer) error {
			sizes = append(sizes, len(ts))
			for _, tm := range ts {
				if err := record(pool)(ctx, tm); err != nil {
					return err
				}
				if tm.Key == "poison" {
					return errors.New("boom")
				}
			}
			return nil
		}},
	}
	if n, err := e.FireDue(ctx, 100); err != nil || n != 30 {
		t.Fatalf("FireDue = %d, %v; want the 30 healthy ones", n, err)
	}
	if sizes[0] != 31 || len(sizes) != 32 {
		t.Fatalf("handler calls of sizes %v, want one of 31 then 31 of one", sizes)
	}
	if n := count(t, pool, `SELECT count(*) FROM effects WHERE n = 1`); n != 30 {
		t.Fatalf("%d effects, want 30", n)
	}
	if tm, ok := get(t, pool, "contract.due", "poison"); !ok || tm.Attempts != 1 {
		t.Fatalf("poison: %+v, %v", tm, ok)
	}
}

func TestSetAllArmsManyInOneStatementAndReschedules(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	soon := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	set(t, pool, "reminder", "old", time.Now().Add(-time.Second), []byte("before"))
	b := &pgx.Batch{}
	timer.QueueSetAll(b, []timer.Timer{
		{Purpose: "reminder", Key: "a", DueAt: soon},
		{Purpose: "reminder", Key: "old", DueAt: soon, Payload: []byte("moved")},
		{Purpose: "overdue", Key: "a", DueAt: soon.Add(time.Minute)},
		{Purpose: "reminder", Key: "a", DueAt: soon.Add(2 * time.Minute)}, // the later wins
	})
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		purpose, key string
		due          time.Time
		payload      string
	}{{"reminder", "a", soon.Add(2 * time.Minute), ""}, {"reminder", "old", soon, "moved"}, {"overdue", "a", soon.Add(time.Minute), ""}} {
		tm, ok := get(t, pool, c.purpose, c.key)
		if !ok || !tm.DueAt.Equal(c.due) || string(tm.Payload) != c.payload {
			t.Fatalf("%s %s = %+v, %v; want due %v payload %q", c.purpose, c.key, tm, ok, c.due, c.payload)
		}
	}
}
