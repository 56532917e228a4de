package pg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/platform/localpg"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
)

// uniqueRole keeps this package's parallel tests apart: roles are
// cluster-wide.
func uniqueRole(name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t_" + name + "_" + hex.EncodeToString(b)
}

func roleURL(t *testing.T, db, role, password string) string {
	t.Helper()
	u, err := pg.WithUser(db, role, password)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// provision bootstraps role for schema on db and migrates a table and a
// function in as the role, as a service start does.
func provision(t *testing.T, db, role, schema string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	u := roleURL(t, db, role, "")
	if err := pg.Bootstrap(ctx, db, u, schema); err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: u, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	set := pg.MigrationSet{Name: schema, FS: fstest.MapFS{"001_things.sql": {Data: []byte(`
		CREATE TABLE things (id int PRIMARY KEY, note text);
		INSERT INTO things VALUES (1, 'mine');
		CREATE FUNCTION count_things() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM things';`)}}}
	if err := pg.Migrate(ctx, pool, schema, pg.PlatformMigrations(), set); err != nil {
		t.Fatal(err)
	}
	return pool
}

func requireDenied(t *testing.T, err error, what string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("%s: got %v, want insufficient_privilege (42501)", what, err)
	}
}

func TestBootstrapConfinesEachRoleToItsSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Database(t)
	alphaRole, betaRole := uniqueRole("alpha"), uniqueRole("beta")
	alpha := provision(t, db, alphaRole, "alpha")
	beta := provision(t, db, betaRole, "beta")

	var n int
	if err := alpha.QueryRow(ctx, "SELECT count_things() + (SELECT count(*) FROM alpha.things)").Scan(&n); err != nil || n != 2 {
		t.Fatalf("alpha reads its own schema: %d, %v", n, err)
	}
	if _, err := alpha.Exec(ctx, "INSERT INTO things VALUES (2, 'also mine')"); err != nil {
		t.Fatalf("alpha writes its own schema: %v", err)
	}
	for _, c := range []struct {
		pool *pgxpool.Pool
		who  string
		sql  string
	}{
		{alpha, "alpha", "SELECT count(*) FROM beta.things"},
		{alpha, "alpha", "INSERT INTO beta.things VALUES (9, 'theirs')"},
		{alpha, "alpha", "SELECT beta.count_things()"},
		{alpha, "alpha", "SELECT count(*) FROM beta.outbox"},
		{beta, "beta", "SELECT count(*) FROM alpha.things"},
		{beta, "beta", "DELETE FROM alpha.things"},
		{alpha, "alpha", "CREATE SCHEMA gamma"},
		{alpha, "alpha", "CREATE TABLE public.stray (id int)"},
	} {
		_, err := c.pool.Exec(ctx, c.sql)
		requireDenied(t, err, c.who+": "+c.sql)
	}

	var super, createDB, createRole bool
	if err := alpha.QueryRow(ctx, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user").
		Scan(&super, &createDB, &createRole); err != nil || super || createDB || createRole {
		t.Fatalf("alpha's role: super %v createdb %v createrole %v (%v); want none", super, createDB, createRole, err)
	}

	// Again (every start does it): nothing changes, nothing fails.
	if err := pg.Bootstrap(ctx, db, roleURL(t, db, alphaRole, ""), "alpha"); err != nil {
		t.Fatal(err)
	}
	if err := alpha.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after a second bootstrap: %d, %v", n, err)
	}
}

