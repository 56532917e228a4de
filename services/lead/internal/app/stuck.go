package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// StuckConversions is what the stuck-conversion methods need of the
// repository.
type StuckConversions interface {
	// ListStuckConversions pages the leads whose conversion has been
	// PENDING since before `before`, oldest first.
	ListStuckConversions(ctx context.Context, before time.Time, pageSize int, pageToken string) ([]*domain.Lead, string, error)
	CountStuckConversions(ctx context.Context, before time.Time) (int, error)
}

// DefaultStuckAfter is how long a conversion may stay PENDING before it
// counts as stuck, unless configured (STUCK_CONVERSION_AFTER).
const DefaultStuckAfter = 5 * time.Minute

// WithStuckConversions gives the service its stuck-conversion reads;
// after is how long a conversion may stay PENDING.
func (s *Service) WithStuckConversions(r StuckConversions, after time.Duration) *Service {
	s.stuck, s.stuckAfter = r, after
	return s
}

// ListStuckConversions lists the conversions PENDING for longer than
// olderThan (0: the configured time).
func (s *Service) ListStuckConversions(ctx context.Context, olderThan time.Duration, pageSize int, pageToken string) ([]*domain.Lead, string, error) {
	if olderThan <= 0 {
		olderThan = s.stuckAfter
	}
	return s.stuck.ListStuckConversions(ctx, s.now().Add(-olderThan), pageSize, pageToken)
}

// CountStuckConversions counts the conversions PENDING for longer than
// the configured time (the gauge crm_lead_conversions_stuck).
func (s *Service) CountStuckConversions(ctx context.Context) (int, error) {
	return s.stuck.CountStuckConversions(ctx, s.now().Add(-s.stuckAfter))
}

// RetryConversion sends a PENDING conversion to the other services again.
func (s *Service) RetryConversion(ctx context.Context, id uuid.UUID, requestID string) (*domain.Lead, error) {
	return s.mutate(ctx, id, "", requestID, nil, func(l *domain.Lead) ([]domain.Event, error) {
		return l.RetryConversion(auth.Actor(ctx), s.now())
	})
}
