package pg

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var platformMigrations embed.FS

// PlatformMigrations creates the tables the shared plumbing needs in every
// service schema: outbox, inbox and idempotency keys.
func PlatformMigrations() MigrationSet {
	sub, _ := fs.Sub(platformMigrations, "migrations")
	return MigrationSet{Name: "platform", FS: sub}
}

// MigrationSet is a directory of tern migrations (001_name.sql, ...) with
// its own version table, `<name>_schema_version`, in the service schema.
type MigrationSet struct {
	Name string
	FS   fs.FS
}

// Migrate creates the pool's schema if needed and applies each set in
// order. Concurrent callers (several replicas starting) serialise on an
// advisory lock.
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
	if _, err := c.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("pg: create schema %s: %w", schema, err)
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
