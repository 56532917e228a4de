// Package migrations holds the order schema's migrations, applied by the
// service at start (platform/pg.Migrate).
package migrations

import "embed"

// FS holds the numbered SQL migrations.
//
//go:embed *.sql
var FS embed.FS

// Extensions the migrations use, installed by the database bootstrap: the
// service's own role may not create them.
var Extensions = []string{"pg_trgm"}
