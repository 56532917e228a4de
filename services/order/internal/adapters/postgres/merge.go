package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/recordmerge"
)

// Repoint implements app.Repository. Every moved order and contract gets
// a new version (its etag changes) and an audit entry; the exposure of
// the merged accounts adds to the survivor's, and their ledger follows, so
// the ledger still sums to the exposure per account and currency.
func (r *Repo) Repoint(ctx context.Context, m recordmerge.Merge) (int, error) {
	q := pg.Q(ctx, r.pool)
	ref := func(ref uuid.UUID) string { return string(m.Kind) + "/" + ref.String() }
	col, orderMsg, contractMsg := "account_id",
		func(name string, id uuid.UUID) proto.Message { return &orderv1.Order{Name: name, Account: ref(id)} },
		func(name string, id uuid.UUID) proto.Message { return &orderv1.Contract{Name: name, Account: ref(id)} }
	if m.Kind == recordmerge.Contacts {
		col, orderMsg, contractMsg = "contact_id",
			func(name string, id uuid.UUID) proto.Message { return &orderv1.Order{Name: name, Contact: ref(id)} },
			func(name string, id uuid.UUID) proto.Message { return &orderv1.Contract{Name: name, Contact: ref(id)} }
	}
	orders, err := recordmerge.RepointTable(ctx, q, "orders", col, "orders", m, orderMsg)
	if err != nil {
		return 0, err
	}
	contracts, err := recordmerge.RepointTable(ctx, q, "contracts", col, "contracts", m, contractMsg)
	if err != nil {
		return 0, err
	}
	if m.Kind == recordmerge.Contacts {
		return orders + contracts, nil
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
	return orders + contracts, nil
}
