package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/recordmerge"
)

// Repoint implements app.Repository: one statement, whatever the number
// of leads; each re-pointed lead gets a new version (its etag changes) and
// an audit entry of its conversion's account or contact.
func (r *Repo) Repoint(ctx context.Context, m recordmerge.Merge) (int, error) {
	q := pg.Q(ctx, r.pool)
	key := "account_id"
	message := func(name string, ref uuid.UUID) proto.Message {
		return &leadv1.Lead{Name: name, Conversion: &leadv1.Conversion{Account: "accounts/" + ref.String()}}
	}
	if m.Kind == recordmerge.Contacts {
		key = "contact_id"
		message = func(name string, ref uuid.UUID) proto.Message {
			return &leadv1.Lead{Name: name, Conversion: &leadv1.Conversion{Contact: "contacts/" + ref.String()}}
		}
	}
	merged := make([]string, len(m.Merged))
	for i, id := range m.Merged {
		merged[i] = id.String()
	}
	rows, err := q.Query(ctx, `UPDATE leads l SET conversion = jsonb_set(l.conversion, '{`+key+`}', to_jsonb($2::text)),
			version = l.version + 1, updated_at = now(), updated_by = $3
		FROM leads old WHERE old.id = l.id AND old.conversion IS NOT NULL AND old.conversion ->> '`+key+`' = ANY($1)
		RETURNING l.id, (old.conversion ->> '`+key+`')::uuid`, merged, m.Survivor.String(), m.Actor)
	if err != nil {
		return 0, fmt.Errorf("re-point conversions: %w", err)
	}
	var (
		id, from uuid.UUID
		moved    []recordmerge.Repointed
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &from}, func() error {
		moved = append(moved, recordmerge.Repointed{Name: "leads/" + id.String(), From: from})
		return nil
	}); err != nil {
		return 0, fmt.Errorf("re-point conversions: %w", err)
	}
	entries, err := recordmerge.AuditEntries(ctx, m, moved, message)
	if err != nil {
		return 0, err
	}
	return len(moved), audit.Copy(ctx, q, entries)
}
