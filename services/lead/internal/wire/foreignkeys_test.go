package wire_test

import (
	"testing"

	"github.com/crmsuite/crm/platform/testkit"
)

// Every foreign key of the schema, as the service migrates it, has an
// index on its referencing columns: without one a delete of a referenced
// row scans the referencing table.
func TestForeignKeysIndexed(t *testing.T) {
	t.Parallel()
	s := start(t)
	testkit.RequireIndexedForeignKeys(t, s.dbURL, "lead")
}
