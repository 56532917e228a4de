package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// ActivityDone records that an activity regarding the lead was done at
// `at` (the workflow service owns activities and tells in its events): the
// lead's last activity time moves forward to it, never back, and
// LeadUpdated names last_activity_time, so rules on "days since the last
// activity" see it. Unknown (or deleted) leads are ignored.
func (s *Service) ActivityDone(ctx context.Context, leadID uuid.UUID, at time.Time) error {
	// Postgres keeps microseconds: compare what it will return.
	at = at.UTC().Truncate(time.Microsecond)
	return s.settle(ctx, leadID, func(l *domain.Lead) []domain.Event {
		return l.ActivityDone(at, auth.Actor(ctx), s.now())
	})
}
