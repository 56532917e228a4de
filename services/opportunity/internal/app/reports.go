package app

import (
	"context"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// Forecast periods and dimensions.
const (
	PeriodMonth   = "month"
	PeriodQuarter = "quarter"

	DimOwner    = "owner"
	DimPipeline = "pipeline"
	DimStage    = "stage"
	DimCategory = "forecast_category"
)

// ForecastQuery asks for open opportunities expected to close from Start
// to End (inclusive), by Period and the GroupBy dimensions.
type ForecastQuery struct {
	Period     string
	Start, End domain.Date
	GroupBy    []string
	Owners     []string
	PipelineID uuid.UUID
	Reporting  ReportingQuery
}

// ReportingQuery asks for a report totalled in one currency, with the
// rates of RateDate (the report's default when zero).
type ReportingQuery struct {
	Currency string
	RateDate domain.Date
}

// Reporting is the currency a report was totalled in and the date of its
// rates (both zero when it is per currency).
type Reporting struct {
	Currency string
	RateDate domain.Date
}

// ForecastRow is one cell; amounts are exact decimals in Currency.
type ForecastRow struct {
	PeriodStart      domain.Date
	Owner            string
	PipelineID       uuid.UUID
	Stage            string
	ForecastCategory domain.ForecastCategory
	Currency         string
	Count            int64
	Amount, Weighted string
	// Conversions name the rates of a row totalled in a reporting
	// currency.
	Conversions []money.Conversion
}

// PerformanceQuery asks for opportunities closed in [Start, End).
type PerformanceQuery struct {
	Start, End time.Time
	Owner      string
	Reporting  ReportingQuery
}

// OwnerPerformance is one owner's closed opportunities in one currency;
// amounts are exact decimals.
type OwnerPerformance struct {
	Owner, Currency                   string
	WonCount, LostCount               int64
	WonAmount, LostAmount, AverageWon string
	AverageDaysToClose                float64
	Conversions                       []money.Conversion
}

// Forecast answers GetForecast; the range defaults to the current and the
// next three quarters. In a reporting currency, the rates are today's
// unless asked for another date.
func (s *Service) Forecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, Reporting, error) {
	conv, err := s.converter(q.Reporting, s.now())
	if err != nil {
		return nil, Reporting{}, err
	}
	rows, err := s.forecast(ctx, q)
	if err != nil || conv == nil {
		return rows, Reporting{}, err
	}
	rows, err = convertForecast(ctx, conv, rows)
	return rows, reportingOf(conv), err
}

