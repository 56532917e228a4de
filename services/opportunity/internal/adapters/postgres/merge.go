package postgres

import (
	"context"
	"fmt"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/recordmerge"
)

// Repoint implements app.Repository: one statement, whatever the number
// of opportunities; each moved one gets a new version (its etag changes).
func (r *Repo) Repoint(ctx context.Context, m recordmerge.Merge) (int, error) {
	col := "account_id"
	if m.Kind == recordmerge.Contacts {
		col = "contact_id"
	}
	tag, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE opportunities SET `+col+` = $2, version = version + 1, updated_at = now(), updated_by = $3
		WHERE `+col+` = ANY($1)`, m.Merged, m.Survivor, m.Actor)
	if err != nil {
		return 0, fmt.Errorf("re-point opportunities: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
