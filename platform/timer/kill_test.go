package timer_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/procs"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/timer"
)

// The helper process is this test binary run again with these set: an
// engine that stops for good at the moment the mode names, printing a line
// that says so, so that the test can kill it there.
const (
	envHelper = "TIMER_TEST_HELPER" // before-commit or after-commit
	envDB     = "TIMER_TEST_DATABASE_URL"
)

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process for the kill tests")
	}
	ctx := context.Background()
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: os.Getenv(envDB), Schema: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	e := &timer.Engine{Pool: pool, Logger: testLog, PollInterval: 20 * time.Millisecond,
		Handlers: map[string]timer.Handler{"task.overdue": func(ctx context.Context, tm timer.Timer) error {
			if err := record(pool)(ctx, tm); err != nil {
				return err
			}
			if mode == "before-commit" {
				fmt.Println("HELPER fired, not committed")
				select {}
			}
			return nil
		}},
		Fired: func() {
			fmt.Println("HELPER committed")
			select {}
		},
	}
	_ = e.Run(ctx)
}

// startHelper runs the helper on pool's schema in mode and returns it once
// it printed marker; it is killed when the test ends, if not before.
func startHelper(t *testing.T, pool *pgxpool.Pool, mode, marker string) *procs.Proc {
	t.Helper()
	w := &watch{t: t, marker: marker, seen: make(chan struct{})}
	p, err := procs.Start("helper", os.Args[0], []string{envHelper + "=" + mode, envDB + "=" + pool.Config().ConnString()},
		w, "-test.run=^TestHelperProcess$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	select {
	case <-w.seen:
		return p
	case <-p.Done():
		t.Fatalf("helper exited: %v", p.Err())
	case <-time.After(time.Minute):
		t.Fatalf("helper did not print %q", marker)
	}
	return nil
}

type watch struct {
	t      *testing.T
	marker string
	once   sync.Once
	seen   chan struct{}
}

func (w *watch) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	if strings.Contains(string(b), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(b), nil
}

func TestKilledBeforeCommitFiresOnceOnNextRunner(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	set(t, pool, "task.overdue", "t1", time.Now().Add(-time.Second), nil)
	e := &timer.Engine{Pool: pool, Logger: testLog, Handlers: map[string]timer.Handler{"task.overdue": record(pool)}}

	p := startHelper(t, pool, "before-commit", "HELPER fired")
	// The helper's firing is not committed, and holds the timer.
	if n := effects(t, pool, "task.overdue", "t1"); n != 0 {
		t.Fatalf("uncommitted effect visible: %d", n)
	}
	if n, err := e.FireDue(ctx, 10); err != nil || n != 0 {
		t.Fatalf("FireDue while the helper holds the timer = %d, %v", n, err)
	}

	p.Kill()
	killed := time.Now()
	testkit.Eventually(t, 10*time.Second, func() bool {
		if _, err := e.FireDue(ctx, 10); err != nil {
			t.Fatal(err)
		}
		return effects(t, pool, "task.overdue", "t1") > 0
	}, "the timer of the killed helper did not fire")
	t.Logf("fired again %v after the kill", time.Since(killed))
	if n := effects(t, pool, "task.overdue", "t1"); n != 1 {
		t.Fatalf("fired %d times, want once", n)
	}
	if _, ok := get(t, pool, "task.overdue", "t1"); ok {
		t.Fatal("timer left after firing")
	}
}

func TestKilledAfterCommitDoesNotFireAgain(t *testing.T) {
	t.Parallel()
	pool := setup(t)
	ctx := context.Background()
	set(t, pool, "task.overdue", "t1", time.Now().Add(-time.Second), nil)
	startHelper(t, pool, "after-commit", "HELPER committed").Kill()

	e := &timer.Engine{Pool: pool, Logger: testLog, Handlers: map[string]timer.Handler{"task.overdue": record(pool)}}
	if n, err := e.FireDue(ctx, 10); err != nil || n != 0 {
		t.Fatalf("FireDue after the helper committed = %d, %v", n, err)
	}
	if n := effects(t, pool, "task.overdue", "t1"); n != 1 {
		t.Fatalf("fired %d times, want once", n)
	}
	if _, ok := get(t, pool, "task.overdue", "t1"); ok {
		t.Fatal("timer left after firing")
	}
}