func (s *Service) forecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, error) {
	if q.Period == "" {
		q.Period = PeriodQuarter
	}
	if q.Start.IsZero() || q.End.IsZero() {
		now := s.now()
		qStart := time.Date(now.Year(), time.Month((int(now.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
		end := qStart.AddDate(0, 12, -1)
		if q.Start.IsZero() {
			q.Start = domain.Date{Year: qStart.Year(), Month: int(qStart.Month()), Day: qStart.Day()}
		}
		if q.End.IsZero() {
			q.End = domain.Date{Year: end.Year(), Month: int(end.Month()), Day: end.Day()}
		}
	}
	var vs apperr.Violations
	if !q.Start.Valid() {
		vs.Add("start_date", "INVALID_DATE", "%s is not a calendar date", q.Start)
	}
	if !q.End.Valid() {
		vs.Add("end_date", "INVALID_DATE", "%s is not a calendar date", q.End)
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	if q.End.String() < q.Start.String() {
		return nil, apperr.InvalidField("end_date", "INVALID_RANGE", "end_date is before start_date")
	}
	if scope := authz.ScopeOf(ctx); !scope.All {
		for _, o := range q.Owners {
			if _, err := scope.OwnerFilter(o); err != nil {
				return nil, err
			}
		}
		own, err := scope.OwnerFilter("")
		if err != nil {
			return nil, err
		}
		q.Owners = []string{own}
	}
	return s.repo.Forecast(ctx, q)
}

// Performance answers GetSalesPerformance; the range defaults to the last
// 90 days. In a reporting currency, the rates are those of the range's
// last day unless asked for another date.
func (s *Service) Performance(ctx context.Context, q PerformanceQuery) ([]OwnerPerformance, Reporting, error) {
	if q.End.IsZero() {
		q.End = s.now()
	}
	if q.Start.IsZero() {
		q.Start = q.End.AddDate(0, 0, -90)
	}
	if !q.End.After(q.Start) {
		return nil, Reporting{}, apperr.InvalidField("end_time", "INVALID_RANGE", "end_time must be after start_time")
	}
	conv, err := s.converter(q.Reporting, q.End.Add(-time.Nanosecond))
	if err != nil {
		return nil, Reporting{}, err
	}
	owner, err := authz.ScopeOf(ctx).OwnerFilter(q.Owner)
	if err != nil {
		return nil, Reporting{}, err
	}
	q.Owner = owner
	rows, err := s.repo.Performance(ctx, q)
	if err != nil || conv == nil {
		return rows, Reporting{}, err
	}
	rows, err = convertPerformance(ctx, conv, rows)
	return rows, reportingOf(conv), err
}

// converter is the reporting-currency converter of a report whose rates
// default to those of def's UTC date (nil: the report stays per
// currency).
func (s *Service) converter(q ReportingQuery, def time.Time) (*money.Converter, error) {
	var day time.Time
	if !q.RateDate.IsZero() {
		if !q.RateDate.Valid() {
			return nil, apperr.InvalidField("rate_date", "INVALID_DATE", "%s is not a calendar date", q.RateDate)
		}
		day = time.Date(q.RateDate.Year, time.Month(q.RateDate.Month), q.RateDate.Day, 0, 0, 0, 0, time.UTC)
	}
	return money.ReportingConverter(s.repo.LatestRate, q.Currency, day, def.UTC())
}

func reportingOf(c *money.Converter) Reporting {
	y, m, d := c.Day().Date()
	return Reporting{Currency: c.To(), RateDate: domain.Date{Year: y, Month: int(m), Day: d}}
}

// convertForecast totals each cell's rows of every currency in the
// reporting currency: each amount summed per currency, converted exactly
// and rounded once. Opportunities without an amount (no currency) count
// but add nothing.
func convertForecast(ctx context.Context, c *money.Converter, rows []ForecastRow) ([]ForecastRow, error) {
	type key struct {
		period   domain.Date
		owner    string
		pipeline uuid.UUID
		stage    string
		category domain.ForecastCategory
	}
	type cell struct {
		row              ForecastRow
		amount, weighted money.Figure
	}
	var cells []*cell
	byKey := map[key]*cell{}
	for _, r := range rows {
		k := key{r.PeriodStart, r.Owner, r.PipelineID, r.Stage, r.ForecastCategory}
		x := byKey[k]
		if x == nil {
			x = &cell{row: ForecastRow{PeriodStart: r.PeriodStart, Owner: r.Owner, PipelineID: r.PipelineID, Stage: r.Stage,
				ForecastCategory: r.ForecastCategory, Currency: c.To()}}
			byKey[k] = x
			cells = append(cells, x)
		}
		x.row.Count += r.Count
		if r.Currency == "" {
			continue
		}
		if err := x.amount.AddDecimal(r.Currency, r.Amount); err != nil {
			return nil, err
		}
		if err := x.weighted.AddDecimal(r.Currency, r.Weighted); err != nil {
			return nil, err
		}
	}
	out := make([]ForecastRow, len(cells))
	for i, x := range cells {
		var err error
		if x.row.Amount, err = c.Round(ctx, &x.amount); err != nil {
			return nil, err
		}
		if x.row.Weighted, err = c.Round(ctx, &x.weighted); err != nil {
			return nil, err
		}
		x.row.Conversions = c.Conversions(x.amount.Currencies())
		out[i] = x.row
	}
	return out, nil
}

// convertPerformance totals each owner's rows in the reporting currency.
// The average deal size is the converted won amount over the won deals
// that have an amount, rounded once; the average days to close is over
// all won deals, as per currency.
func convertPerformance(ctx context.Context, c *money.Converter, rows []OwnerPerformance) ([]OwnerPerformance, error) {
	type acc struct {
		row           OwnerPerformance
		won, lost     money.Figure
		wonWithAmount int64
		days          float64
	}
	var accs []*acc
	byOwner := map[string]*acc{}
	for _, r := range rows {
		a := byOwner[r.Owner]
		if a == nil {
			a = &acc{row: OwnerPerformance{Owner: r.Owner, Currency: c.To()}}
			byOwner[r.Owner] = a
			accs = append(accs, a)
		}
		a.row.WonCount += r.WonCount
		a.row.LostCount += r.LostCount
		a.days += r.AverageDaysToClose * float64(r.WonCount)
		if r.Currency == "" {
			continue
		}
		a.wonWithAmount += r.WonCount
		if err := a.won.AddDecimal(r.Currency, r.WonAmount); err != nil {
			return nil, err
		}
		if err := a.lost.AddDecimal(r.Currency, r.LostAmount); err != nil {
			return nil, err
		}
	}
	out := make([]OwnerPerformance, len(accs))
	for i, a := range accs {
		var err error
		if a.row.WonAmount, err = c.Round(ctx, &a.won); err != nil {
			return nil, err
		}
		if a.row.LostAmount, err = c.Round(ctx, &a.lost); err != nil {
			return nil, err
		}
		avg := new(big.Rat)
		if a.wonWithAmount > 0 {
			exact, err := c.Exact(ctx, &a.won)
			if err != nil {
				return nil, err
			}
			avg.Quo(exact, big.NewRat(a.wonWithAmount, 1))
		}
		m, err := money.Round(c.To(), avg)
		if err != nil {
			return nil, err
		}
		a.row.AverageWon = money.Decimal(m)
		if a.row.WonCount > 0 {
			a.row.AverageDaysToClose = a.days / float64(a.row.WonCount)
		}
		a.row.Conversions = c.Conversions(a.won.Currencies())
		out[i] = a.row
	}
	return out, nil
}