// A database from before roles (every object the superuser's) is handed
// over whole, and rights the role gathered elsewhere are taken away.
func TestBootstrapTakesOverAnExistingSchemaAndRevokesOtherRights(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Database(t)
	role := uniqueRole("legacy")
	admin, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	ident := pgx.Identifier{role}.Sanitize()
	for _, s := range []string{
		"CREATE SCHEMA legacy",
		"CREATE TABLE legacy.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n serial, label text)",
		"CREATE VIEW legacy.labels AS SELECT label FROM legacy.items",
		"CREATE MATERIALIZED VIEW legacy.counted AS SELECT count(*) FROM legacy.items",
		"CREATE SEQUENCE legacy.numbers",
		"CREATE TYPE legacy.colour AS ENUM ('red', 'green')",
		"CREATE DOMAIN legacy.positive AS int CHECK (VALUE > 0)",
		"CREATE TYPE legacy.pair AS (a int, b int)",
		"CREATE FUNCTION legacy.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
		"CREATE PROCEDURE legacy.noop() LANGUAGE sql AS 'SELECT 1'",
		"CREATE ROLE " + ident + " LOGIN CREATEDB CREATEROLE",
		"GRANT pg_read_all_data TO " + ident,
		"CREATE SCHEMA other",
		"CREATE TABLE other.secrets (s text)",
		"GRANT USAGE, CREATE ON SCHEMA other TO " + ident,
		"GRANT SELECT ON other.secrets TO " + ident,
		"GRANT CREATE ON DATABASE " + pgx.Identifier{admin.Config().Database}.Sanitize() + " TO " + ident,
	} {
		if _, err := admin.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	u := roleURL(t, db, role, "")
	if err := pg.Bootstrap(ctx, db, u, "legacy"); err != nil {
		t.Fatal(err)
	}
	var foreign []string
	rows, err := admin.Query(ctx, `
		SELECT relname FROM pg_class WHERE relnamespace = 'legacy'::regnamespace AND relowner <> $1::regrole
		UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'legacy'::regnamespace AND proowner <> $1::regrole
		UNION ALL SELECT typname FROM pg_type WHERE typnamespace = 'legacy'::regnamespace AND typowner <> $1::regrole
		UNION ALL SELECT nspname FROM pg_namespace WHERE nspname = 'legacy' AND nspowner <> $1::regrole`, role)
	if err == nil {
		foreign, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(foreign) > 0 {
		t.Fatalf("objects in legacy not owned by %s: %v (%v)", role, foreign, err)
	}

	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: u, Schema: "legacy"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// As owner it can change what it took over, as later migrations do.
	if _, err := pool.Exec(ctx, "ALTER TABLE items ADD COLUMN colour colour; INSERT INTO items (label) VALUES ('x'); REFRESH MATERIALIZED VIEW counted; SELECT nextval('numbers'), answer()"); err != nil {
		t.Fatalf("the role cannot work with its schema: %v", err)
	}
	_, err = pool.Exec(ctx, "SELECT * FROM other.secrets")
	requireDenied(t, err, "other.secrets")
	_, err = pool.Exec(ctx, "CREATE SCHEMA mine")
	requireDenied(t, err, "CREATE SCHEMA")
	var createDB, createRole, member bool
	if err := admin.QueryRow(ctx, `SELECT rolcreatedb, rolcreaterole, pg_has_role($1, 'pg_read_all_data', 'MEMBER')
		FROM pg_roles WHERE rolname = $1`, role).Scan(&createDB, &createRole, &member); err != nil || createDB || createRole || member {
		t.Fatalf("role keeps createdb %v, createrole %v, pg_read_all_data %v (%v)", createDB, createRole, member, err)
	}

	// A schema every role may use is beyond what the bootstrap may take
	// away: it says so rather than leave the role less confined than it
	// claims.
	if _, err := admin.Exec(ctx, "CREATE SCHEMA shared; GRANT USAGE ON SCHEMA shared TO PUBLIC"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Bootstrap(ctx, db, u, "legacy"); err == nil || !strings.Contains(err.Error(), "shared") {
		t.Fatalf("bootstrap with PUBLIC usage on schema shared: %v, want an error naming it", err)
	}
}

// Roles are cluster-wide: the tests' databases (and replicas of one
// service) bootstrap the same role at the same moment.
func TestBootstrapIsSafeConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	role := uniqueRole("race")
	var dbs []string
	for range 4 {
		dbs = append(dbs, testkit.Database(t))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(dbs))
	for _, db := range dbs {
		for range 2 {
			wg.Go(func() { errs <- pg.Bootstrap(ctx, db, roleURL(t, db, role, ""), "race") })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestBootstrapRefusesSuperuserAndAdminRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Database(t)
	admin, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	super := uniqueRole("super")
	if _, err := admin.Exec(ctx, "CREATE ROLE "+super+" LOGIN SUPERUSER"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Bootstrap(ctx, db, roleURL(t, db, super, ""), "svc"); err == nil || !strings.Contains(err.Error(), "superuser") {
		t.Errorf("bootstrap of a superuser role: %v, want a refusal", err)
	}
	if err := pg.Bootstrap(ctx, db, db, "svc"); err == nil {
		t.Error("bootstrap with DATABASE_URL = the admin's: no error")
	}
	var stillSuper bool
	if err := admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", super).Scan(&stillSuper); err != nil || !stillSuper {
		t.Errorf("superuser role demoted: %v, %v", stillSuper, err)
	}
}

// Migrate as a role that does not own the schema says what to do.
func TestMigrateRefusesASchemaOfAnotherRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Database(t)
	a, b := uniqueRole("a"), uniqueRole("b")
	provision(t, db, a, "first")
	if err := pg.Bootstrap(ctx, db, roleURL(t, db, b, ""), "second"); err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: roleURL(t, db, b, ""), Schema: "first"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pg.Migrate(ctx, pool, "first", pg.PlatformMigrations()); err == nil || !strings.Contains(err.Error(), "DATABASE_ADMIN_URL") {
		t.Fatalf("migrate another role's schema: %v, want an error pointing at the bootstrap", err)
	}
	if err := pg.Migrate(ctx, pool, "third", pg.PlatformMigrations()); err == nil {
		t.Fatal("a service role created a schema")
	}
}

// The password reaches Postgres as a SCRAM verifier only, and logs in: on
// a server of its own that asks for passwords.
func TestBootstrapSetsThePasswordAsScram(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not t.TempDir: PostgreSQL runs as another user when we are root and
	// must reach the directory.
	dir, err := os.MkdirTemp("", "crm-scram-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := localpg.Start(ctx, localpg.Options{DataDir: filepath.Join(dir, "pg"), Throwaway: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop() //nolint:errcheck
	hba := "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(srv.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the postmaster rereads pg_hba.conf asynchronously

	for _, password := range []string{"first 'secret' \\ with quotes", "rotated"} {
		u := roleURL(t, srv.URL, "crm_scram", password)
		if err := pg.Bootstrap(ctx, srv.URL, u, "svc"); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatalf("log in with %q: %v", password, err)
		}
		_ = conn.Close(ctx)
	}
	if conn, err := pgx.Connect(ctx, roleURL(t, srv.URL, "crm_scram", "first 'secret' \\ with quotes")); err == nil {
		_ = conn.Close(ctx)
		t.Fatal("the old password still logs in after rotation")
	}
	var stored string
	if err := admin.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = 'crm_scram'").Scan(&stored); err != nil || !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") {
		t.Fatalf("stored password %q, %v", stored, err)
	}
}

func TestWithUserKeepsTheRestOfTheConnectionString(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"postgres://postgres:admin@127.0.0.1:5433/crm?sslmode=disable",
		"host=127.0.0.1 port=5433 user=postgres password=admin dbname=crm sslmode=disable",
	} {
		out, err := pg.WithUser(in, "crm_lead", "p@ss 'w\\rd")
		if err != nil {
			t.Fatal(err)
		}
		c, err := pgconn.ParseConfig(out)
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if c.User != "crm_lead" || c.Password != "p@ss 'w\\rd" || c.Database != "crm" || c.Host != "127.0.0.1" || c.Port != 5433 {
			t.Errorf("WithUser(%q) = %q: user %q password %q db %q host %s:%d", in, out, c.User, c.Password, c.Database, c.Host, c.Port)
		}
	}
}
