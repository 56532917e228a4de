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
