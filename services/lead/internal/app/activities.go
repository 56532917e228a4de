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

// ExportOptions say how ExportActivities goes.
type ExportOptions struct {
	// PageSize is how many activities one transaction exports.
	PageSize int
	// All exports the activities exported before too (with the same event
	// ids), e.g. for a workflow service that lost them.
	All bool
	// Publish relays the exported events until none waits in the outbox.
	// It runs first (for events a broken-off run left) and after each
	// page.
	Publish func(ctx context.Context) error
	// Progress, if set, hears the running total after each page.
	Progress func(exported int)
}

// ExportActivities carries the activities the lead service kept over to
// the workflow service, which owns activities now: one LeadActivityLogged
// per activity, page by page, each page published before the next. Only
// activities not exported yet go, unless o.All, and their event ids are
// derived from the activities', so running it again (after it broke off,
// or by mistake) publishes nothing new. It returns how many it exported.
func (s *Service) ExportActivities(ctx context.Context, o ExportOptions) (int, error) {
	if err := o.Publish(ctx); err != nil {
		return 0, err
	}
	var total int
	for after := uuid.Nil; ; {
		n, last, err := s.repo.ExportActivities(ctx, after, o.PageSize, o.All)
		if err != nil || last == uuid.Nil {
			return total, err
		}
		total += n
		if err := o.Publish(ctx); err != nil {
			return total, err
		}
		if o.Progress != nil {
			o.Progress(total)
		}
		after = last
	}
}
