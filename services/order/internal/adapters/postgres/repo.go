// Package postgres stores orders, contracts, their history, the credit
// exposure, MRR and revenue ledgers and the projections of other
// services' events in the service's own schema. Every change, its ledger
// entries, timers and the outbox rows announcing it are written in one
// transaction.
package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	moneypb "google.golang.org/genproto/googleapis/type/money"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
	"github.com/crmsuite/crm/services/order/internal/protomap"
)

// Repo implements app.Repository.
type Repo struct {
	pool   *pgxpool.Pool
	outbox outbox.Writer
	pages  *paging.Codec
	now    func() time.Time
}

// New returns a repository over pool.
func New(pool *pgxpool.Pool, ow outbox.Writer, pages *paging.Codec) *Repo {
	return &Repo{pool: pool, outbox: ow, pages: pages, now: time.Now}
}

var _ app.Repository = (*Repo)(nil)

func (r *Repo) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return pg.InTx(ctx, r.pool, fn)
}

// ListAudit implements app.Repository.
func (r *Repo) ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error) {
	return audit.List(ctx, pg.Q(ctx, r.pool), r.pages, q)
}

// ---- lines ----

type lineJSON struct {
	ID              string `json:"id"`
	ProductCode     string `json:"product_code"`
	ProductName     string `json:"product_name"`
	Quantity        string `json:"quantity"`
	UnitPrice       string `json:"unit_price"`
	DiscountPercent string `json:"discount_percent,omitempty"`
	TaxRate         string `json:"tax_rate,omitempty"`
	Fulfilled       string `json:"fulfilled,omitempty"`
	Subtotal        string `json:"subtotal"`
	Discount        string `json:"discount"`
	Tax             string `json:"tax"`
	Total           string `json:"total"`
}

func linesJSON(lines []domain.Line) []lineJSON {
	out := make([]lineJSON, len(lines))
	for i, l := range lines {
		out[i] = lineJSON{ID: l.ID, ProductCode: l.ProductCode, ProductName: l.ProductName, Quantity: l.Quantity,
			UnitPrice: decimal(l.UnitPrice), DiscountPercent: l.DiscountPercent, TaxRate: l.TaxRate, Fulfilled: l.Fulfilled,
			Subtotal: decimal(l.Subtotal), Discount: decimal(l.Discount), Tax: decimal(l.Tax), Total: decimal(l.Total)}
	}
	return out
}

func linesOf(currency string, ls []lineJSON) ([]domain.Line, error) {
	out := make([]domain.Line, len(ls))
	for i, l := range ls {
		var errs [5]error
		out[i] = domain.Line{ID: l.ID, ProductCode: l.ProductCode, ProductName: l.ProductName, Quantity: l.Quantity,
			DiscountPercent: l.DiscountPercent, TaxRate: l.TaxRate, Fulfilled: l.Fulfilled}
		out[i].UnitPrice, errs[0] = money.FromDecimal(currency, l.UnitPrice)
		out[i].Subtotal, errs[1] = money.FromDecimal(currency, l.Subtotal)
		out[i].Discount, errs[2] = money.FromDecimal(currency, l.Discount)
		out[i].Tax, errs[3] = money.FromDecimal(currency, l.Tax)
		out[i].Total, errs[4] = money.FromDecimal(currency, l.Total)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("line %d: %w", i, err)
		}
		if out[i].Fulfilled == "" {
			out[i].Fulfilled = "0"
		}
	}
	return out, nil
}

func decimal(m *moneypb.Money) string {
	if m == nil {
		return "0"
	}
	return money.Decimal(m)
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "0"
	}
	return domain.DecimalString(r)
}

func parseRat(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal", s)
	}
	return r, nil
}

func nullUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullDate(d domain.Date) *time.Time {
	if d.IsZero() {
		return nil
	}
	t := d.Time()
	return &t
}

