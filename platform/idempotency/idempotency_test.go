package idempotency_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func setup(t *testing.T) (*pgxpool.Pool, *idempotency.Store) {
	t.Helper()
	pool := testkit.Pool(t, "svc", pg.MigrationSet{Name: "svc", FS: fstest.MapFS{
		"001_things.sql": {Data: []byte("CREATE TABLE things (id serial PRIMARY KEY, name text);")},
	}})
	return pool, &idempotency.Store{Pool: pool}
}

// create inserts a thing and returns its id, like a Create method.
func create(pool *pgxpool.Pool, calls *atomic.Int32) func(ctx context.Context) (*wrapperspb.Int64Value, error) {
	return func(ctx context.Context) (*wrapperspb.Int64Value, error) {
		calls.Add(1)
		var id int64
		err := pg.Q(ctx, pool).QueryRow(ctx, `INSERT INTO things (name) VALUES ('x') RETURNING id`).Scan(&id)
		return wrapperspb.Int64(id), err
	}
}

func count(t *testing.T, pool *pgxpool.Pool) int {
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM things`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRetriesReturnTheFirstResultAndCreateNothing(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := context.Background()
	var calls atomic.Int32
	req := wrapperspb.String("create x")
	first, err := idempotency.Do(ctx, s, "r1", "Create", req, create(pool, &calls))
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent retries, including while the first may still be running.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			again, err := idempotency.Do(ctx, s, "r1", "Create", req, create(pool, &calls))
			if err != nil || again.GetValue() != first.GetValue() {
				t.Errorf("retry = %v, %v; want %v", again, err, first)
			}
		})
	}
	wg.Wait()
	if n := count(t, pool); n != 1 || calls.Load() != 1 {
		t.Fatalf("things = %d, calls = %d; want 1, 1", n, calls.Load())
	}
	// The same id on another method is another request.
	if _, err := idempotency.Do(ctx, s, "r1", "Other", req, create(pool, &calls)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool); n != 2 {
		t.Fatalf("things = %d, want 2", n)
	}
}

func TestConcurrentFirstRequestsRunOnce(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	var calls atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := idempotency.Do(context.Background(), s, "r2", "Create", wrapperspb.String("a"), create(pool, &calls)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := count(t, pool); n != 1 {
		t.Fatalf("things = %d, want 1", n)
	}
}

func TestReusedIDForADifferentRequestIsInvalid(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	var calls atomic.Int32
	ctx := context.Background()
	if _, err := idempotency.Do(ctx, s, "r3", "Create", wrapperspb.String("a"), create(pool, &calls)); err != nil {
		t.Fatal(err)
	}
	_, err := idempotency.Do(ctx, s, "r3", "Create", wrapperspb.String("b"), create(pool, &calls))
	if ae, ok := apperr.As(err); !ok || ae.Reason != "REQUEST_ID_REUSED" || ae.Kind != apperr.KindInvalidArgument {
		t.Fatalf("err = %v, want REQUEST_ID_REUSED", err)
	}
}

func TestFailedRequestLeavesNoTraceAndCanBeRetried(t *testing.T) {
	t.Parallel()
	pool, s := setup(t)
	ctx := context.Background()
	boom := errors.New("boom")
	_, err := idempotency.Do(ctx, s, "r4", "Create", wrapperspb.String("a"), func(ctx context.Context) (*wrapperspb.Int64Value, error) {
		_, _ = pg.Q(ctx, pool).Exec(ctx, `INSERT INTO things (name) VALUES ('half')`)
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var calls atomic.Int32
	if _, err := idempotency.Do(ctx, s, "r4", "Create", wrapperspb.String("a"), create(pool, &calls)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool); n != 1 || calls.Load() != 1 {
		t.Fatalf("things = %d, calls = %d; want the half-write rolled back and the retry applied", n, calls.Load())
	}
}
