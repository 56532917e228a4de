package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/authz"
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
}

// PerformanceQuery asks for opportunities closed in [Start, End).
type PerformanceQuery struct {
	Start, End time.Time
	Owner      string
}

// OwnerPerformance is one owner's closed opportunities in one currency;
// amounts are exact decimals.
type OwnerPerformance struct {
	Owner, Currency                   string
	WonCount, LostCount               int64
	WonAmount, LostAmount, AverageWon string
	AverageDaysToClose                float64
}

// Forecast answers GetForecast; the range defaults to the current and the
// next three quarters.
func (s *Service) Forecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, error) {
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
// 90 days.
func (s *Service) Performance(ctx context.Context, q PerformanceQuery) ([]OwnerPerformance, error) {
	if q.End.IsZero() {
		q.End = s.now()
	}
	if q.Start.IsZero() {
		q.Start = q.End.AddDate(0, 0, -90)
	}
	if !q.End.After(q.Start) {
		return nil, apperr.InvalidField("end_time", "INVALID_RANGE", "end_time must be after start_time")
	}
	owner, err := authz.ScopeOf(ctx).OwnerFilter(q.Owner)
	if err != nil {
		return nil, err
	}
	q.Owner = owner
	return s.repo.Performance(ctx, q)
}
