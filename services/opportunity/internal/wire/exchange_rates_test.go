package wire_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	moneyv1 "github.com/crmsuite/crm/gen/go/crm/money/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/events"
	pmoney "github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/testkit"
	eventport "github.com/crmsuite/crm/services/opportunity/internal/ports/events"
)

// rateEvent is an ExchangeRateChanged event of rate id at revision.
func rateEvent(id uuid.UUID, base, quote, rate string, effective *date.Date, revision int64) *eventsv1.ExchangeRateChanged {
	return &eventsv1.ExchangeRateChanged{
		Meta:           &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now(), Actor: "ada"},
		ExchangeRateId: id.String(), Revision: revision,
		ExchangeRate: &orderv1.ExchangeRate{Name: "exchangeRates/" + id.String(), BaseCurrency: base, QuoteCurrency: quote,
			Rate: rate, EffectiveDate: effective, Source: "ECB"},
	}
}

// value runs a query on the service's schema and returns its one value
// as text.
func (s *suite) value(t *testing.T, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = "opportunity"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out string
	if err := conn.QueryRow(ctx, q, args...).Scan(&out); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// drained waits until the exchange rate consumer has acknowledged every
// message of the order stream.
func (s *suite) drained(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, 20*time.Second, func() bool {
		c, err := s.js.Consumer(ctx, events.StreamName(s.nats.Namespace, "order"), eventport.ExchangeRatesConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "the exchange rate consumer drained")
}

func (s *suite) rateRow(t *testing.T, id uuid.UUID) string {
	t.Helper()
	return s.value(t, `SELECT coalesce((SELECT rate::text || ' r' || revision || CASE WHEN deleted THEN ' deleted' ELSE '' END
		FROM exchange_rates WHERE id = $1), 'none')`, id)
}

// The projection of the order service's rates applies each event once,
// keeps the highest revision whatever the arrival order, and a deletion
// is not undone by a late change.
func TestExchangeRateProjection(t *testing.T) {
	t.Parallel()
	s := start(t)
	id := uuid.New()
	first := rateEvent(id, "USD", "EUR", "0.5", day(2026, 1, 1), 1)
	s.nats.Publish(t, s.js, "order", first)
	s.drained(t)
	if got := s.rateRow(t, id); got != "0.5 r1" {
		t.Fatalf("after the first event: %s", got)
	}
	second := rateEvent(id, "USD", "EUR", "0.6", day(2026, 1, 1), 2)
	s.nats.Publish(t, s.js, "order", second)
	// The first event again, past the stream's duplicate window: the inbox
	// skips it, and its older revision would change nothing anyway.
	time.Sleep(200 * time.Millisecond)
	s.nats.Publish(t, s.js, "order", first)
	s.drained(t)
	if got := s.rateRow(t, id); got != "0.6 r2" {
		t.Fatalf("after a redelivered older event: %s", got)
	}
	if n := s.value(t, `SELECT count(*)::text FROM inbox WHERE consumer = $1`, eventport.ExchangeRatesConsumer); n != "2" {
		t.Fatalf("%s events applied, want 2", n)
	}
	deleted := &eventsv1.ExchangeRateDeleted{Meta: &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now()},
		ExchangeRateId: id.String(), ExchangeRate: second.ExchangeRate, Revision: 3}
	s.nats.Publish(t, s.js, "order", deleted)
	late := rateEvent(id, "USD", "EUR", "0.7", day(2026, 1, 1), 2)
	s.nats.Publish(t, s.js, "order", late)
	s.drained(t)
	if got := s.rateRow(t, id); got != "0.6 r3 deleted" {
		t.Fatalf("after a deletion and a late change: %s", got)
	}
	// A malformed rate is dead-lettered, not applied.
	bad := rateEvent(uuid.New(), "USD", "EUR", "-1", day(2026, 1, 1), 1)
	s.nats.Publish(t, s.js, "order", bad)
	if dl := s.nats.DeadLetters(t, s.js, eventport.ExchangeRatesConsumer, 1); !strings.Contains(string(dl[0].Header.Get("Crm-Dlq-Reason")), "MALFORMED_EVENT") {
		t.Fatalf("dead letter %v", dl[0].Header)
	}
	if n := s.value(t, `SELECT count(*)::text FROM exchange_rates`); n != "1" {
		t.Fatalf("%s rates kept", n)
	}
}

func conversionsOf(cs []*moneyv1.CurrencyConversion) string {
	var out []string
	for _, c := range cs {
		inv := ""
		if c.Inverse {
			inv = " inverse"
		}
		out = append(out, fmt.Sprintf("%s->%s %s%s from %s for %s", c.SourceCurrency, c.TargetCurrency, c.Rate, inv, iso(c.EffectiveDate), iso(c.RateDate)))
	}
	return strings.Join(out, "; ")
}

// The forecast and sales performance in a reporting currency: amounts
// summed per currency, converted exactly and rounded once half away from
// zero; each row names its rates; an inverse rate divides; a missing rate
// is FAILED_PRECONDITION naming the pair and the date.
func TestOpportunityReportsInReportingCurrency(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, _ := s.customer(t, "Acme")
	usdRate := uuid.New()
	s.nats.Publish(t, s.js, "order", rateEvent(usdRate, "USD", "EUR", "0.5", day(2026, 1, 1), 1))
	s.nats.Publish(t, s.js, "order", rateEvent(uuid.New(), "EUR", "JPY", "160.25", day(2026, 1, 1), 1))
	s.nats.Publish(t, s.js, "order", rateEvent(uuid.New(), "USD", "EUR", "0.8", day(2099, 1, 1), 1))
	s.drained(t)
	mk := func(amount *money.Money, close *date.Date) *opportunityv1.Opportunity {
		return s.create(t, &opportunityv1.Opportunity{DisplayName: "Deal", Account: account, Owner: "alice", Amount: amount, ExpectedCloseDate: close})
	}
	// 2030 Q1: 100 EUR and 0.25 USD at 10%; Q2: 1000 JPY.
	mk(eur(100, 0), day(2030, 1, 10))
	mk(usd(0, 250_000_000), day(2030, 2, 10))
	mk(&money.Money{CurrencyCode: "JPY", Units: 1000}, day(2030, 4, 10))
	today := time.Now().UTC().Format(time.DateOnly)
	req := &opportunityv1.GetForecastRequest{StartDate: day(2030, 1, 1), EndDate: day(2030, 6, 30), ReportingCurrency: "EUR"}
	fc, err := s.client.GetForecast(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if fc.ReportingCurrency != "EUR" || iso(fc.RateDate) != today || len(fc.Rows) != 2 {
		t.Fatalf("forecast %v", fc)
	}
	// 100 + 0.25 x 0.5 = 100.125: 100.13 (half-even: 100.12); weighted
	// 10 + 0.0125 = 10.0125: 10.01.
	q1, q2 := fc.Rows[0], fc.Rows[1]
	if amt(q1.Amount) != "100.13 EUR" || amt(q1.WeightedAmount) != "10.01 EUR" || q1.Count != 2 ||
		conversionsOf(q1.Conversions) != "USD->EUR 0.5 from 2026-01-01 for "+today || q1.Conversions[0].ExchangeRate != "exchangeRates/"+usdRate.String() {
		t.Fatalf("Q1 %v", q1)
	}
	// 1000 JPY / 160.25 = 6.2402...; 100 / 160.25 = 0.6240...
	if amt(q2.Amount) != "6.24 EUR" || amt(q2.WeightedAmount) != "0.62 EUR" || conversionsOf(q2.Conversions) != "JPY->EUR 160.25 inverse from 2026-01-01 for "+today {
		t.Fatalf("Q2 %v", q2)
	}
	req.RateDate = day(2099, 1, 1)
	later, err := s.client.GetForecast(ctx, req)
	if err != nil || amt(later.Rows[0].Amount) != "100.2 EUR" || conversionsOf(later.Rows[0].Conversions) != "USD->EUR 0.8 from 2099-01-01 for 2099-01-01" {
		t.Fatalf("at 2099's rates: %v, %v", later, err)
	}
	req.RateDate = day(2025, 12, 31)
	_, err = s.client.GetForecast(ctx, req)
	requireMissingRate(t, err, "USD->EUR", "no USD->EUR rate on or before 2025-12-31")
	_, err = s.client.GetForecast(ctx, &opportunityv1.GetForecastRequest{RateDate: day(2026, 1, 1)})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "rate_date") {
		t.Fatal(fields)
	}
	_, err = s.client.GetForecast(ctx, &opportunityv1.GetForecastRequest{ReportingCurrency: "EURO"})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "reporting_currency") {
		t.Fatal(fields)
	}

	// Performance: won 0.25 USD and 100 EUR, lost 1000 JPY, all alice's.
	list, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{OrderBy: "amount"})
	if err != nil || len(list.Opportunities) != 3 {
		t.Fatal(list, err)
	}
	for _, o := range list.Opportunities {
		if o.Amount.CurrencyCode == "JPY" {
			_, err = s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: o.Name, Reason: "price"})
		} else {
			_, err = s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: o.Name})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	perf, err := s.client.GetSalesPerformance(ctx, &opportunityv1.GetSalesPerformanceRequest{ReportingCurrency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if len(perf.Owners) != 1 || iso(perf.RateDate) != today {
		t.Fatalf("performance %v", perf)
	}
	// Won 100.125 -> 100.13; average (100.125 / 2 = 50.0625) -> 50.06;
	// lost 6.24.
	a := perf.Owners[0]
	if a.CurrencyCode != "EUR" || a.WonCount != 2 || a.LostCount != 1 || amt(a.WonAmount) != "100.13 EUR" || amt(a.AverageDealSize) != "50.06 EUR" ||
		amt(a.LostAmount) != "6.24 EUR" || a.WinRate < 0.66 || a.WinRate > 0.67 ||
		conversionsOf(a.Conversions) != "JPY->EUR 160.25 inverse from 2026-01-01 for "+today+"; USD->EUR 0.5 from 2026-01-01 for "+today {
		t.Fatalf("alice %v", a)
	}
	_, err = s.client.GetSalesPerformance(ctx, &opportunityv1.GetSalesPerformanceRequest{ReportingCurrency: "GBP"})
	requireMissingRate(t, err, "EUR->GBP", "no EUR->GBP rate on or before "+today)
}

func requireMissingRate(t *testing.T, err error, pair, message string) {
	t.Helper()
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != pmoney.ReasonRateMissing {
		t.Fatalf("reason %s", reason)
	}
	st := status.Convert(err)
	if !strings.Contains(st.Message(), message) {
		t.Fatalf("message %q, want %q", st.Message(), message)
	}
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.Violations) == 1 && pf.Violations[0].Subject == pair {
			return
		}
	}
	t.Fatalf("%v: no PreconditionFailure for %s", err, pair)
}
