// Package migrations holds the workflow schema's migrations, applied by the
// service at start (platform/pg.Migrate).
package migrations

import "embed"

// FS holds the numbered SQL migrations.
//
//go:embed *.sql
var FS embed.FS
