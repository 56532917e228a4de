package events_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/events"
)

// An exported activity's event id depends on the activity alone: the same
// every export, another for every other activity.
func TestLeadActivityEventIDIsStablePerActivity(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	id := events.LeadActivityEventID(a)
	if id != events.LeadActivityEventID(a) || id == events.LeadActivityEventID(b) || id == a || id.Version() != 5 {
		t.Fatalf("LeadActivityEventID(%s) = %s, of %s = %s", a, id, b, events.LeadActivityEventID(b))
	}
}