func dateOf(t *time.Time) domain.Date {
	if t == nil {
		return domain.Date{}
	}
	return domain.Date{Year: t.Year(), Month: int(t.Month()), Day: t.Day()}
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func uuidOf(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

// ---- orders ----

type creditJSON struct {
	Result         string    `json:"result"`
	Limit          string    `json:"limit,omitempty"`
	LimitCurrency  string    `json:"limit_currency,omitempty"`
	Exposure       string    `json:"exposure"`
	Amount         string    `json:"amount"`
	OverrideReason string    `json:"override_reason,omitempty"`
	By             string    `json:"by"`
	At             time.Time `json:"at"`
}

var (
	orderList = []string{"id", "display_name", "account_id", "contact_id", "owner", "currency_code", "lines", "subtotal", "discount",
		"tax", "total", "status", "expected_fulfillment_date", "description", "source_opportunity_id", "from_win", "source_lead_id",
		"credit_check", "payment_terms", "exposure", "closed_from", "hold_reason", "cancel_reason", "confirmed_at", "fulfilled_at",
		"closed_at", "cancelled_at", "created_at", "created_by", "updated_at", "updated_by", "version", "last_line_id"}
	orderColumns = strings.Join(orderList, ", ")
	insertOrder  = "INSERT INTO orders (" + orderColumns + ") VALUES (" + pg.Placeholders(1, len(orderList)) + ") ON CONFLICT DO NOTHING"
	updateOrder  = "UPDATE orders SET (" + strings.Join(orderList[1:], ", ") + ") = (" + pg.Placeholders(2, len(orderList)) + ") WHERE id = $1"
)

func orderArgs(o *domain.Order) []any {
	lj, _ := json.Marshal(linesJSON(o.Lines))
	var credit []byte
	if c := o.Credit; c != nil {
		cj := creditJSON{Result: string(c.Result), Exposure: decimal(c.Exposure), Amount: decimal(c.Amount),
			OverrideReason: c.OverrideReason, By: c.By, At: c.At}
		if c.Limit != nil {
			cj.Limit, cj.LimitCurrency = money.Decimal(c.Limit), c.Limit.GetCurrencyCode()
		}
		credit, _ = json.Marshal(cj)
	}
	return []any{o.ID, o.DisplayName, o.AccountID, nullUUID(o.ContactID), o.Owner, o.Currency, lj,
		decimal(o.Totals.Subtotal), decimal(o.Totals.Discount), decimal(o.Totals.Tax), decimal(o.Totals.Total),
		string(o.Status), nullDate(o.Expected), o.Description, nullUUID(o.SourceOpportunity), o.FromWin, nullUUID(o.SourceLead),
		credit, o.PaymentTerms, ratString(o.Exposure), string(o.ClosedFrom), o.HoldReason, o.CancelReason,
		nullTime(o.ConfirmedAt), nullTime(o.FulfilledAt), nullTime(o.ClosedAt), nullTime(o.CancelledAt),
		o.CreatedAt, o.CreatedBy, o.UpdatedAt, o.UpdatedBy, o.Version, o.LastLineID}
}

func scanOrder(row pgx.Row) (*domain.Order, error) {
	var (
		o                                  domain.Order
		contact, sourceOpp, sourceLead     *uuid.UUID
		lj, credit                         []byte
		sub, disc, tax, total, exposure    string
		status, closedFrom                 string
		expected                           *time.Time
		confirmed, fulfilled, closed, canc *time.Time
	)
	err := row.Scan(&o.ID, &o.DisplayName, &o.AccountID, &contact, &o.Owner, &o.Currency, &lj, &sub, &disc, &tax, &total,
		&status, &expected, &o.Description, &sourceOpp, &o.FromWin, &sourceLead, &credit, &o.PaymentTerms, &exposure,
		&closedFrom, &o.HoldReason, &o.CancelReason, &confirmed, &fulfilled, &closed, &canc,
		&o.CreatedAt, &o.CreatedBy, &o.UpdatedAt, &o.UpdatedBy, &o.Version, &o.LastLineID)
	if err != nil {
		return nil, err
	}
	o.ContactID, o.SourceOpportunity, o.SourceLead = uuidOf(contact), uuidOf(sourceOpp), uuidOf(sourceLead)
	o.Status, o.ClosedFrom, o.Expected = domain.Status(status), domain.Status(closedFrom), dateOf(expected)
	o.ConfirmedAt, o.FulfilledAt, o.ClosedAt, o.CancelledAt = timeOf(confirmed), timeOf(fulfilled), timeOf(closed), timeOf(canc)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	var errs [6]error
	o.Totals.Subtotal, errs[0] = money.FromDecimal(o.Currency, sub)
	o.Totals.Discount, errs[1] = money.FromDecimal(o.Currency, disc)
	o.Totals.Tax, errs[2] = money.FromDecimal(o.Currency, tax)
	o.Totals.Total, errs[3] = money.FromDecimal(o.Currency, total)
	o.Exposure, errs[4] = parseRat(exposure)
	var ls []lineJSON
	errs[5] = json.Unmarshal(lj, &ls)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	if o.Lines, err = linesOf(o.Currency, ls); err != nil {
		return nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	if len(credit) > 0 {
		var cj creditJSON
		if err := json.Unmarshal(credit, &cj); err != nil {
			return nil, fmt.Errorf("order %s credit check: %w", o.ID, err)
		}
		c := &domain.CreditCheck{Result: domain.CreditResult(cj.Result), OverrideReason: cj.OverrideReason, By: cj.By, At: cj.At.UTC()}
		c.Exposure, _ = money.FromDecimal(o.Currency, cj.Exposure)
		c.Amount, _ = money.FromDecimal(o.Currency, cj.Amount)
		if cj.Limit != "" {
			c.Limit, _ = money.FromDecimal(cj.LimitCurrency, cj.Limit)
		}
		o.Credit = c
	}
	return &o, nil
}

func (r *Repo) InsertOrder(ctx context.Context, o *domain.Order, ch app.Change) (bool, error) {
	created := false
	err := r.InTx(ctx, func(ctx context.Context) error {
		tag, err := pg.Q(ctx, r.pool).Exec(ctx, insertOrder, orderArgs(o)...)
		if err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		if created = tag.RowsAffected() == 1; !created {
			return nil
		}
		return r.orderWritten(ctx, nil, o, ch)
	})
	return created, err
}

// SaveOrder implements app.Repository; the caller holds the row lock.
func (r *Repo) SaveOrder(ctx context.Context, o *domain.Order, ch app.Change) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		old := ch.Before
		if old == nil {
			var err error
			if old, err = r.readOrder(ctx, "id = $1", "", o.ID); err != nil {
				return err
			}
		}
		if _, err := pg.Q(ctx, r.pool).Exec(ctx, updateOrder, orderArgs(o)...); err != nil {
			return fmt.Errorf("update order: %w", err)
		}
		return r.orderWritten(ctx, old, o, ch)
	})
}

