package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
	"github.com/crmsuite/crm/services/order/internal/protomap"
)

const rateColumns = `id, base_currency, quote_currency, rate::text, effective_date, source, created_at, created_by, updated_at, updated_by, version`

func scanRate(row pgx.Row) (*domain.ExchangeRate, error) {
	var r domain.ExchangeRate
	var day time.Time
	if err := row.Scan(&r.ID, &r.Base, &r.Quote, &r.Rate, &day, &r.Source, &r.CreatedAt, &r.CreatedBy, &r.UpdatedAt, &r.UpdatedBy, &r.Version); err != nil {
		return nil, err
	}
	r.EffectiveDate = domain.DateOf(day)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

func errRateNotFound(id uuid.UUID) error {
	return apperr.NotFound("EXCHANGE_RATE_NOT_FOUND", "exchange rate %s not found", id)
}

// InsertExchangeRate implements app.Repository.
func (r *Repo) InsertExchangeRate(ctx context.Context, x *domain.ExchangeRate, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO exchange_rates (id, base_currency, quote_currency, rate, effective_date,
			source, created_at, created_by, updated_at, updated_by, version)
			VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10, $11)`,
			x.ID, x.Base, x.Quote, x.Rate, x.EffectiveDate.Time(), x.Source, x.CreatedAt, x.CreatedBy, x.UpdatedAt, x.UpdatedBy, x.Version)
		if pg.IsUniqueViolation(err, "exchange_rates_pair_date") {
			return apperr.AlreadyExists("EXCHANGE_RATE_EXISTS", "%s has a rate effective %s already: correct that one", x.Pair(), x.EffectiveDate).
				WithMeta("base_currency", x.Base).WithMeta("quote_currency", x.Quote).WithMeta("effective_date", x.EffectiveDate.String())
		}
		if err != nil {
			return fmt.Errorf("insert exchange rate: %w", err)
		}
		return r.rateWritten(ctx, nil, x, requestID, false)
	})
}

func (r *Repo) GetExchangeRate(ctx context.Context, id uuid.UUID) (*domain.ExchangeRate, error) {
	return r.readRate(ctx, id, "")
}

func (r *Repo) LockExchangeRate(ctx context.Context, id uuid.UUID) (*domain.ExchangeRate, error) {
	return r.readRate(ctx, id, " FOR UPDATE")
}

func (r *Repo) readRate(ctx context.Context, id uuid.UUID, lock string) (*domain.ExchangeRate, error) {
	x, err := scanRate(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+rateColumns+` FROM exchange_rates WHERE id = $1`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errRateNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("read exchange rate: %w", err)
	}
	return x, nil
}

// SaveExchangeRate implements app.Repository (in the caller's transaction).
func (r *Repo) SaveExchangeRate(ctx context.Context, before, after *domain.ExchangeRate) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE exchange_rates SET rate = $2::numeric, source = $3, updated_at = $4, updated_by = $5, version = $6
		WHERE id = $1`, after.ID, after.Rate, after.Source, after.UpdatedAt, after.UpdatedBy, after.Version)
	if err != nil {
		return fmt.Errorf("update exchange rate: %w", err)
	}
	return r.rateWritten(ctx, before, after, "", false)
}

// DeleteExchangeRate implements app.Repository (in the caller's
// transaction). The event carries the rate as it was, at the next
// revision, so that a consumer ranks it after every change.
func (r *Repo) DeleteExchangeRate(ctx context.Context, x *domain.ExchangeRate, actor string, at time.Time) error {
	if _, err := pg.Q(ctx, r.pool).Exec(ctx, `DELETE FROM exchange_rates WHERE id = $1`, x.ID); err != nil {
		return fmt.Errorf("delete exchange rate: %w", err)
	}
	gone := *x
	gone.Version++
	gone.UpdatedAt, gone.UpdatedBy = at, actor
	return r.rateWritten(ctx, x, &gone, "", true)
}

// rateWritten writes the audit entry and the event of a rate's change.
func (r *Repo) rateWritten(ctx context.Context, before, after *domain.ExchangeRate, requestID string, deleted bool) error {
	var b, a *orderv1.ExchangeRate
	if before != nil {
		b = protomap.ExchangeRate(before)
	}
	if !deleted {
		a = protomap.ExchangeRate(after)
	}
	entry, err := audit.New(ctx, b, a, requestID)
	if err != nil {
		return err
	}
	msg, err := r.outbox.Message(ctx, after.ID.String(), protomap.ExchangeRateEvent(events.NewMeta(ctx, requestID, after.UpdatedAt), after, deleted))
	if err != nil {
		return err
	}
	batch := &pgx.Batch{}
	audit.Queue(batch, entry)
	outbox.Queue(batch, msg)
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("exchange rate change: %w", err)
	}
	return nil
}

type rateCursor struct {
	Base, Quote string
	Day         time.Time
	ID          uuid.UUID
}

// ListExchangeRates implements app.Repository: by pair, then date.
func (r *Repo) ListExchangeRates(ctx context.Context, q app.RateQuery) ([]*domain.ExchangeRate, string, error) {
	queryKey := "exchange_rates\x00" + q.Base + "\x00" + q.Quote
	args := []any{q.Base, q.Quote}
	where := "($1 = '' OR base_currency = $1) AND ($2 = '' OR quote_currency = $2)"
	if q.PageToken != "" {
		var c rateCursor
		if err := r.pages.Decode(q.PageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		args = append(args, c.Base, c.Quote, c.Day, c.ID)
		where += " AND (base_currency, quote_currency, effective_date, id) > ($3, $4, $5, $6)"
	}
	args = append(args, q.PageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM exchange_rates WHERE %s
		ORDER BY base_currency, quote_currency, effective_date, id LIMIT $%d`, rateColumns, where, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list exchange rates: %w", err)
	}
	out, err := collect(rows, scanRate)
	if err != nil || len(out) <= q.PageSize {
		return out, "", err
	}
	out = out[:q.PageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode(queryKey, rateCursor{Base: last.Base, Quote: last.Quote, Day: last.EffectiveDate.Time(), ID: last.ID})
	return out, next, err
}

// LatestRate implements app.Repository (money.RateLookup): a backward scan
// of the pair's index.
func (r *Repo) LatestRate(ctx context.Context, base, quote string, day time.Time) (money.ExchangeRate, bool, error) {
	var id uuid.UUID
	out := money.ExchangeRate{Base: base, Quote: quote}
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT id, rate::text, effective_date FROM exchange_rates
		WHERE base_currency = $1 AND quote_currency = $2 AND effective_date <= $3
		ORDER BY effective_date DESC LIMIT 1`, base, quote, day).Scan(&id, &out.Rate, &out.EffectiveDate)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, fmt.Errorf("exchange rate %s->%s: %w", base, quote, err)
	}
	out.Name = protomap.ExchangeRateName(id)
	return out, true, nil
}
