package domain

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestActivityDoneMovesTheLastActivityForwardOnly(t *testing.T) {
	now := time.Now().UTC()
	l, _, err := New(Lead{LastName: "L"}, "u", now)
	if err != nil {
		t.Fatal(err)
	}
	evs := l.ActivityDone(now.Add(-time.Hour), "bob", now)
	if len(evs) != 1 || !slices.Equal(evs[0].(Updated).Changed, []string{"last_activity_time"}) ||
		!l.LastActivityAt.Equal(now.Add(-time.Hour)) || l.UpdatedBy != "bob" || l.Version != 2 {
		t.Fatalf("first activity: %v, lead %+v", evs, l)
	}
	for _, at := range []time.Time{now.Add(-time.Hour), now.Add(-2 * time.Hour)} {
		if evs := l.ActivityDone(at, "bob", now); len(evs) != 0 || !l.LastActivityAt.Equal(now.Add(-time.Hour)) || l.Version != 2 {
			t.Fatalf("activity at %v: %v, lead %+v", at, evs, l)
		}
	}
	if evs := l.ActivityDone(now, "carol", now); len(evs) != 1 || !l.LastActivityAt.Equal(now) {
		t.Fatalf("later activity: %v, lead %+v", evs, l)
	}
	l.Status, l.MergedInto = StatusMerged, uuid.New()
	if evs := l.ActivityDone(now.Add(time.Hour), "bob", now); len(evs) != 0 || !l.LastActivityAt.Equal(now) {
		t.Fatalf("merged lead: %v, lead %+v", evs, l)
	}
}
