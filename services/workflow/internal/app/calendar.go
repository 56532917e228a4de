package app

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

// FeedStore is what calendars need of the repository.
type FeedStore interface {
	InsertFeed(ctx context.Context, f *domain.Feed) error
	GetFeed(ctx context.Context, id uuid.UUID) (*domain.Feed, error)
	ListFeeds(ctx context.Context, owner string) ([]*domain.Feed, error)
	RevokeFeed(ctx context.Context, f *domain.Feed) error
	// CalendarActivities are an owner's scheduled activities due within
	// [from, to), and its open tasks due before from.
	CalendarActivities(ctx context.Context, owner string, from, to time.Time, limit int) ([]*domain.Activity, error)
	// OpenLeads are an owner's leads that are still being worked.
	OpenLeads(ctx context.Context, owner string, limit int) ([]*domain.Record, error)
}

// How far a calendar reaches, and how many items it holds at most.
const (
	CalendarPast   = 90 * 24 * time.Hour
	CalendarFuture = 366 * 24 * time.Hour
	CalendarLimit  = 5000
)

// CreateCalendarFeed makes the caller a calendar feed; the token is shown
// only now.
func (s *Service) CreateCalendarFeed(ctx context.Context) (*domain.Feed, string, error) {
	owner := auth.Actor(ctx)
	var token string
	var out *domain.Feed
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		fs, err := s.repo.ListFeeds(ctx, owner)
		if err != nil {
			return err
		}
		live := 0
		for _, f := range fs {
			if f.RevokedAt.IsZero() {
				live++
			}
		}
		if live >= domain.MaxFeedsPerUser {
			return apperr.FailedPrecondition("TOO_MANY_FEEDS", "%s has %d calendar feeds, the most there may be: revoke one first", owner, live)
		}
		out, token = domain.NewFeed(owner, s.now())
		return s.repo.InsertFeed(ctx, out)
	})
	return out, token, err
}

// ListCalendarFeeds lists the caller's feeds, revoked ones too.
func (s *Service) ListCalendarFeeds(ctx context.Context) ([]*domain.Feed, error) {
	return s.repo.ListFeeds(ctx, auth.Actor(ctx))
}

// RevokeCalendarFeed revokes one of the caller's feeds (an admin: anyone's);
// its URL is NOT_FOUND from now on.
func (s *Service) RevokeCalendarFeed(ctx context.Context, id uuid.UUID) (*domain.Feed, error) {
	var out *domain.Feed
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		f, err := s.repo.GetFeed(ctx, id)
		if err != nil {
			return err
		}
		if f.Owner != auth.Actor(ctx) && !authz.ScopeOf(ctx).Has(authz.Admin) {
			return domain.ErrFeedNotFound()
		}
		out = f
		if !f.RevokedAt.IsZero() {
			return nil
		}
		f.RevokedAt = s.now()
		return s.repo.RevokeFeed(ctx, f)
	})
	return out, err
}

// Calendar is the feed's items: its owner's scheduled activities (from
// CalendarPast ago to CalendarFuture ahead, and every open task), and
// the next-contact times of the leads it works. An unknown token, a wrong
// secret and a revoked feed are all NOT_FOUND.
func (s *Service) Calendar(ctx context.Context, token string) (*domain.Feed, []domain.CalendarItem, error) {
	id, secret, ok := domain.ParseToken(token)
	if !ok {
		return nil, nil, domain.ErrFeedNotFound()
	}
	f, err := s.repo.GetFeed(ctx, id)
	if err != nil || !f.Opens(secret) {
		return nil, nil, domain.ErrFeedNotFound()
	}
	now := s.now()
	as, err := s.repo.CalendarActivities(ctx, f.Owner, now.Add(-CalendarPast), now.Add(CalendarFuture), CalendarLimit)
	if err != nil {
		return nil, nil, err
	}
	items := make([]domain.CalendarItem, 0, len(as))
	for _, a := range as {
		items = append(items, domain.ActivityItem(a))
	}
	leads, err := s.repo.OpenLeads(ctx, f.Owner, CalendarLimit)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range leads {
		m := rules.NewRecordMessage(l.Type)
		if err := proto.Unmarshal(l.Message, m); err != nil {
			continue
		}
		if at, ok := rules.DateOf(m, "next_contact_time"); ok {
			updated, _ := rules.DateOf(m, "update_time")
			items = append(items, domain.LeadContactItem(l, at, updated))
		}
	}
	return f, items, nil
}
