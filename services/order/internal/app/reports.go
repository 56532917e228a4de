package app

import (
	"context"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// PipelineRow is the orders in one status and currency.
type PipelineRow struct {
	Status   domain.Status
	Currency string
	Count    int64
	// Amount is the sum of totals, an exact decimal.
	Amount string
}

// ContractPipelineRow is the contracts in one status and currency.
type ContractPipelineRow struct {
	Status   domain.ContractStatus
	Currency string
	Count    int64
	// Monthly is the sum of their MRR, an exact decimal.
	Monthly string
}

// Report periods.
const (
	PeriodMonth   = "month"
	PeriodQuarter = "quarter"
)

// ForecastQuery asks for revenue from Start to End (inclusive) by Period.
type ForecastQuery struct {
	Period       string
	Start, End   domain.Date
	GroupByOwner bool
	Owners       []string
	Reporting    ReportingQuery
}

// ReportingQuery asks for a report totalled in one currency, with the
// rates of RateDate (the report's default when zero).
type ReportingQuery struct {
	Currency string
	RateDate domain.Date
}

// Reporting is the currency a report was totalled in and the date of the
// rates (both zero when it is per currency).
type Reporting struct {
	Currency string
	RateDate domain.Date
}

// ForecastRow is one cell; amounts are exact decimals in Currency.
type ForecastRow struct {
	PeriodStart    domain.Date
	Owner          string
	Currency       string
	OrderCount     int64
	OrderAmount    string
	PeriodCount    int64
	ContractAmount string
	// Conversions name the rates of a row totalled in a reporting
	// currency.
	Conversions []money.Conversion
}

// RecurringQuery asks for MRR as of AsOf and movements from Start to End.
type RecurringQuery struct {
	AsOf, Start, End domain.Date
	Owner            string
	Reporting        ReportingQuery
}

// RecurringRow is one currency's MRR and movements, exact decimals.
type RecurringRow struct {
	Currency                                              string
	MRR, New, Expansion, Contraction, Churn, RenewalDelta string
	Renewals                                              int64
	Conversions                                           []money.Conversion
}

// PerformanceQuery asks for orders confirmed in [Start, End).
type PerformanceQuery struct {
	Start, End time.Time
	Owner      string
}

// OwnerPerformance is one owner's orders in one currency.
type OwnerPerformance struct {
	Owner, Currency              string
	Orders, Fulfilled, Cancelled int64
	Revenue, AverageValue        string
	AverageDaysToFulfill         float64
}

// ownerFilter narrows a report to what the caller reads: everything for
// admins, managers and ops, a salesperson's own.
func ownerFilter(ctx context.Context, asked string) (string, error) {
	scope := authz.ScopeOf(ctx)
	if readsAll(scope) {
		return asked, nil
	}
	return scope.OwnerFilter(asked)
}

// Pipeline answers GetOrderPipeline.
func (s *Service) Pipeline(ctx context.Context, owner string) ([]PipelineRow, []ContractPipelineRow, error) {
	owner, err := ownerFilter(ctx, owner)
	if err != nil {
		return nil, nil, err
	}
	return s.repo.Pipeline(ctx, owner)
}

// RevenueForecast answers GetRevenueForecast; the range defaults to the
// current and the next three quarters. In a reporting currency, the rates
// are today's unless asked for another date.
func (s *Service) RevenueForecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, Reporting, error) {
	conv, err := s.converter(q.Reporting, s.today())
	if err != nil {
		return nil, Reporting{}, err
	}
	rows, err := s.revenueForecast(ctx, q)
	if err != nil || conv == nil {
		return rows, Reporting{}, err
	}
	rows, err = convertForecast(ctx, conv, rows)
	return rows, reportingOf(conv), err
}

