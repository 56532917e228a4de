package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// ExchangeRates stores the entered exchange rates. Writes save the
// rate's audit entry and its event (ExchangeRateChanged/Deleted) in the
// same transaction.
type ExchangeRates interface {
	// InsertExchangeRate is AlreadyExists when the pair has a rate on that
	// date.
	InsertExchangeRate(ctx context.Context, r *domain.ExchangeRate, requestID string) error
	GetExchangeRate(ctx context.Context, id uuid.UUID) (*domain.ExchangeRate, error)
	LockExchangeRate(ctx context.Context, id uuid.UUID) (*domain.ExchangeRate, error)
	SaveExchangeRate(ctx context.Context, before, after *domain.ExchangeRate) error
	DeleteExchangeRate(ctx context.Context, r *domain.ExchangeRate, actor string, at time.Time) error
	ListExchangeRates(ctx context.Context, q RateQuery) ([]*domain.ExchangeRate, string, error)
	// LatestRate is the money.RateLookup over the stored rates.
	LatestRate(ctx context.Context, base, quote string, day time.Time) (money.ExchangeRate, bool, error)
}

// RateQuery is a page of ListExchangeRates.
type RateQuery struct {
	Base, Quote string
	PageSize    int
	PageToken   string
}

// CreateExchangeRate enters a rate.
func (s *Service) CreateExchangeRate(ctx context.Context, in domain.ExchangeRate, requestID string) (*domain.ExchangeRate, error) {
	r, err := domain.NewExchangeRate(in, auth.Actor(ctx), s.now())
	if err != nil {
		return nil, err
	}
	if err := s.repo.InsertExchangeRate(ctx, r, requestID); err != nil {
		return nil, err
	}
	return r, nil
}

// GetExchangeRate reads a rate.
func (s *Service) GetExchangeRate(ctx context.Context, id uuid.UUID) (*domain.ExchangeRate, error) {
	return s.repo.GetExchangeRate(ctx, id)
}

// ListExchangeRates lists rates by pair and date.
func (s *Service) ListExchangeRates(ctx context.Context, q RateQuery) ([]*domain.ExchangeRate, string, error) {
	var vs apperr.Violations
	for field, code := range map[string]string{"base_currency": q.Base, "quote_currency": q.Quote} {
		if code != "" && !money.ValidCurrency(code) {
			vs.Add(field, "INVALID_CURRENCY", "%q is not an ISO 4217 currency code", code)
		}
	}
	if err := vs.Err(); err != nil {
		return nil, "", err
	}
	return s.repo.ListExchangeRates(ctx, q)
}

// UpdateExchangeRate corrects a rate's value or source.
func (s *Service) UpdateExchangeRate(ctx context.Context, id uuid.UUID, in domain.ExchangeRate, fields []string, ifMatch string) (*domain.ExchangeRate, error) {
	var out *domain.ExchangeRate
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.repo.LockExchangeRate(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, r.Version); err != nil {
			return err
		}
		before := *r
		if err := r.Update(in, fields, auth.Actor(ctx), s.now()); err != nil {
			return err
		}
		if r.Rate == before.Rate && r.Source == before.Source {
			*r = before // nothing changed: no new version, no event
			out = r
			return nil
		}
		out = r
		return s.repo.SaveExchangeRate(ctx, &before, r)
	})
	return out, err
}

// DeleteExchangeRate deletes a rate.
func (s *Service) DeleteExchangeRate(ctx context.Context, id uuid.UUID, ifMatch string) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.repo.LockExchangeRate(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, r.Version); err != nil {
			return err
		}
		return s.repo.DeleteExchangeRate(ctx, r, auth.Actor(ctx), s.now())
	})
}
