package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// monthsPerInterval turns a contract's recurring amount into MRR in SQL.
const monthsPerInterval = `CASE billing_interval WHEN 'QUARTERLY' THEN 3 WHEN 'YEARLY' THEN 12 ELSE 1 END`

// Pipeline counts orders and contracts by status and currency, from the
// covering indexes orders_pipeline and contracts_pipeline.
func (r *Repo) Pipeline(ctx context.Context, owner string) ([]app.PipelineRow, []app.ContractPipelineRow, error) {
	q := pg.Q(ctx, r.pool)
	rows, err := q.Query(ctx, `SELECT status, currency_code, count(*), sum(total)::text FROM orders
		WHERE $1 = '' OR owner = $1 GROUP BY 1, 2 ORDER BY 1, 2`, owner)
	if err != nil {
		return nil, nil, fmt.Errorf("order pipeline: %w", err)
	}
	orders, err := collect(rows, func(row pgx.Row) (app.PipelineRow, error) {
		var p app.PipelineRow
		var status string
		err := row.Scan(&status, &p.Currency, &p.Count, &p.Amount)
		p.Status = domain.Status(status)
		return p, err
	})
	if err != nil {
		return nil, nil, err
	}
	rows, err = q.Query(ctx, `SELECT status, currency_code, count(*), round(sum(recurring_amount / `+monthsPerInterval+`), 9)::text
		FROM contracts WHERE $1 = '' OR owner = $1 GROUP BY 1, 2 ORDER BY 1, 2`, owner)
	if err != nil {
		return nil, nil, fmt.Errorf("contract pipeline: %w", err)
	}
	contracts, err := collect(rows, func(row pgx.Row) (app.ContractPipelineRow, error) {
		var p app.ContractPipelineRow
		var status string
		err := row.Scan(&status, &p.Currency, &p.Count, &p.Monthly)
		p.Status = domain.ContractStatus(status)
		return p, err
	})
	return orders, contracts, err
}

// RevenueForecast sums the monthly revenue table (kept in every change's
// transaction) by period, owner when asked, and currency: a forecast
// reads a few rows per month and owner, however many orders and
// contracts there are.
func (r *Repo) RevenueForecast(ctx context.Context, q app.ForecastQuery) ([]app.ForecastRow, error) {
	period := "quarter"
	if q.Period == app.PeriodMonth {
		period = "month"
	}
	start := domain.Date{Year: q.Start.Year, Month: q.Start.Month, Day: 1}
	args := []any{period, start.Time(), q.End.Time()}
	where := "month BETWEEN $2 AND $3"
	if len(q.Owners) > 0 {
		args = append(args, q.Owners)
		where += fmt.Sprintf(" AND owner = ANY($%d)", len(args))
	}
	owner := "''::text"
	if q.GroupByOwner {
		owner = "owner"
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT date_trunc($1, month::timestamp)::date, %s, currency_code,
		sum(order_count)::bigint, sum(order_amount)::text, sum(period_count)::bigint, sum(contract_amount)::text
		FROM revenue_monthly WHERE %s GROUP BY 1, 2, 3
		HAVING sum(order_count) <> 0 OR sum(period_count) <> 0 OR sum(order_amount) <> 0 OR sum(contract_amount) <> 0
		ORDER BY 1, 2, 3`, owner, where), args...)
	if err != nil {
		return nil, fmt.Errorf("revenue forecast: %w", err)
	}
	return collect(rows, func(row pgx.Row) (app.ForecastRow, error) {
		var f app.ForecastRow
		var p time.Time
		err := row.Scan(&p, &f.Owner, &f.Currency, &f.OrderCount, &f.OrderAmount, &f.PeriodCount, &f.ContractAmount)
		f.PeriodStart = domain.DateOf(p)
		return f, err
	})
}

// RecurringRevenue sums the MRR ledger: MRR as of a day is every movement
// effective on or before it; the movements of the range by kind.
func (r *Repo) RecurringRevenue(ctx context.Context, q app.RecurringQuery) ([]app.RecurringRow, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT currency_code,
		coalesce(sum(delta) FILTER (WHERE effective_date <= $1), 0)::text,
		coalesce(sum(delta) FILTER (WHERE kind = 'NEW' AND effective_date BETWEEN $2 AND $3), 0)::text,
		coalesce(sum(delta) FILTER (WHERE kind = 'EXPANSION' AND effective_date BETWEEN $2 AND $3), 0)::text,
		coalesce(sum(delta) FILTER (WHERE kind = 'CONTRACTION' AND effective_date BETWEEN $2 AND $3), 0)::text,
		coalesce(sum(delta) FILTER (WHERE kind = 'CHURN' AND effective_date BETWEEN $2 AND $3), 0)::text,
		coalesce(sum(delta) FILTER (WHERE kind = 'RENEWAL' AND effective_date BETWEEN $2 AND $3), 0)::text,
		count(*) FILTER (WHERE kind = 'RENEWAL' AND effective_date BETWEEN $2 AND $3)
		FROM mrr_movements WHERE effective_date <= greatest($1, $3) AND ($4 = '' OR owner = $4)
		GROUP BY 1 ORDER BY 1`, q.AsOf.Time(), q.Start.Time(), q.End.Time(), q.Owner)
	if err != nil {
		return nil, fmt.Errorf("recurring revenue: %w", err)
	}
	return collect(rows, func(row pgx.Row) (app.RecurringRow, error) {
		var m app.RecurringRow
		err := row.Scan(&m.Currency, &m.MRR, &m.New, &m.Expansion, &m.Contraction, &m.Churn, &m.RenewalDelta, &m.Renewals)
		return m, err
	})
}

// Performance reads orders confirmed in the range (orders_confirmed).
func (r *Repo) Performance(ctx context.Context, q app.PerformanceQuery) ([]app.OwnerPerformance, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT owner, currency_code,
		count(*) FILTER (WHERE status <> 'CANCELLED'),
		count(*) FILTER (WHERE fulfilled_at IS NOT NULL AND status <> 'CANCELLED'),
		count(*) FILTER (WHERE status = 'CANCELLED'),
		coalesce(sum(subtotal - discount) FILTER (WHERE status <> 'CANCELLED'), 0)::text,
		coalesce(round(avg(subtotal - discount) FILTER (WHERE status <> 'CANCELLED'), 9), 0)::text,
		coalesce(avg(extract(epoch FROM fulfilled_at - confirmed_at) / 86400) FILTER (WHERE fulfilled_at IS NOT NULL AND status <> 'CANCELLED'), 0)::float8
		FROM orders WHERE confirmed_at >= $1 AND confirmed_at < $2 AND ($3 = '' OR owner = $3)
		GROUP BY 1, 2 ORDER BY 1, 2`, q.Start, q.End, q.Owner)
	if err != nil {
		return nil, fmt.Errorf("order performance: %w", err)
	}
	return collect(rows, func(row pgx.Row) (app.OwnerPerformance, error) {
		var p app.OwnerPerformance
		err := row.Scan(&p.Owner, &p.Currency, &p.Orders, &p.Fulfilled, &p.Cancelled, &p.Revenue, &p.AverageValue, &p.AverageDaysToFulfill)
		return p, err
	})
}
