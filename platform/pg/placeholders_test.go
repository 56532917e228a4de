package pg_test

import (
	"testing"

	"github.com/crmsuite/crm/platform/pg"
)

func TestPlaceholders(t *testing.T) {
	for _, c := range []struct {
		from, to int
		want     string
	}{{1, 1, "$1"}, {1, 3, "$1, $2, $3"}, {2, 4, "$2, $3, $4"}, {3, 2, ""}} {
		if got := pg.Placeholders(c.from, c.to); got != c.want {
			t.Errorf("Placeholders(%d, %d) = %q, want %q", c.from, c.to, got, c.want)
		}
	}
}
