package postgres

import (
	"context"
	"fmt"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/recordmerge"
)

// Repoint implements app.Repository: one statement, whatever the number
// of leads; each re-pointed lead gets a new version (its etag changes).
func (r *Repo) Repoint(ctx context.Context, m recordmerge.Merge) (int, error) {
	key := "account_id"
	if m.Kind == recordmerge.Contacts {
		key = "contact_id"
	}
	merged := make([]string, len(m.Merged))
	for i, id := range m.Merged {
		merged[i] = id.String()
	}
	tag, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE leads SET conversion = jsonb_set(conversion, '{`+key+`}', to_jsonb($2::text)),
			version = version + 1, updated_at = now(), updated_by = $3
		WHERE conversion IS NOT NULL AND conversion ->> '`+key+`' = ANY($1)`, merged, m.Survivor.String(), m.Actor)
	if err != nil {
		return 0, fmt.Errorf("re-point conversions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
