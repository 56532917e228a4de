package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
)

// ApplyExchangeRate implements app.Repository: the copy with the highest
// revision wins, whatever order the events come in.
func (r *Repo) ApplyExchangeRate(ctx context.Context, x app.ExchangeRateCopy) error {
	day := time.Date(x.EffectiveDate.Year, time.Month(x.EffectiveDate.Month), x.EffectiveDate.Day, 0, 0, 0, 0, time.UTC)
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO exchange_rates (id, base_currency, quote_currency, rate, effective_date, source, revision, deleted)
		VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET base_currency = excluded.base_currency, quote_currency = excluded.quote_currency,
			rate = excluded.rate, effective_date = excluded.effective_date, source = excluded.source,
			revision = excluded.revision, deleted = excluded.deleted
		WHERE exchange_rates.revision < excluded.revision`,
		x.ID, x.Base, x.Quote, x.Rate, day, x.Source, x.Revision, x.Deleted)
	if err != nil {
		return fmt.Errorf("exchange rate copy: %w", err)
	}
	return nil
}

// LatestRate implements app.Repository (money.RateLookup).
func (r *Repo) LatestRate(ctx context.Context, base, quote string, day time.Time) (money.ExchangeRate, bool, error) {
	var id uuid.UUID
	out := money.ExchangeRate{Base: base, Quote: quote}
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT id, rate::text, effective_date FROM exchange_rates
		WHERE base_currency = $1 AND quote_currency = $2 AND effective_date <= $3 AND NOT deleted
		ORDER BY effective_date DESC, revision DESC LIMIT 1`, base, quote, day).Scan(&id, &out.Rate, &out.EffectiveDate)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, fmt.Errorf("exchange rate %s->%s: %w", base, quote, err)
	}
	out.Name = resname.Format("exchangeRates", id)
	return out, true, nil
}
