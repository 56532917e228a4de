package etag

import (
	"testing"

	"github.com/crmsuite/crm/platform/apperr"
)

func TestCheck(t *testing.T) {
	if err := Check("", 3); err != nil {
		t.Fatalf("unconditional write refused: %v", err)
	}
	if err := Check(Format(3), 3); err != nil {
		t.Fatalf("current etag refused: %v", err)
	}
	for _, stale := range []string{Format(2), "3", "garbage"} {
		if !apperr.IsKind(Check(stale, 3), apperr.KindAborted) {
			t.Fatalf("etag %q accepted at version 3", stale)
		}
	}
}

func TestVersionReadsBackWhatFormatWrote(t *testing.T) {
	if v, err := Version(Format(42)); err != nil || v != 42 {
		t.Fatalf("Version(Format(42)) = %d, %v", v, err)
	}
	for _, bad := range []string{"", "42", `W/"42`, `"42"`, `W/"x"`, `W/"0"`, `W/"-1"`} {
		if _, err := Version(bad); err == nil {
			t.Fatalf("Version(%q) passed", bad)
		}
	}
}
