package pg

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ServiceRole is the name of the Postgres role a service connects as
// wherever the suite provisions it itself (`make run`, tests, load tools);
// in production DATABASE_URL's user names it.
func ServiceRole(service string) string { return "crm_" + service }

// WithUser returns the connection string u with its user and password
// replaced (no password when password is empty).
func WithUser(u, user, password string) (string, error) {
	if parsed, err := url.Parse(u); err == nil && (parsed.Scheme == "postgres" || parsed.Scheme == "postgresql") {
		parsed.User = url.User(user)
		if password != "" {
			parsed.User = url.UserPassword(user, password)
		}
		return parsed.String(), nil
	}
	if _, err := pgconn.ParseConfig(u); err != nil {
		return "", fmt.Errorf("pg: parse connection string: %w", err)
	}
	// Keyword/value form: later keywords win.
	return u + " user=" + kvQuote(user) + " password=" + kvQuote(password), nil
}

func kvQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Bootstrap provisions a service's database access with an admin
// connection (a superuser, or a role with CREATEROLE that may create
// schemas and extensions): the login role DATABASE_URL (serviceURL) names,
// with its password, and no SUPERUSER, CREATEDB, CREATEROLE, REPLICATION,
// BYPASSRLS or role memberships, owning schema and every object
// in it, and able to use no other schema (public only to reach extension
// objects, without CREATE). It installs extensions the migrations need,
// which the service role may not create. The admin URL's database is
// ignored: it works on serviceURL's.
//
// Bootstrap is idempotent and safe to run concurrently: replicas of a
// service serialise on the migration lock, and the cluster-wide role that
// other databases (parallel tests) create at the same moment is retried.
func Bootstrap(ctx context.Context, adminURL, serviceURL, schema string, extensions ...string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("pg: invalid schema name %q", schema)
	}
	svc, err := pgconn.ParseConfig(serviceURL)
	if err != nil {
		return fmt.Errorf("pg: parse DATABASE_URL: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		return fmt.Errorf("pg: parse DATABASE_ADMIN_URL: %w", err)
	}
	if svc.User == "" || svc.User == cfg.ConnConfig.User {
		return fmt.Errorf("pg: DATABASE_URL must name the service's own role, not the admin's (%q)", svc.User)
	}
	cfg.ConnConfig.Database = svc.Database
	cfg.ConnConfig.RuntimeParams["application_name"] = "bootstrap " + schema
	cfg.MaxConns = 1
	pool, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	b := bootstrap{role: svc.User, password: svc.Password, schema: schema, extensions: extensions}
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return b.run(ctx, tx) })
		if err == nil || attempt == 5 || !retryable(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("pg: bootstrap role %s for schema %s: %w", b.role, schema, err)
	}
	return nil
}

// retryable errors are races with another database's bootstrap on the
// cluster-wide role: its CREATE ROLE committed first (unique violation,
// duplicate object), or it updated the role's row (tuple concurrently
// updated, an internal error).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "23505", "42710", "40001", "40P01":
		return true
	}
	return pgErr.Code == "XX000" && strings.Contains(pgErr.Message, "concurrently")
}

type bootstrap struct {
	role, password, schema string
	extensions             []string
}

func (b bootstrap) run(ctx context.Context, tx pgx.Tx) error {
	// Migrate's lock: extensions and ownership change while no service of
	// this database migrates.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('crm:migrate'))"); err != nil {
		return err
	}
	if err := b.ensureRole(ctx, tx); err != nil {
		return err
	}
	if err := b.ensureSchema(ctx, tx); err != nil {
		return err
	}
	for _, ext := range b.extensions {
		if err := execf(ctx, tx, "CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA public", ext); err != nil {
			return fmt.Errorf("extension %s: %w", ext, err)
		}
	}
	return b.confine(ctx, tx)
}

func (b bootstrap) ensureRole(ctx context.Context, tx pgx.Tx) error {
	var super, createRole, createDB, replication, bypassRLS, login bool
	err := tx.QueryRow(ctx, `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin
		FROM pg_roles WHERE rolname = $1`, b.role).Scan(&super, &createRole, &createDB, &replication, &bypassRLS, &login)
	if errors.Is(err, pgx.ErrNoRows) {
		stmt := "CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
		if b.password != "" {
			return execf(ctx, tx, stmt+" PASSWORD %L", b.role, scramVerifier(b.password))
		}
		return execf(ctx, tx, stmt, b.role)
	}
	if err != nil {
		return err
	}
	if super {
		// Demoting it could lock out whoever else uses it.
		return fmt.Errorf("role %s is a superuser: DATABASE_URL must name a role of the service's own", b.role)
	}
	// Only the attributes that are wrong: changing some needs superuser
	// even when the value would not change.
	var fix []string
	for _, a := range []struct {
		bad  bool
		attr string
	}{{createRole, "NOCREATEROLE"}, {createDB, "NOCREATEDB"}, {replication, "NOREPLICATION"}, {bypassRLS, "NOBYPASSRLS"}, {!login, "LOGIN"}} {
		if a.bad {
			fix = append(fix, a.attr)
		}
	}
	if len(fix) > 0 {
		if err := execf(ctx, tx, "ALTER ROLE %I "+strings.Join(fix, " "), b.role); err != nil {
			return err
		}
	}
	if b.password != "" {
		if err := execf(ctx, tx, "ALTER ROLE %I PASSWORD %L", b.role, scramVerifier(b.password)); err != nil {
			return err
		}
	}
	// Membership in another role (pg_read_all_data, another service's)
	// would lend its rights.
	rows, err := tx.Query(ctx, `SELECT m.roleid::regrole::text FROM pg_auth_members m
		WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)`, b.role)
	if err != nil {
		return err
	}
	granted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, g := range granted {
		if _, err := tx.Exec(ctx, "REVOKE "+g+" FROM "+pgx.Identifier{b.role}.Sanitize()); err != nil {
			return err
		}
	}
	return nil
}

