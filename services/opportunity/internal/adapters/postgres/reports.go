package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

var forecastDims = map[string]string{
	app.DimOwner: "owner", app.DimPipeline: "pipeline_id", app.DimStage: "stage", app.DimCategory: "forecast_category",
}

// Forecast sums open opportunities by period, the asked dimensions and
// currency (never mixing currencies). The partial index
// opportunities_forecast answers it from the index alone. Weighted
// amounts are exact: numeric multiplication, rounded to the nano.
func (r *Repo) Forecast(ctx context.Context, q app.ForecastQuery) ([]app.ForecastRow, error) {
	period := "quarter"
	if q.Period == app.PeriodMonth {
		period = "month"
	}
	day := func(d domain.Date) time.Time {
		return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC)
	}
	args := []any{period, day(q.Start), day(q.End)}
	where := "state = 'OPEN' AND expected_close_date BETWEEN $2 AND $3"
	if len(q.Owners) > 0 {
		args = append(args, q.Owners)
		where += fmt.Sprintf(" AND owner = ANY($%d)", len(args))
	}
	if q.PipelineID != uuid.Nil {
		args = append(args, q.PipelineID)
		where += fmt.Sprintf(" AND pipeline_id = $%d", len(args))
	}
	// Every dimension is selected; the ones not grouped by are constants.
	sel := make([]string, 0, 4)
	group := []string{"1"}
	for i, d := range []string{app.DimOwner, app.DimPipeline, app.DimStage, app.DimCategory} {
		col := forecastDims[d]
		if containsDim(q.GroupBy, d) {
			sel = append(sel, col+" AS "+col)
			group = append(group, fmt.Sprint(i+2))
			continue
		}
		if d == app.DimPipeline {
			sel = append(sel, "NULL::uuid AS "+col)
		} else {
			sel = append(sel, "''::text AS "+col)
		}
	}
	group = append(group, "6")
	// The inner query sums amounts per group and probability, so the
	// weighting is one numeric multiplication per (group, probability)
	// rather than per row: sum(amount x p) = p x sum(amount), exactly.
	sql := fmt.Sprintf(`SELECT period, owner, pipeline_id, stage, forecast_category, currency_code,
		sum(n)::bigint, coalesce(sum(total), 0)::text, round(coalesce(sum(total * probability), 0) * 0.01, 9)::text
		FROM (SELECT date_trunc($1, expected_close_date::timestamp)::date AS period, %s, currency_code, probability,
			count(*) AS n, sum(amount) AS total
			FROM opportunities WHERE %s GROUP BY %s, 7) g
		GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`,
		strings.Join(sel, ", "), where, strings.Join(group, ", "))
	rows, err := pg.Q(ctx, r.pool).Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("forecast: %w", err)
	}
	defer rows.Close()
	var out []app.ForecastRow
	for rows.Next() {
		var (
			f        app.ForecastRow
			start    time.Time
			pipeline *uuid.UUID
			category string
		)
		if err := rows.Scan(&start, &f.Owner, &pipeline, &f.Stage, &category, &f.Currency, &f.Count, &f.Amount, &f.Weighted); err != nil {
			return nil, err
		}
		f.PeriodStart = domain.Date{Year: start.Year(), Month: int(start.Month()), Day: start.Day()}
		if pipeline != nil {
			f.PipelineID = *pipeline
		}
		f.ForecastCategory = domain.ForecastCategory(category)
		out = append(out, f)
	}
	return out, rows.Err()
}

func containsDim(ds []string, d string) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// Performance sums won and lost opportunities closed in [Start, End) per
// owner and currency. Average days to close is over the won ones (the
// sales cycle); disqualified ones do not count.
func (r *Repo) Performance(ctx context.Context, q app.PerformanceQuery) ([]app.OwnerPerformance, error) {
	args := []any{q.Start, q.End}
	where := "state IN ('WON', 'LOST') AND close_time >= $1 AND close_time < $2"
	if q.Owner != "" {
		args = append(args, q.Owner)
		where += " AND owner = $3"
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT owner, currency_code,
		count(*) FILTER (WHERE state = 'WON'), count(*) FILTER (WHERE state = 'LOST'),
		coalesce(sum(amount) FILTER (WHERE state = 'WON'), 0)::text,
		coalesce(sum(amount) FILTER (WHERE state = 'LOST'), 0)::text,
		round(coalesce(avg(amount) FILTER (WHERE state = 'WON'), 0), 9)::text,
		coalesce(avg(extract(epoch FROM close_time - created_at) / 86400) FILTER (WHERE state = 'WON'), 0)::float8
		FROM opportunities WHERE `+where+` GROUP BY owner, currency_code ORDER BY owner, currency_code`, args...)
	if err != nil {
		return nil, fmt.Errorf("performance: %w", err)
	}
	defer rows.Close()
	var out []app.OwnerPerformance
	for rows.Next() {
		var p app.OwnerPerformance
		if err := rows.Scan(&p.Owner, &p.Currency, &p.WonCount, &p.LostCount, &p.WonAmount, &p.LostAmount, &p.AverageWon, &p.AverageDaysToClose); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
