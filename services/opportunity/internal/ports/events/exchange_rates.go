package events

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
)

// ExchangeRatesConsumer is the durable consumer of the order service's
// ExchangeRateChanged and ExchangeRateDeleted events; its dead letters go
// to crm.dlq.<ExchangeRatesConsumer>.
const ExchangeRatesConsumer = "opportunity-exchange-rates"

// ExchangeRates keeps the projection of the order service's exchange
// rates, which the reports convert with.
type ExchangeRates struct {
	App *app.Service
}

// Handle applies one event in the inbox transaction ctx carries; a
// malformed one is dead-lettered.
func (h *ExchangeRates) Handle(ctx context.Context, m inbox.Message) error {
	r, err := DecodeExchangeRate(m)
	if err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	return h.App.ApplyExchangeRate(ctx, r)
}

// DecodeExchangeRate reads an ExchangeRateChanged or ExchangeRateDeleted
// event.
func DecodeExchangeRate(m inbox.Message) (app.ExchangeRateCopy, error) {
	var (
		id       string
		rate     *orderv1.ExchangeRate
		revision int64
		deleted  bool
	)
	switch m.Type {
	case string((&eventsv1.ExchangeRateChanged{}).ProtoReflect().Descriptor().FullName()):
		var ev eventsv1.ExchangeRateChanged
		if err := proto.Unmarshal(m.Data, &ev); err != nil {
			return app.ExchangeRateCopy{}, fmt.Errorf("not an ExchangeRateChanged event: %w", err)
		}
		id, rate, revision = ev.GetExchangeRateId(), ev.GetExchangeRate(), ev.GetRevision()
	case string((&eventsv1.ExchangeRateDeleted{}).ProtoReflect().Descriptor().FullName()):
		var ev eventsv1.ExchangeRateDeleted
		if err := proto.Unmarshal(m.Data, &ev); err != nil {
			return app.ExchangeRateCopy{}, fmt.Errorf("not an ExchangeRateDeleted event: %w", err)
		}
		id, rate, revision, deleted = ev.GetExchangeRateId(), ev.GetExchangeRate(), ev.GetRevision(), true
	default:
		return app.ExchangeRateCopy{}, fmt.Errorf("unexpected event type %q", m.Type)
	}
	rid, err := uuid.Parse(id)
	if err != nil || rid == uuid.Nil {
		return app.ExchangeRateCopy{}, fmt.Errorf("exchange_rate_id %q is not a UUID", id)
	}
	if revision < 1 {
		return app.ExchangeRateCopy{}, fmt.Errorf("revision %d: revisions count from 1", revision)
	}
	out := app.ExchangeRateCopy{
		ID: rid, Base: rate.GetBaseCurrency(), Quote: rate.GetQuoteCurrency(), Rate: rate.GetRate(),
		EffectiveDate: protomap.DateFromProto(rate.GetEffectiveDate()), Source: rate.GetSource(), Revision: revision, Deleted: deleted,
	}
	if !money.ValidCurrency(out.Base) || !money.ValidCurrency(out.Quote) || out.Base == out.Quote {
		return out, fmt.Errorf("%s->%s is not a pair of ISO 4217 currencies", out.Base, out.Quote)
	}
	if _, err := money.ParseRate(out.Rate); err != nil {
		return out, fmt.Errorf("rate %w", err)
	}
	if !out.EffectiveDate.Valid() {
		return out, fmt.Errorf("effective_date %s is not a calendar date", out.EffectiveDate)
	}
	return out, nil
}
