package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/account/internal/app"
	"github.com/crmsuite/crm/services/account/internal/domain"
	"github.com/crmsuite/crm/services/account/internal/protomap"
)

// LockAccounts implements app.MergeStore.
func (r *Repo) LockAccounts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.Account, error) {
	out := map[uuid.UUID]*domain.Account{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = ANY($1) ORDER BY a.id FOR UPDATE OF a`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock accounts: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*domain.Account, error) { return scanAccount(row) })
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		out[a.ID] = a
	}
	for _, id := range ids {
		if out[id] == nil {
			return nil, domain.ErrAccountNotFound(id)
		}
	}
	return out, nil
}

// LockContacts implements app.MergeStore.
func (r *Repo) LockContacts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.Contact, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock contacts: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*domain.Contact, error) { return scanContact(row) })
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]*domain.Contact{}
	for _, c := range cs {
		out[c.ID] = c
	}
	for _, id := range ids {
		if out[id] == nil {
			return nil, domain.ErrContactNotFound(id)
		}
	}
	return out, nil
}

// OpenOrders implements app.MergeStore.
func (r *Repo) OpenOrders(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]domain.OpenOrders, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT account_id, currency_code, count(*) FROM orders
		WHERE account_id = ANY($1) AND status NOT IN ('CLOSED', 'CANCELLED') GROUP BY account_id, currency_code`, ids)
	if err != nil {
		return nil, fmt.Errorf("open orders: %w", err)
	}
	out := map[uuid.UUID]domain.OpenOrders{}
	var (
		id  uuid.UUID
		cur string
		n   int
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &cur, &n}, func() error {
		if out[id] == nil {
			out[id] = domain.OpenOrders{}
		}
		out[id][cur] = n
		return nil
	})
	return out, err
}

// ContactsOf implements app.MergeStore.
func (r *Repo) ContactsOf(ctx context.Context, ids []uuid.UUID) ([]uuid.UUID, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT id FROM contacts WHERE account_id = ANY($1) ORDER BY created_at, id`, ids)
	if err != nil {
		return nil, fmt.Errorf("contacts of accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if out == nil {
		out = []uuid.UUID{}
	}
	return out, err
}

// MoveContacts implements app.MergeStore: one statement, whatever the
// number of contacts (a moved primary is demoted in it unless kept). Each
// moved contact's version moves on (its etag changes) and its audit trail
// shows the move.
func (r *Repo) MoveContacts(ctx context.Context, from []uuid.UUID, survivor, keepPrimary uuid.UUID, actor string) error {
	q := pg.Q(ctx, r.pool)
	rows, err := q.Query(ctx, `UPDATE contacts c SET account_id = $2, is_primary = c.is_primary AND c.id = $4,
			version = c.version + 1, updated_at = now(), updated_by = $3
		FROM contacts old WHERE old.id = c.id AND old.account_id = ANY($1)
		RETURNING c.`+strings.Join(contactReadList, ", c.")+`, old.account_id, old.is_primary`, from, survivor, actor, keepPrimary)
	if err != nil {
		return fmt.Errorf("move contacts: %w", err)
	}
	type move struct {
		c          *domain.Contact
		oldAccount uuid.UUID
		oldPrimary bool
	}
	moved, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (move, error) {
		var m move
		c, err := scanContact(row, &m.oldAccount, &m.oldPrimary)
		m.c = c
		return m, err
	})
	if err != nil {
		return err
	}
	for _, m := range moved {
		after := protomap.Contact(m.c)
		before := protomap.Contact(m.c)
		before.Account, before.Primary = protomap.AccountName(m.oldAccount), m.oldPrimary
		if err := audit.Record(ctx, q, before, after, ""); err != nil {
			return err
		}
	}
	return nil
}

// SaveMergedAccounts implements app.MergeStore.
func (r *Repo) SaveMergedAccounts(ctx context.Context, survivor *domain.Account, merged []*domain.Account, ch app.Change) error {
	q := pg.Q(ctx, r.pool)
	ids := make([]uuid.UUID, len(merged))
	for i, m := range merged {
		ids[i] = m.ID
		if err := r.SaveAccount(ctx, m, app.Change{RequestID: ch.RequestID}); err != nil {
			return err
		}
	}
	if _, err := q.Exec(ctx, `UPDATE orders SET account_id = $2 WHERE account_id = ANY($1)`, ids, survivor.ID); err != nil {
		return fmt.Errorf("re-point projected orders: %w", err)
	}
	return r.SaveAccount(ctx, survivor, ch)
}

// SaveMergedContacts implements app.MergeStore: the merged contacts first,
// so a primary flag handed to the survivor is free when it is saved.
func (r *Repo) SaveMergedContacts(ctx context.Context, survivor *domain.Contact, merged []*domain.Contact, region string, ch app.Change) error {
	for _, m := range merged {
		if err := r.SaveContact(ctx, m, region, app.Change{RequestID: ch.RequestID}); err != nil {
			return err
		}
	}
	return r.SaveContact(ctx, survivor, region, ch)
}

// ApplyOrder implements app.Repository.
func (r *Repo) ApplyOrder(ctx context.Context, o app.OrderFact) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO orders (id, account_id, currency_code, status, version)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, currency_code = excluded.currency_code,
			status = excluded.status, version = excluded.version
		WHERE orders.version < excluded.version`, o.ID, o.AccountID, o.CurrencyCode, o.Status, o.Version)
	if err != nil {
		return fmt.Errorf("project order: %w", err)
	}
	return nil
}