// orderWritten writes, in one round trip, what goes with a change of an
// order from old (nil: created) to o: the audit entry, the history
// entries, the outbox rows of its events and its move in the revenue
// forecast.
func (r *Repo) orderWritten(ctx context.Context, old, o *domain.Order, ch app.Change) error {
	var before *orderv1.Order
	if old != nil {
		before = protomap.Order(old)
	}
	entry, err := audit.New(ctx, before, protomap.Order(o), ch.RequestID)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	audit.Queue(b, entry)
	queueStatusChanges(b, ch.History...)
	moved := revenueDeltas{}
	if old != nil {
		if month, owner, cur, amount, ok := old.RevenueContribution(); ok {
			moved.add(revenueKey{month.Time(), owner, cur}, new(big.Rat).Neg(amount), -1, nil, 0)
		}
	}
	if month, owner, cur, amount, ok := o.RevenueContribution(); ok {
		moved.add(revenueKey{month.Time(), owner, cur}, amount, 1, nil, 0)
	}
	moved.queue(b)
	for _, ev := range ch.Events {
		m, err := protomap.OrderEvent(events.NewMeta(ctx, ch.RequestID, o.UpdatedAt), o, ev)
		if err != nil {
			return err
		}
		msg, err := r.outbox.Message(ctx, o.ID.String(), m)
		if err != nil {
			return err
		}
		outbox.Queue(b, msg)
	}
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("order change: %w", err)
	}
	return nil
}

