package postgres

import (
	"context"
	"fmt"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/recordmerge"
)

// Repoint implements app.Repository. Every moved order and contract gets
// a new version (its etag changes); the exposure of the merged accounts
// adds to the survivor's, and their ledger follows, so the ledger still
// sums to the exposure per account and currency.
func (r *Repo) Repoint(ctx context.Context, m recordmerge.Merge) (int, error) {
	q := pg.Q(ctx, r.pool)
	col := "account_id"
	if m.Kind == recordmerge.Contacts {
		col = "contact_id"
	}
	moved := 0
	for _, table := range []string{"orders", "contracts"} {
		tag, err := q.Exec(ctx, `UPDATE `+table+` SET `+col+` = $2, version = version + 1, updated_at = now(), updated_by = $3
			WHERE `+col+` = ANY($1)`, m.Merged, m.Survivor, m.Actor)
		if err != nil {
			return 0, fmt.Errorf("re-point %s: %w", table, err)
		}
		moved += int(tag.RowsAffected())
	}
	if m.Kind == recordmerge.Contacts {
		return moved, nil
	}
	if _, err := q.Exec(ctx, `WITH gone AS (DELETE FROM credit_exposure WHERE account_id = ANY($1) RETURNING currency_code, amount)
		INSERT INTO credit_exposure AS e (account_id, currency_code, amount)
		SELECT $2, currency_code, sum(amount) FROM gone GROUP BY currency_code
		ON CONFLICT (account_id, currency_code) DO UPDATE SET amount = e.amount + EXCLUDED.amount, updated_at = now()`,
		m.Merged, m.Survivor); err != nil {
		return 0, fmt.Errorf("move credit exposure: %w", err)
	}
	for _, stmt := range []string{
		`UPDATE credit_ledger SET account_id = $2 WHERE account_id = ANY($1)`,
		`UPDATE opportunity_wins SET account_id = $2 WHERE account_id = ANY($1)`,
	} {
		if _, err := q.Exec(ctx, stmt, m.Merged, m.Survivor); err != nil {
			return 0, fmt.Errorf("re-point: %w", err)
		}
	}
	return moved, nil
}
