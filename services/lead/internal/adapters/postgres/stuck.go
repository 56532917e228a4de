package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

type stuckCursor struct {
	At time.Time `json:"at"`
	ID uuid.UUID `json:"id"`
}

// stuckWhere are conversions PENDING since before $1 (index
// leads_pending_conversion).
const stuckWhere = `conversion ->> 'state' = 'PENDING' AND qualified_at < $1`

// ListStuckConversions implements app.Repository.
func (r *Repo) ListStuckConversions(ctx context.Context, before time.Time, pageSize int, pageToken string) ([]*domain.Lead, string, error) {
	const key = "stuckConversions"
	args := []any{before}
	where := stuckWhere
	if pageToken != "" {
		var c stuckCursor
		if err := r.pages.Decode(pageToken, key, &c); err != nil {
			return nil, "", err
		}
		args = append(args, c.At, c.ID)
		where += " AND (qualified_at, id) > ($2, $3)"
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM leads WHERE %s ORDER BY qualified_at, id LIMIT $%d`, leadColumns, where, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	leads, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*domain.Lead, error) { return scanLead(row) })
	if err != nil || len(leads) <= pageSize {
		return leads, "", err
	}
	leads = leads[:pageSize]
	last := leads[pageSize-1]
	next, err := r.pages.Encode(key, stuckCursor{At: *last.QualifiedAt, ID: last.ID})
	return leads, next, err
}

// CountStuckConversions implements app.Repository.
func (r *Repo) CountStuckConversions(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT count(*) FROM leads WHERE `+stuckWhere, before).Scan(&n)
	return n, err
}
