package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// ExchangeRateCopy is the order service's exchange rate as its events
// said: the rate at Revision, or its deletion.
type ExchangeRateCopy struct {
	ID            uuid.UUID
	Base, Quote   string
	Rate          string
	EffectiveDate domain.Date
	Source        string
	Revision      int64
	Deleted       bool
}

// ExchangeRates is the projection of the order service's exchange rates.
type ExchangeRates interface {
	// ApplyExchangeRate keeps r unless the copy has a later (or the same)
	// revision.
	ApplyExchangeRate(ctx context.Context, r ExchangeRateCopy) error
	// LatestRate is the money.RateLookup over the copies.
	LatestRate(ctx context.Context, base, quote string, day time.Time) (money.ExchangeRate, bool, error)
}

// ApplyExchangeRate records an ExchangeRateChanged or ExchangeRateDeleted
// event in the projection (in the inbox transaction ctx carries).
func (s *Service) ApplyExchangeRate(ctx context.Context, r ExchangeRateCopy) error {
	return s.repo.ApplyExchangeRate(ctx, r)
}
