package domain

import (
	"testing"
	"time"
)

func TestLifecycleStageTimes(t *testing.T) {
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	var c Lifecycle
	if c.setStage(StageNone, "a", at(0)) {
		t.Fatal("no stage to no stage changed something")
	}
	c.setStage(StageSQL, "a", at(1)) // straight to SQL: it was an MQL too
	if c.MQLAt == nil || !c.MQLAt.Equal(at(1)) || c.SQLAt == nil || !c.SQLAt.Equal(at(1)) || c.ChangedBy != "a" {
		t.Fatalf("straight to SQL: %+v", c)
	}
	c.setStage(StageMQL, "m", at(2)) // back: the SQL time goes, the MQL time stays
	if c.SQLAt != nil || !c.MQLAt.Equal(at(1)) || !c.ChangedAt.Equal(at(2)) || c.ChangedBy != "m" {
		t.Fatalf("back to MQL: %+v", c)
	}
	c.setStage(StageSQL, "b", at(3))
	if !c.SQLAt.Equal(at(3)) || !c.MQLAt.Equal(at(1)) {
		t.Fatalf("SQL again: %+v", c)
	}
	c.setStage(StageNone, "m", at(4))
	if c.MQLAt != nil || c.SQLAt != nil || c.Stage != StageNone || !c.ChangedAt.Equal(at(4)) {
		t.Fatalf("cleared: %+v", c)
	}
	for _, tc := range []struct {
		from, to LifecycleStage
		back     bool
	}{{StageSQL, StageMQL, true}, {StageSQL, StageNone, true}, {StageMQL, StageNone, true}, {StageMQL, StageSQL, false},
		{StageNone, StageSQL, false}, {StageSQL, StageSQL, false}} {
		if got := tc.from.Backwards(tc.to); got != tc.back {
			t.Errorf("%q -> %q backwards = %v", tc.from, tc.to, got)
		}
	}
	if LifecycleStage("CUSTOMER").Valid() || !StageNone.Valid() {
		t.Error("Valid")
	}
}