func (s *Service) revenueForecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, error) {
	if q.Period == "" {
		q.Period = PeriodQuarter
	}
	if q.Start.IsZero() || q.End.IsZero() {
		now := s.now()
		qStart := time.Date(now.Year(), time.Month((int(now.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
		if q.Start.IsZero() {
			q.Start = domain.DateOf(qStart)
		}
		if q.End.IsZero() {
			q.End = domain.DateOf(qStart.AddDate(0, 12, -1))
		}
	}
	if err := checkRange(q.Start, q.End, "start_date", "end_date"); err != nil {
		return nil, err
	}
	if q.End.After(domain.DateOf(q.Start.Time().AddDate(10, 0, 0))) {
		return nil, apperr.InvalidField("end_date", "RANGE_TOO_LONG", "a forecast spans at most 10 years")
	}
	scope := authz.ScopeOf(ctx)
	if !readsAll(scope) {
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
	return s.repo.RevenueForecast(ctx, q)
}

func checkRange(start, end domain.Date, startField, endField string) error {
	var vs apperr.Violations
	if !start.Valid() {
		vs.Add(startField, "INVALID_DATE", "%s is not a calendar date", start)
	}
	if !end.Valid() {
		vs.Add(endField, "INVALID_DATE", "%s is not a calendar date", end)
	}
	if err := vs.Err(); err != nil {
		return err
	}
	if end.Before(start) {
		return apperr.InvalidField(endField, "END_BEFORE_START", "%s (%s) is before %s (%s)", endField, end, startField, start)
	}
	return nil
}

// RecurringRevenue answers GetRecurringRevenue: as of today by default,
// with the movements of that date's calendar month. In a reporting
// currency, the rates are those of the as-of date unless asked for
// another.
func (s *Service) RecurringRevenue(ctx context.Context, q RecurringQuery) ([]RecurringRow, Reporting, error) {
	if q.AsOf.IsZero() {
		q.AsOf = s.today()
	}
	if !q.AsOf.Valid() {
		return nil, Reporting{}, apperr.InvalidField("as_of_date", "INVALID_DATE", "%s is not a calendar date", q.AsOf)
	}
	conv, err := s.converter(q.Reporting, q.AsOf)
	if err != nil {
		return nil, Reporting{}, err
	}
	rows, err := s.recurringRevenue(ctx, q)
	if err != nil || conv == nil {
		return rows, Reporting{}, err
	}
	rows, err = convertRecurring(ctx, conv, rows)
	return rows, reportingOf(conv), err
}

func (s *Service) recurringRevenue(ctx context.Context, q RecurringQuery) ([]RecurringRow, error) {
	if q.Start.IsZero() {
		q.Start = domain.Date{Year: q.AsOf.Year, Month: q.AsOf.Month, Day: 1}
	}
	if q.End.IsZero() {
		q.End = domain.AddMonthsClamped(q.Start, 1, 1).AddDays(-1)
	}
	if err := checkRange(q.Start, q.End, "start_date", "end_date"); err != nil {
		return nil, err
	}
	owner, err := ownerFilter(ctx, q.Owner)
	if err != nil {
		return nil, err
	}
	q.Owner = owner
	return s.repo.RecurringRevenue(ctx, q)
}

// Performance answers GetOrderPerformance; the range defaults to the last
// 90 days.
func (s *Service) Performance(ctx context.Context, q PerformanceQuery) ([]OwnerPerformance, error) {
	if q.End.IsZero() {
		q.End = s.now()
	}
	if q.Start.IsZero() {
		q.Start = q.End.AddDate(0, 0, -90)
	}
	if !q.End.After(q.Start) {
		return nil, apperr.InvalidField("end_time", "END_BEFORE_START", "end_time must be after start_time")
	}
	owner, err := ownerFilter(ctx, q.Owner)
	if err != nil {
		return nil, err
	}
	q.Owner = owner
	return s.repo.Performance(ctx, q)
}

// converter is the reporting-currency converter of a report whose rates
// default to those of def (nil: the report stays per currency).
func (s *Service) converter(q ReportingQuery, def domain.Date) (*money.Converter, error) {
	var day time.Time
	if !q.RateDate.IsZero() {
		if !q.RateDate.Valid() {
			return nil, apperr.InvalidField("rate_date", "INVALID_DATE", "%s is not a calendar date", q.RateDate)
		}
		day = q.RateDate.Time()
	}
	return money.ReportingConverter(s.repo.LatestRate, q.Currency, day, def.Time())
}

func reportingOf(c *money.Converter) Reporting {
	return Reporting{Currency: c.To(), RateDate: domain.DateOf(c.Day())}
}

// convertForecast totals each period's (and owner's) rows of every
// currency in the reporting currency: each amount is summed per currency,
// converted exactly and rounded once.
func convertForecast(ctx context.Context, c *money.Converter, rows []ForecastRow) ([]ForecastRow, error) {
	type key struct {
		period domain.Date
		owner  string
	}
	type cell struct {
		row               ForecastRow
		orders, contracts money.Figure
	}
	var cells []*cell
	byKey := map[key]*cell{}
	for _, r := range rows {
		k := key{r.PeriodStart, r.Owner}
		x := byKey[k]
		if x == nil {
			x = &cell{row: ForecastRow{PeriodStart: r.PeriodStart, Owner: r.Owner, Currency: c.To()}}
			byKey[k] = x
			cells = append(cells, x)
		}
		x.row.OrderCount += r.OrderCount
		x.row.PeriodCount += r.PeriodCount
		if err := x.orders.AddDecimal(r.Currency, r.OrderAmount); err != nil {
			return nil, err
		}
		if err := x.contracts.AddDecimal(r.Currency, r.ContractAmount); err != nil {
			return nil, err
		}
	}
	out := make([]ForecastRow, len(cells))
	for i, x := range cells {
		var err error
		if x.row.OrderAmount, err = c.Round(ctx, &x.orders); err != nil {
			return nil, err
		}
		if x.row.ContractAmount, err = c.Round(ctx, &x.contracts); err != nil {
			return nil, err
		}
		x.row.Conversions = c.Conversions(x.orders.Currencies())
		out[i] = x.row
	}
	return out, nil
}

// convertRecurring totals MRR and each movement of every currency in the
// reporting currency, in one row.
func convertRecurring(ctx context.Context, c *money.Converter, rows []RecurringRow) ([]RecurringRow, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	var figures [6]money.Figure
	out := RecurringRow{Currency: c.To()}
	dst := [6]*string{&out.MRR, &out.New, &out.Expansion, &out.Contraction, &out.Churn, &out.RenewalDelta}
	for _, r := range rows {
		out.Renewals += r.Renewals
		for i, v := range [6]string{r.MRR, r.New, r.Expansion, r.Contraction, r.Churn, r.RenewalDelta} {
			if err := figures[i].AddDecimal(r.Currency, v); err != nil {
				return nil, err
			}
		}
	}
	for i := range figures {
		var err error
		if *dst[i], err = c.Round(ctx, &figures[i]); err != nil {
			return nil, err
		}
	}
	out.Conversions = c.Conversions(figures[0].Currencies())
	return []RecurringRow{out}, nil
}
