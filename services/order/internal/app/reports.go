package app

import (
	"context"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/authz"
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
}

// RecurringQuery asks for MRR as of AsOf and movements from Start to End.
type RecurringQuery struct {
	AsOf, Start, End domain.Date
	Owner            string
}

// RecurringRow is one currency's MRR and movements, exact decimals.
type RecurringRow struct {
	Currency                                              string
	MRR, New, Expansion, Contraction, Churn, RenewalDelta string
	Renewals                                              int64
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
// current and the next three quarters.
func (s *Service) RevenueForecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, error) {
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
// with the movements of that date's calendar month.
func (s *Service) RecurringRevenue(ctx context.Context, q RecurringQuery) ([]RecurringRow, error) {
	if q.AsOf.IsZero() {
		q.AsOf = s.today()
	}
	if !q.AsOf.Valid() {
		return nil, apperr.InvalidField("as_of_date", "INVALID_DATE", "%s is not a calendar date", q.AsOf)
	}
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
