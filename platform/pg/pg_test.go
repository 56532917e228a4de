package pg_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestMigrateIsIdempotentAndUsesServiceSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: testkit.Database(t), Schema: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	set := pg.MigrationSet{Name: "svc", FS: fstest.MapFS{
		"001_things.sql": {Data: []byte("CREATE TABLE things (id int PRIMARY KEY);")},
	}}
	for range 2 {
		if err := pg.Migrate(ctx, pool, "svc", pg.PlatformMigrations(), set); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	err = pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'svc' AND table_name IN ('things', 'outbox', 'inbox', 'idempotency_keys', 'audit_log', 'timers')`).Scan(&n)
	if err != nil || n != 6 {
		t.Fatalf("tables in svc = %d, %v; want 6", n, err)
	}
}

func TestInTxRollsBackOnErrorAndCommitsOtherwise(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: testkit.Database(t), Schema: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pg.Migrate(ctx, pool, "svc", pg.MigrationSet{Name: "svc", FS: fstest.MapFS{
		"001_things.sql": {Data: []byte("CREATE TABLE things (id int PRIMARY KEY);")},
	}}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = pg.InTx(ctx, pool, func(ctx context.Context) error {
		if _, err := pg.Q(ctx, pool).Exec(ctx, "INSERT INTO things VALUES (1)"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	err = pg.InTx(ctx, pool, func(ctx context.Context) error {
		_, err := pg.Q(ctx, pool).Exec(ctx, "INSERT INTO things VALUES (2)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	rows, _ := pool.Query(ctx, "SELECT id FROM things ORDER BY id")
	for rows.Next() {
		var id int
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("things = %v, want [2]", ids)
	}
}

// A crashed server fails calls in flight and new ones as Unavailable (to
// retry), statements it refuses do not, and the pool connects again once
// the server is back.
func TestACrashedDatabaseIsUnavailableUntilItIsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server := testkit.PrivatePostgres(t)
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: server.Database(t), Schema: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "SELECT nosuchcolumn"); err == nil || pg.Unavailable(err) {
		t.Fatalf("a refused statement: %v, unavailable %v", err, pg.Unavailable(err))
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	server.Kill(t)
	_, err = tx.Exec(ctx, "SELECT 1")
	if !pg.Unavailable(err) {
		t.Errorf("a transaction whose server crashed: %v, not unavailable", err)
	}
	err = pg.InTx(ctx, pool, func(ctx context.Context) error {
		_, err := pg.Q(ctx, pool).Exec(ctx, "SELECT 1")
		return err
	})
	if !pg.Unavailable(err) {
		t.Errorf("a transaction while the server is down: %v, not unavailable", err)
	}
	if _, err := pool.Exec(ctx, "SELECT 1"); !pg.Unavailable(err) {
		t.Errorf("a query while the server is down: %v, not unavailable", err)
	}

	server.Start(t)
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := pool.Exec(ctx, "SELECT 1")
		return err == nil
	}, "the pool working again")
}
