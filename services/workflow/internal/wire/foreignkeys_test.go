package wire_test

import (
	"testing"

	"github.com/crmsuite/crm/platform/testkit"
)

// Every foreign key of the schema, as the service migrates it, has an
// index on its referencing columns (there are none today: this guards
// future ones).
func TestForeignKeysIndexed(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	testkit.RequireIndexedForeignKeys(t, s.dbURL, "workflow")
}
