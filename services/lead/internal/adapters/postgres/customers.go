package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

var _ app.CustomerKeys = (*Repo)(nil)

// SaveCustomerRecord keeps a contact's or account's duplicate keys
// (migration 013): unless the stored record is DELETED, or newer than c
// (a deletion wins at the same version: its event carries the record as it
// was), its row and keys are replaced.
func (r *Repo) SaveCustomerRecord(ctx context.Context, c domain.CustomerRecord) error {
	q := pg.Q(ctx, r.pool)
	var account any
	if c.Kind == domain.CustomerContact && c.AccountID != uuid.Nil {
		account = c.AccountID
	}
	var state string
	err := q.QueryRow(ctx, `INSERT INTO customer_records AS s (id, kind, display_name, account_id, version, state, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, display_name = excluded.display_name, account_id = excluded.account_id,
			version = excluded.version, state = excluded.state, updated_at = now()
		WHERE s.state <> 'DELETED' AND (s.version < excluded.version OR excluded.state = 'DELETED')
		RETURNING state`, c.ID, string(c.Kind), c.DisplayName, account, c.Version, string(c.State)).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // stale or gone for good
	}
	if err != nil {
		return fmt.Errorf("save customer record: %w", err)
	}
	keys := c.Keys(r.phoneRegion)
	rules, values := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		rules[i], values[i] = string(k.Rule), k.Key
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM customer_keys WHERE record_id = $1`, c.ID)
	if len(keys) > 0 {
		b.Queue(`INSERT INTO customer_keys (rule, key, record_id) SELECT rule, key, $3 FROM unnest($1::text[], $2::text[]) AS k (rule, key)
			ON CONFLICT DO NOTHING`, rules, values, c.ID)
	}
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("save customer keys: %w", err)
	}
	return nil
}

// MoveCustomerContacts implements app.CustomerKeys. The contacts' own
// versions are left as they are: the merge event carries only their ids,
// and their next event (a later version) replaces the row anyway.
func (r *Repo) MoveCustomerContacts(ctx context.Context, ids []uuid.UUID, account uuid.UUID) error {
	if _, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE customer_records SET account_id = $2, updated_at = now()
		WHERE id = ANY($1) AND kind = 'CONTACT' AND state <> 'DELETED'`, ids, account); err != nil {
		return fmt.Errorf("move customer contacts: %w", err)
	}
	return nil
}