// ensureSchema creates the schema owned by the role, or hands an existing
// one (made by a superuser before roles existed) to it with all it holds.
func (b bootstrap) ensureSchema(ctx context.Context, tx pgx.Tx) error {
	var owned bool
	err := tx.QueryRow(ctx, `SELECT nspowner = (SELECT oid FROM pg_roles WHERE rolname = $2)
		FROM pg_namespace WHERE nspname = $1`, b.schema, b.role).Scan(&owned)
	if errors.Is(err, pgx.ErrNoRows) {
		return execf(ctx, tx, "CREATE SCHEMA %I AUTHORIZATION %I", b.schema, b.role)
	}
	if err != nil {
		return err
	}
	if !owned {
		if err := execf(ctx, tx, "ALTER SCHEMA %I OWNER TO %I", b.schema, b.role); err != nil {
			return err
		}
	}
	// Indexes, identity and serial sequences and row types follow their
	// table; the rest is named here.
	rows, err := tx.Query(ctx, `
		WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $2)
		SELECT format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, $2::text)
		FROM pg_class c
		WHERE c.relnamespace = $1::regnamespace AND c.relowner <> (SELECT oid FROM r)
		  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
		                  AND d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
		UNION ALL
		SELECT format('ALTER %s %s OWNER TO %I', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END,
		              p.oid::regprocedure, $2::text)
		FROM pg_proc p
		WHERE p.pronamespace = $1::regnamespace AND p.proowner <> (SELECT oid FROM r)
		UNION ALL
		SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, $2::text)
		FROM pg_type t
		WHERE t.typnamespace = $1::regnamespace AND t.typowner <> (SELECT oid FROM r)
		  AND (t.typtype IN ('e', 'd', 'r')
		       OR t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')`,
		b.schema, b.role)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// confine takes away what the role could reach beyond its schema and
// checks that nothing is left: no PUBLIC rights on its own schema, no
// CREATE in public or the database, no rights on any other schema.
func (b bootstrap) confine(ctx context.Context, tx pgx.Tx) error {
	if err := execf(ctx, tx, "REVOKE ALL ON SCHEMA %I FROM PUBLIC", b.schema); err != nil {
		return err
	}
	var publicCreate, dbCreate bool
	if err := tx.QueryRow(ctx, `SELECT has_schema_privilege($1, 'public', 'CREATE'),
		has_database_privilege($1, current_database(), 'CREATE')`, b.role).Scan(&publicCreate, &dbCreate); err != nil {
		return err
	}
	if publicCreate { // the default before PostgreSQL 15
		if err := execf(ctx, tx, "REVOKE CREATE ON SCHEMA public FROM PUBLIC, %I", b.role); err != nil {
			return err
		}
	}
	if dbCreate {
		if err := execf(ctx, tx, "REVOKE CREATE ON DATABASE %I FROM %I", tx.Conn().Config().Database, b.role); err != nil {
			return err
		}
	}
	others := func() ([]string, error) {
		rows, err := tx.Query(ctx, `SELECT nspname FROM pg_namespace
			WHERE nspname <> $2 AND nspname <> 'information_schema' AND nspname NOT LIKE 'pg\_%'
			  AND (has_schema_privilege($1, oid, 'CREATE')
			       OR nspname <> 'public' AND has_schema_privilege($1, oid, 'USAGE'))
			ORDER BY nspname`, b.role, b.schema)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	granted, err := others()
	if err != nil {
		return err
	}
	for _, s := range granted {
		if err := execf(ctx, tx, "REVOKE ALL ON SCHEMA %I FROM %I", s, b.role); err != nil {
			return err
		}
	}
	if granted, err = others(); err != nil {
		return err
	}
	if len(granted) > 0 || dbCreate && b.hasDBCreate(ctx, tx) {
		return fmt.Errorf("role %s still has rights on schemas %v or CREATE on the database through PUBLIC or a role: revoke them", b.role, granted)
	}
	return nil
}

func (b bootstrap) hasDBCreate(ctx context.Context, tx pgx.Tx) bool {
	var ok bool
	err := tx.QueryRow(ctx, "SELECT has_database_privilege($1, current_database(), 'CREATE')", b.role).Scan(&ok)
	return err != nil || ok
}

// execf runs a statement that format() builds on the server: identifiers
// (%I) and literals (%L) are quoted by Postgres itself.
func execf(ctx context.Context, tx pgx.Tx, format string, args ...any) error {
	params := make([]string, len(args))
	for i := range args {
		params[i] = fmt.Sprintf("$%d::text", i+2)
	}
	var stmt string
	q := "SELECT format($1::text"
	if len(params) > 0 {
		q += ", " + strings.Join(params, ", ")
	}
	if err := tx.QueryRow(ctx, q+")", append([]any{format}, args...)...).Scan(&stmt); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", strings.SplitN(format, " %", 2)[0], err)
	}
	return nil
}

// scramVerifier is what Postgres stores for password under
// password_encryption=scram-sha-256, computed here so that the password
// itself never appears in a statement (server logs, pg_stat_statements).
// Non-ASCII passwords are sent as they are: Postgres normalises them
// (SASLprep) before hashing, which this does not repeat.
func scramVerifier(password string) string {
	for _, r := range password {
		if r > 0x7e || r < 0x20 {
			return password
		}
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return scramVerifierWithSalt(password, salt, 4096)
}

func scramVerifierWithSalt(password string, salt []byte, iterations int) string {
	salted, _ := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key")))
}
