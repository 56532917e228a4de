// Package testkit gives tests real infrastructure: a PostgreSQL database and
// a NATS JetStream server of their own.
//
// With DATABASE_URL set, databases are created on that server; otherwise the
// first test to ask starts a private PostgreSQL cluster (initdb into a temp
// dir, fsync off) shared by the tests of the package. With NATS_URL set,
// tests share that server and keep apart by a per-test subject namespace;
// otherwise each test gets an embedded server of its own.
//
// Packages using it call testkit.Main from TestMain so the private servers
// are stopped and their files removed when the tests end.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/platform/localnats"
	"github.com/crmsuite/crm/platform/localpg"
	"github.com/crmsuite/crm/platform/pg"
)

var (
	pgOnce   sync.Once
	pgServer *localpg.Server
	pgAdmin  string
	pgErr    error
	tmpRoot  string
)

// Main runs the tests and then stops what the kit started.
func Main(m *testing.M) {
	code := m.Run()
	if pgServer != nil {
		_ = pgServer.Stop()
	}
	if tmpRoot != "" {
		_ = os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

var rootOnce sync.Once

func root() string {
	rootOnce.Do(func() {
		d, err := os.MkdirTemp("", "crm-testkit-")
		if err != nil {
			panic(err)
		}
		// PostgreSQL may run as another user (we may be root) and needs to
		// reach its data dir below.
		if err := os.Chmod(d, 0o755); err != nil {
			panic(err)
		}
		tmpRoot = d
	})
	return tmpRoot
}

// AdminURL returns a superuser URL of the test PostgreSQL server, starting
// the private one if needed.
func AdminURL(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		if u := os.Getenv("DATABASE_URL"); u != "" {
			pgAdmin = u
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pgServer, pgErr = localpg.Start(ctx, localpg.Options{DataDir: root() + "/pg", Throwaway: true})
		if pgErr == nil {
			pgAdmin = pgServer.URL
		}
	})
	if pgErr != nil {
		t.Fatalf("testkit: postgres: %v", pgErr)
	}
	return pgAdmin
}

// Database creates an empty database for this test and returns its URL.
// It is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	return createDatabase(t, AdminURL(t))
}

func createDatabase(t testing.TB, admin string) string {
	t.Helper()
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testkit: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testkit: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(admin, name)
}

// ServiceURL returns the URL of the database dbURL (from Database) as
// service's own role (pg.ServiceRole). Services under test get dbURL as
// DATABASE_ADMIN_URL, to provision that role, and this as DATABASE_URL, as
// in production: every test runs confined to the service's schema. Test
// roles have no password: the private server trusts local connections
// (with DATABASE_URL set, that server must let crm_* roles in too).
func ServiceURL(dbURL, service string) string {
	u, err := pg.WithUser(dbURL, pg.ServiceRole(service), "")
	if err != nil {
		panic(fmt.Sprintf("testkit: %v", err))
	}
	return u
}

// DatabaseEnv is the environment of service's process on dbURL (from
// Database): DATABASE_ADMIN_URL and its own DATABASE_URL (ServiceURL).
func DatabaseEnv(dbURL, service string) []string {
	return []string{"DATABASE_ADMIN_URL=" + dbURL, "DATABASE_URL=" + ServiceURL(dbURL, service)}
}

func withDatabase(admin, db string) string {
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		// Keyword/value connection string.
		return admin + " dbname=" + db
	}
	u.Path = "/" + db
	return u.String()
}

// Postgres is a PostgreSQL server of one test's own, which the test may
// crash and start again (fault tests); the shared server of the other
// tests is never touched. It is stopped when the test ends.
type Postgres struct {
	// AdminURL connects as the superuser.
	AdminURL string
	opts     localpg.Options
	server   *localpg.Server
}

// PrivatePostgres starts a throwaway cluster for the test. Commits stay
// synchronous (localpg.Options.CrashSafe), so Kill loses no committed
// transaction, as with a real server's crash.
func PrivatePostgres(t testing.TB) *Postgres {
	t.Helper()
	dir, err := os.MkdirTemp(root(), "pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Postgres{opts: localpg.Options{DataDir: dir + "/data", Throwaway: true, CrashSafe: true, SharedBuffers: "64MB"}}
	p.Start(t)
	t.Cleanup(func() {
		if p.server != nil {
			_ = p.server.Stop()
		}
	})
	return p
}

// Database creates an empty database on p and returns its URL.
func (p *Postgres) Database(t testing.TB) string {
	t.Helper()
	return createDatabase(t, p.AdminURL)
}

// Kill crashes the server: SIGKILL to the postmaster and its backends.
func (p *Postgres) Kill(t testing.TB) {
	t.Helper()
	if p.server == nil {
		t.Fatal("testkit: postgres is not running")
	}
	p.server.Kill()
	p.server = nil
}

// Start starts the server, the first time or again after Kill, on the same
// data directory and port; after a crash it recovers from its WAL first.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := localpg.Start(ctx, p.opts)
	if err != nil {
		t.Fatalf("testkit: postgres: %v", err)
	}
	p.server, p.opts.Port, p.AdminURL = srv, srv.Port, srv.URL
}

// NATS is a JetStream server for one test.
type NATS struct {
	URL string
	// Namespace prefixes every subject and stream name the test uses, so
	// tests sharing one server (NATS_URL) do not see each other's events.
	Namespace string
	server    *localnats.Server
}

// NewNATS returns the shared NATS_URL server with a fresh namespace, or a
// private embedded server.
func NewNATS(t testing.TB) *NATS {
	t.Helper()
	if u := os.Getenv("NATS_URL"); u != "" {
		return &NATS{URL: u, Namespace: "t" + randomHex(6) + "."}
	}
	return PrivateNATS(t)
}

// PrivateNATS always starts an embedded server of the test's own, which the
// test may stop and restart (fault tests).
func PrivateNATS(t testing.TB) *NATS {
	t.Helper()
	dir, err := os.MkdirTemp(root(), "nats-")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localnats.Start(localnats.Options{StoreDir: dir})
	if err != nil {
		t.Fatalf("testkit: nats: %v", err)
	}
	n := &NATS{URL: srv.URL, server: srv}
	t.Cleanup(func() { n.server.Stop() })
	return n
}

// Stop takes the private server down.
func (n *NATS) Stop(t testing.TB) {
	t.Helper()
	if n.server == nil {
		t.Fatal("testkit: only a private NATS server can be stopped")
	}
	n.server.Stop()
}

// Restart brings a stopped private server back on the same port and store.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	if err := n.server.Restart(); err != nil {
		t.Fatalf("testkit: restart nats: %v", err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}

// Eventually retries cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testkit: gave up after %v: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pool returns a pool on a fresh database for this test, connected as the
// role of a service named schema (ServiceURL) that owns schema, with the
// platform tables (PlatformMigrations) and sets migrated in.
// It is closed when the test ends.
func Pool(t testing.TB, schema string, sets ...pg.MigrationSet) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	db := Database(t)
	url := ServiceURL(db, schema)
	var extensions []string
	for _, s := range sets {
		extensions = append(extensions, s.Extensions...)
	}
	if err := pg.Bootstrap(ctx, db, url, schema, extensions...); err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: url, Schema: schema, MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pg.Migrate(ctx, pool, schema, append([]pg.MigrationSet{pg.PlatformMigrations()}, sets...)...); err != nil {
		t.Fatal(err)
	}
	return pool
}