func queueStatusChanges(b *pgx.Batch, cs ...*domain.StatusChange) {
	for _, c := range cs {
		b.Queue(`INSERT INTO order_status_changes (id, order_id, from_status, to_status, reason, actor, changed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, c.OrderID, string(c.From), string(c.To), c.Reason, c.Actor, c.At)
	}
}

// revenueDeltas are what a transaction moves in the monthly cells of the
// revenue forecast, by cell.
type revenueDeltas map[revenueKey]*revenueDelta

type revenueDelta struct {
	orders, contracts   *big.Rat
	orderCount, periods int
}

func (d revenueDeltas) add(k revenueKey, orders *big.Rat, orderCount int, contracts *big.Rat, periods int) {
	c, ok := d[k]
	if !ok {
		c = &revenueDelta{orders: new(big.Rat), contracts: new(big.Rat)}
		d[k] = c
	}
	if orders != nil {
		c.orders.Add(c.orders, orders)
	}
	if contracts != nil {
		c.contracts.Add(c.contracts, contracts)
	}
	c.orderCount += orderCount
	c.periods += periods
}

// queue adds the cells that move to b in one order (month, owner,
// currency): transactions moving the same cells lock them in the same
// order, so they take turns instead of deadlocking. (In map order, two
// contracts of one owner activated at once deadlocked.)
func (d revenueDeltas) queue(b *pgx.Batch) {
	keys := make([]revenueKey, 0, len(d))
	for k, c := range d {
		if c.orders.Sign() != 0 || c.contracts.Sign() != 0 || c.orderCount != 0 || c.periods != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b revenueKey) int {
		return cmp.Or(a.month.Compare(b.month), strings.Compare(a.owner, b.owner), strings.Compare(a.currency, b.currency))
	})
	for _, k := range keys {
		c := d[k]
		b.Queue(`INSERT INTO revenue_monthly AS r (month, owner, currency_code, order_amount, order_count, contract_amount, period_count)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (month, owner, currency_code) DO UPDATE SET
				order_amount = r.order_amount + EXCLUDED.order_amount, order_count = r.order_count + EXCLUDED.order_count,
				contract_amount = r.contract_amount + EXCLUDED.contract_amount, period_count = r.period_count + EXCLUDED.period_count`,
			k.month, k.owner, k.currency, ratString(c.orders), c.orderCount, ratString(c.contracts), c.periods)
	}
}

func (r *Repo) AddOrderNotes(ctx context.Context, notes ...*domain.StatusChange) error {
	b := &pgx.Batch{}
	queueStatusChanges(b, notes...)
	return pg.Q(ctx, r.pool).SendBatch(ctx, b).Close()
}

func (r *Repo) GetOrder(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
	return r.readOrder(ctx, "id = $1", "", id)
}

func (r *Repo) LockOrder(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
	return r.readOrder(ctx, "id = $1", " FOR UPDATE", id)
}

func (r *Repo) LockOrderOfOpportunity(ctx context.Context, opportunity uuid.UUID) (*domain.Order, error) {
	return r.readOrder(ctx, "source_opportunity_id = $1 AND from_win", " FOR UPDATE", opportunity)
}

func (r *Repo) readOrder(ctx context.Context, where, lock string, id uuid.UUID) (*domain.Order, error) {
	o, err := scanOrder(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrOrderNotFound(id)
	}
	return o, err
}

// ---- credit exposure ----

func (r *Repo) LockExposure(ctx context.Context, account uuid.UUID, currency string) (*big.Rat, error) {
	q := pg.Q(ctx, r.pool)
	var amount string
	err := q.QueryRow(ctx, `SELECT amount::text FROM credit_exposure WHERE account_id = $1 AND currency_code = $2 FOR UPDATE`,
		account, currency).Scan(&amount)
	if errors.Is(err, pgx.ErrNoRows) {
		// The first exposure of the account in this currency; a racing
		// first insert makes this one wait on its row.
		err = q.QueryRow(ctx, `INSERT INTO credit_exposure AS e (account_id, currency_code) VALUES ($1, $2)
			ON CONFLICT (account_id, currency_code) DO UPDATE SET amount = e.amount RETURNING amount::text`,
			account, currency).Scan(&amount)
	}
	if err != nil {
		return nil, fmt.Errorf("lock exposure: %w", err)
	}
	return parseRat(amount)
}

func (r *Repo) AddExposure(ctx context.Context, account uuid.UUID, currency string, order uuid.UUID, delta *big.Rat, reason string) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE credit_exposure SET amount = amount + $3, updated_at = now() WHERE account_id = $1 AND currency_code = $2`,
		account, currency, ratString(delta))
	b.Queue(`INSERT INTO credit_ledger (account_id, currency_code, order_id, delta, balance, reason, actor)
		SELECT $1, $2, $3, $4, amount, $5, $6 FROM credit_exposure WHERE account_id = $1 AND currency_code = $2`,
		account, currency, order, ratString(delta), reason, auth.Actor(ctx))
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("add exposure: %w", err)
	}
	return nil
}

// ---- projections ----

func (r *Repo) AccountOwner(ctx context.Context, account uuid.UUID) (string, error) {
	var owner string
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT owner FROM account_owners WHERE account_id = $1`, account).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

func (r *Repo) AccountOwners(ctx context.Context, accounts []uuid.UUID) (map[uuid.UUID]string, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT account_id, owner FROM account_owners WHERE account_id = ANY($1)`, accounts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var owner string
		if err := rows.Scan(&id, &owner); err != nil {
			return nil, err
		}
		out[id] = owner
	}
	return out, rows.Err()
}

func (r *Repo) SetAccountOwner(ctx context.Context, account uuid.UUID, owner string, seq uint64) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO account_owners AS a (account_id, owner, seq) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET owner = EXCLUDED.owner, seq = EXCLUDED.seq WHERE a.seq < EXCLUDED.seq`,
		account, owner, int64(seq))
	return err
}

func (r *Repo) RecordWin(ctx context.Context, w app.Win) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO opportunity_wins (opportunity_id, account_id, owner, won) VALUES ($1, $2, $3, $4)
		ON CONFLICT (opportunity_id) DO UPDATE SET account_id = EXCLUDED.account_id, owner = EXCLUDED.owner, won = EXCLUDED.won, updated_at = now()`,
		w.OpportunityID, w.AccountID, w.Owner, w.Won)
	return err
}

func (r *Repo) GetWin(ctx context.Context, opportunity uuid.UUID) (app.Win, bool, error) {
	w := app.Win{OpportunityID: opportunity}
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT account_id, owner, won FROM opportunity_wins WHERE opportunity_id = $1`, opportunity).
		Scan(&w.AccountID, &w.Owner, &w.Won)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, false, nil
	}
	return w, err == nil, err
}
