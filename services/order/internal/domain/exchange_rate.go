package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

// ExchangeRate is a dated rate as an admin entered it: from EffectiveDate
// until the pair's next rate, one unit of Base is worth Rate units of
// Quote. Rates are never fetched; Source says where one was taken from.
type ExchangeRate struct {
	ID            uuid.UUID
	Base, Quote   string
	Rate          string
	EffectiveDate Date
	Source        string

	CreatedAt, UpdatedAt time.Time
	CreatedBy, UpdatedBy string
	// Version counts the rate's changes (its etag and its events'
	// revision).
	Version int64
}

// Exchange rate fields an update may change; the pair and the date are
// the rate's identity.
const (
	RateFieldRate   = "rate"
	RateFieldSource = "source"
)

// NewExchangeRate checks an entered rate and gives it an id.
func NewExchangeRate(in ExchangeRate, actor string, now time.Time) (*ExchangeRate, error) {
	r := in
	r.Base, r.Quote = strings.TrimSpace(r.Base), strings.TrimSpace(r.Quote)
	r.Rate, r.Source = strings.TrimSpace(r.Rate), strings.TrimSpace(r.Source)
	var vs apperr.Violations
	checkCurrency(&vs, "base_currency", r.Base)
	checkCurrency(&vs, "quote_currency", r.Quote)
	if r.Base != "" && r.Base == r.Quote {
		vs.Add("quote_currency", "SAME_CURRENCY", "a rate converts between two currencies: both sides are %s", r.Base)
	}
	checkRate(&vs, r.Rate)
	switch {
	case r.EffectiveDate.IsZero():
		vs.Add("effective_date", "REQUIRED", "effective_date is required: the first day the rate applies")
	case !r.EffectiveDate.Valid():
		vs.Add("effective_date", "INVALID_DATE", "%s is not a calendar date", r.EffectiveDate)
	}
	checkSource(&vs, r.Source)
	if err := vs.Err(); err != nil {
		return nil, err
	}
	r.ID = uuid.Must(uuid.NewV7())
	r.CreatedAt, r.UpdatedAt, r.CreatedBy, r.UpdatedBy, r.Version = now, now, actor, actor, 1
	return &r, nil
}

// Update changes the fields of in named by fields (RateField*).
func (r *ExchangeRate) Update(in ExchangeRate, fields []string, actor string, now time.Time) error {
	var vs apperr.Violations
	for _, f := range fields {
		switch f {
		case RateFieldRate:
			r.Rate = strings.TrimSpace(in.Rate)
			checkRate(&vs, r.Rate)
		case RateFieldSource:
			r.Source = strings.TrimSpace(in.Source)
			checkSource(&vs, r.Source)
		case "base_currency", "quote_currency", "effective_date":
			// Echoed unchanged (a PATCH of the whole resource) they are
			// no change.
			if same := map[string]bool{"base_currency": in.Base == r.Base, "quote_currency": in.Quote == r.Quote,
				"effective_date": in.EffectiveDate == r.EffectiveDate}; !same[f] {
				vs.Add(f, "IMMUTABLE_FIELD", "%s cannot be changed: delete the rate and enter another", f)
			}
		default:
			vs.Add("update_mask", "UNKNOWN_FIELD", "%s is not a field of an exchange rate", f)
		}
	}
	if err := vs.Err(); err != nil {
		return err
	}
	r.UpdatedAt, r.UpdatedBy = now, actor
	r.Version++
	return nil
}

// Pair is "USD->EUR".
func (r *ExchangeRate) Pair() string { return r.Base + "->" + r.Quote }

func checkCurrency(vs *apperr.Violations, field, code string) {
	switch {
	case code == "":
		vs.Add(field, "REQUIRED", "%s is required (an ISO 4217 code such as EUR)", field)
	case !money.ValidCurrency(code):
		vs.Add(field, "INVALID_CURRENCY", "%q is not an ISO 4217 currency code", code)
	}
}

func checkRate(vs *apperr.Violations, rate string) {
	if _, err := money.ParseRate(rate); err != nil {
		reason := "INVALID_RATE"
		if rate == "" {
			reason = "REQUIRED"
		}
		vs.Add("rate", reason, "rate %v", err)
	}
}

func checkSource(vs *apperr.Violations, source string) {
	switch {
	case source == "":
		vs.Add("source", "REQUIRED", "source is required: say where the rate was taken from")
	case len(source) > 500:
		vs.Add("source", "TOO_LONG", "source is at most 500 characters")
	}
}
