package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

const feedColumns = "id, owner, token_prefix, token_hash, created_at, revoked_at"

func scanFeed(row pgx.Row) (*domain.Feed, error) {
	var f domain.Feed
	var revoked *time.Time
	if err := row.Scan(&f.ID, &f.Owner, &f.TokenPrefix, &f.SecretHash, &f.CreatedAt, &revoked); err != nil {
		return nil, err
	}
	f.CreatedAt, f.RevokedAt = f.CreatedAt.UTC(), timeOf(revoked)
	return &f, nil
}

func (r *Repo) InsertFeed(ctx context.Context, f *domain.Feed) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO calendar_feeds (`+feedColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		f.ID, f.Owner, f.TokenPrefix, f.SecretHash, f.CreatedAt, nullTime(f.RevokedAt))
	return err
}

func (r *Repo) GetFeed(ctx context.Context, id uuid.UUID) (*domain.Feed, error) {
	f, err := scanFeed(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+feedColumns+` FROM calendar_feeds WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrFeedNotFound()
	}
	return f, err
}

func (r *Repo) ListFeeds(ctx context.Context, owner string) ([]*domain.Feed, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+feedColumns+` FROM calendar_feeds WHERE owner = $1 ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanFeed)
}

func (r *Repo) RevokeFeed(ctx context.Context, f *domain.Feed) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE calendar_feeds SET revoked_at = $2 WHERE id = $1`, f.ID, nullTime(f.RevokedAt))
	return err
}

func (r *Repo) CalendarActivities(ctx context.Context, owner string, from, to time.Time, limit int) ([]*domain.Activity, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `(SELECT `+activityColumns+` FROM activities
			WHERE owner = $1 AND due_at >= $2 AND due_at < $3 ORDER BY due_at LIMIT $4)
		UNION ALL
		(SELECT `+activityColumns+` FROM activities
			WHERE owner = $1 AND status = 'OPEN' AND due_at < $2 ORDER BY due_at LIMIT $4)`, owner, from, to, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanActivity)
}

func (r *Repo) OpenLeads(ctx context.Context, owner string, limit int) ([]*domain.Record, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+recordColumns+` FROM records
		WHERE owner = $1 AND type = 'LEAD' AND NOT deleted AND status IN ('NEW', 'CONTACTED', 'NURTURING')
		ORDER BY name LIMIT $2`, owner, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRecord)
}
