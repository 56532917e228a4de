package pg

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var platformMigrations embed.FS

// PlatformMigrations creates the tables the shared plumbing needs in every
// service schema: outbox, inbox, idempotency keys, audit log and timers.
func PlatformMigrations() MigrationSet {
	sub, _ := fs.Sub(platformMigrations, "migrations")
	return MigrationSet{Name: "platform", FS: sub}
}

// MigrationSet is a directory of tern migrations (001_name.sql, ...) with
// its own version table, `<name>_schema_version`, in the service schema.
type MigrationSet struct {
	Name string
	FS   fs.FS
	// Extensions the migrations use. The service role may not create
	// them, so Bootstrap does (the migrations' own CREATE EXTENSION IF NOT
	// EXISTS then finds them).
	Extensions []string
}

// Migrate applies each set in order, in the pool's schema, as the pool's
// role. The schema must belong to that role (Bootstrap), unless the role
// is a superuser or may create the schema itself. Concurrent callers
// (several replicas starting) serialise on an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, sets ...MigrationSet) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("pg: invalid schema name %q", schema)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pg: migrate: %w", err)
	}
	defer conn.Release()
	c := conn.Conn()
	// One lock for all schemas: migrations may create database-wide
	// objects (extensions) that concurrent services would race on.
	lock := "crm:migrate"
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", lock); err != nil {
		return fmt.Errorf("pg: migrate lock: %w", err)
	}
	defer c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", lock) //nolint:errcheck
	// CREATE SCHEMA IF NOT EXISTS would need CREATE on the database even
	// when the schema exists, which a service role does not have.
	var owned bool
	var who string
	err = c.QueryRow(ctx, "SELECT pg_has_role(nspowner, 'USAGE'), current_user FROM pg_namespace WHERE nspname = $1", schema).Scan(&owned, &who)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := c.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("pg: create schema %s (provision the service's role and schema with DATABASE_ADMIN_URL): %w", schema, err)
		}
	case err != nil:
		return fmt.Errorf("pg: migrate: %w", err)
	case !owned:
		return fmt.Errorf("pg: schema %s does not belong to role %s: provision it with DATABASE_ADMIN_URL (bootstrap)", schema, who)
	}
	for _, set := range sets {
		if err := migrateSet(ctx, c, schema, set); err != nil {
			return err
		}
	}
	return nil
}

func migrateSet(ctx context.Context, c *pgx.Conn, schema string, set MigrationSet) error {
	table := pgx.Identifier{schema, set.Name + "_schema_version"}.Sanitize()
	m, err := migrate.NewMigrator(ctx, c, table)
	if err != nil {
		return fmt.Errorf("pg: migrator %s: %w", set.Name, err)
	}
	if err := m.LoadMigrations(set.FS); err != nil {
		return fmt.Errorf("pg: load %s migrations: %w", set.Name, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("pg: apply %s migrations: %w", set.Name, err)
	}
	return nil
}
