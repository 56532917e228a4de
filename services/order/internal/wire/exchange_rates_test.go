package wire_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	moneyv1 "github.com/crmsuite/crm/gen/go/crm/money/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/testkit"
)

var admin = testkit.As("ada", "admin")

func (s *suite) rates() orderv1.ExchangeRateServiceClient {
	return orderv1.NewExchangeRateServiceClient(s.svc.Conn)
}

func (s *suite) rate(t *testing.T, base, quote, rate string, effective *date.Date) *orderv1.ExchangeRate {
	t.Helper()
	r, err := s.rates().CreateExchangeRate(admin, &orderv1.CreateExchangeRateRequest{ExchangeRate: &orderv1.ExchangeRate{
		BaseCurrency: base, QuoteCurrency: quote, Rate: rate, EffectiveDate: effective, Source: "ECB reference rates"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rateEvents are the exchange rate events on the order stream.
func rateEvents(evs []proto.Message) []proto.Message {
	var out []proto.Message
	for _, e := range evs {
		switch e.(type) {
		case *eventsv1.ExchangeRateChanged, *eventsv1.ExchangeRateDeleted:
			out = append(out, e)
		}
	}
	return out
}

// Admins enter, correct and delete rates; a retried create makes one
// rate; stale etags are refused; each change is published once, with a
// growing revision; staff read, only admins write.
func TestExchangeRateLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t, options{noAccounts: true})
	rc := s.rates()
	reqID := uuid.NewString()
	in := &orderv1.CreateExchangeRateRequest{RequestId: reqID, ExchangeRate: &orderv1.ExchangeRate{
		BaseCurrency: "USD", QuoteCurrency: "EUR", Rate: "0.92150", EffectiveDate: day(2026, 1, 1), Source: "ECB 2025-12-31"}}
	first, err := rc.CreateExchangeRate(admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if first.Rate != "0.92150" || first.CreatedBy != "ada" || first.Etag == "" || !strings.HasPrefix(first.Name, "exchangeRates/") {
		t.Fatalf("created %v", first)
	}
	again, err := rc.CreateExchangeRate(admin, in)
	if err != nil || again.Name != first.Name {
		t.Fatalf("retry: %v, %v", again, err)
	}
	if n := s.query(t, `SELECT count(*)::text FROM exchange_rates`); n != "1" {
		t.Fatalf("%s rates after a retried create", n)
	}
	// The same pair and day again, under another request id.
	dup := proto.Clone(in).(*orderv1.CreateExchangeRateRequest)
	dup.RequestId, dup.ExchangeRate.Rate = "", "0.93"
	_, err = rc.CreateExchangeRate(admin, dup)
	if reason, _ := testkit.RequireCode(t, err, codes.AlreadyExists); reason != "EXCHANGE_RATE_EXISTS" {
		t.Fatal(reason)
	}

	// Staff read; only admins write.
	sales := testkit.As("sam", "sales")
	if got, err := rc.GetExchangeRate(sales, &orderv1.GetExchangeRateRequest{Name: first.Name}); err != nil || got.Rate != "0.92150" {
		t.Fatalf("sales reads: %v, %v", got, err)
	}
	for _, who := range []string{"manager", "ops", "sales"} {
		_, err := rc.CreateExchangeRate(testkit.As("x", who), &orderv1.CreateExchangeRateRequest{ExchangeRate: &orderv1.ExchangeRate{
			BaseCurrency: "GBP", QuoteCurrency: "EUR", Rate: "1.1", EffectiveDate: day(2026, 1, 1), Source: "x"}})
		testkit.RequireDenied(t, who+" creates a rate", err)
	}

	// Corrections: a stale etag is ABORTED; the pair and date stay.
	upd := &orderv1.UpdateExchangeRateRequest{ExchangeRate: &orderv1.ExchangeRate{Name: first.Name, Rate: "0.9216", Etag: first.Etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate"}}}
	fixed, err := rc.UpdateExchangeRate(admin, upd)
	if err != nil || fixed.Rate != "0.9216" || fixed.Etag == first.Etag || fixed.Source != "ECB 2025-12-31" {
		t.Fatalf("update: %v, %v", fixed, err)
	}
	if _, err := rc.UpdateExchangeRate(admin, upd); status.Code(err) != codes.Aborted {
		t.Fatalf("stale etag: %v", err)
	}
	_, err = rc.UpdateExchangeRate(admin, &orderv1.UpdateExchangeRateRequest{ExchangeRate: &orderv1.ExchangeRate{Name: first.Name, EffectiveDate: day(2026, 2, 1)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"effective_date"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "exchange_rate.effective_date") {
		t.Fatal(fields)
	}
	_, err = rc.UpdateExchangeRate(admin, &orderv1.UpdateExchangeRateRequest{ExchangeRate: &orderv1.ExchangeRate{Name: first.Name, Rate: "0"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "exchange_rate.rate") {
		t.Fatal(fields)
	}

	// Listing by pair, a page at a time.
	s.rate(t, "USD", "EUR", "0.95", day(2026, 3, 1))
	s.rate(t, "EUR", "JPY", "160.25", day(2026, 1, 1))
	var names []string
	page := ""
	for {
		resp, err := rc.ListExchangeRates(sales, &orderv1.ListExchangeRatesRequest{BaseCurrency: "USD", PageSize: 1, PageToken: page})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.ExchangeRates {
			names = append(names, r.BaseCurrency+r.QuoteCurrency+r.Rate)
		}
		if page = resp.NextPageToken; page == "" {
			break
		}
	}
	if strings.Join(names, ",") != "USDEUR0.9216,USDEUR0.95" {
		t.Fatalf("listed %v", names)
	}

	// Deleting: a stale etag is ABORTED, then it is gone.
	if _, err := rc.DeleteExchangeRate(admin, &orderv1.DeleteExchangeRateRequest{Name: first.Name, Etag: first.Etag}); status.Code(err) != codes.Aborted {
		t.Fatalf("stale delete: %v", err)
	}
	if _, err := rc.DeleteExchangeRate(admin, &orderv1.DeleteExchangeRateRequest{Name: first.Name, Etag: fixed.Etag}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.GetExchangeRate(admin, &orderv1.GetExchangeRateRequest{Name: first.Name}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted rate: %v", err)
	}

	// Published once each: created (once, despite the retry), corrected,
	// two more created, deleted; the first rate's revisions 1, 2, 3.
	evs := rateEvents(s.published(t, 5))
	if got := strings.Join(testkit.EventTypes(evs), ","); got != "ExchangeRateChanged,ExchangeRateChanged,ExchangeRateChanged,ExchangeRateChanged,ExchangeRateDeleted" {
		t.Fatalf("events %s", got)
	}
	var revs []int64
	for _, e := range evs {
		if r, ok := e.(interface {
			GetExchangeRateId() string
			GetRevision() int64
		}); ok && "exchangeRates/"+r.GetExchangeRateId() == first.Name {
			revs = append(revs, r.GetRevision())
		}
	}
	if len(revs) != 3 || revs[0] != 1 || revs[1] != 2 || revs[2] != 3 {
		t.Fatalf("revisions %v", revs)
	}
	if d := evs[4].(*eventsv1.ExchangeRateDeleted); d.ExchangeRate.GetRate() != "0.9216" {
		t.Fatalf("deleted event %v", d)
	}
	// Audited: who created, corrected and deleted it, through which method.
	if got := s.query(t, `SELECT string_agg(action || ' ' || actor || ' ' || method, ', ' ORDER BY id) FROM audit_log WHERE record = $1`, first.Name); got !=
		"CREATE ada /crm.order.v1.ExchangeRateService/CreateExchangeRate, UPDATE ada /crm.order.v1.ExchangeRateService/UpdateExchangeRate, "+
			"DELETE ada /crm.order.v1.ExchangeRateService/DeleteExchangeRate" {
		t.Fatalf("audit trail: %s", got)
	}
}

// Every bad rate is InvalidArgument naming its field, and writes nothing.
func TestExchangeRateBadInput(t *testing.T) {
	t.Parallel()
	s := start(t, options{noAccounts: true})
	good := func() *orderv1.ExchangeRate {
		return &orderv1.ExchangeRate{BaseCurrency: "USD", QuoteCurrency: "EUR", Rate: "0.9", EffectiveDate: day(2026, 1, 1), Source: "ECB"}
	}
	for name, c := range map[string]struct {
		edit  func(r *orderv1.ExchangeRate)
		field string
	}{
		"zero rate":          {func(r *orderv1.ExchangeRate) { r.Rate = "0" }, "exchange_rate.rate"},
		"zero with decimals": {func(r *orderv1.ExchangeRate) { r.Rate = "0.000" }, "exchange_rate.rate"},
		"negative rate":      {func(r *orderv1.ExchangeRate) { r.Rate = "-0.9" }, "exchange_rate.rate"},
		"no rate":            {func(r *orderv1.ExchangeRate) { r.Rate = "" }, "exchange_rate.rate"},
		"not a number":       {func(r *orderv1.ExchangeRate) { r.Rate = "abc" }, "exchange_rate.rate"},
		"exponent":           {func(r *orderv1.ExchangeRate) { r.Rate = "9e-1" }, "exchange_rate.rate"},
		"too precise":        {func(r *orderv1.ExchangeRate) { r.Rate = "0.1234567890123" }, "exchange_rate.rate"},
		"no date":            {func(r *orderv1.ExchangeRate) { r.EffectiveDate = nil }, "exchange_rate.effective_date"},
		"impossible date":    {func(r *orderv1.ExchangeRate) { r.EffectiveDate = day(2026, 2, 30) }, "exchange_rate.effective_date"},
		"unknown currency":   {func(r *orderv1.ExchangeRate) { r.BaseCurrency = "XYZ" }, "exchange_rate.base_currency"},
		"lower case":         {func(r *orderv1.ExchangeRate) { r.QuoteCurrency = "eur" }, "exchange_rate.quote_currency"},
		"no currency":        {func(r *orderv1.ExchangeRate) { r.QuoteCurrency = "" }, "exchange_rate.quote_currency"},
		"same currency":      {func(r *orderv1.ExchangeRate) { r.QuoteCurrency = "USD" }, "exchange_rate.quote_currency"},
		"no source":          {func(r *orderv1.ExchangeRate) { r.Source = " " }, "exchange_rate.source"},
	} {
		r := good()
		c.edit(r)
		_, err := s.rates().CreateExchangeRate(admin, &orderv1.CreateExchangeRateRequest{ExchangeRate: r})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s: %v", name, err)
		}
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, c.field) {
			t.Fatalf("%s: fields %v, want %s", name, fields, c.field)
		}
	}
	if n := s.query(t, `SELECT count(*)::text FROM exchange_rates`); n != "0" {
		t.Fatalf("%s rates written", n)
	}
	_, err := s.rates().ListExchangeRates(admin, &orderv1.ListExchangeRatesRequest{BaseCurrency: "EURO"})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	_, err = s.rates().GetExchangeRate(admin, &orderv1.GetExchangeRateRequest{Name: "exchangeRates/" + uuid.Nil.String()})
	if c := status.Code(err); c != codes.NotFound && c != codes.InvalidArgument {
		t.Fatalf("nil id: %v", err)
	}
}

func usd(units int64, nanos int32) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: "USD", Units: units, Nanos: nanos}
}

func conversionsOf(cs []*moneyv1.CurrencyConversion) string {
	var out []string
	for _, c := range cs {
		inv := ""
		if c.Inverse {
			inv = " inverse"
		}
		out = append(out, c.SourceCurrency+"->"+c.TargetCurrency+" "+c.Rate+inv+" from "+dateString(c.EffectiveDate)+" for "+dateString(c.RateDate))
	}
	return strings.Join(out, "; ")
}

func dateString(d *date.Date) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// The revenue forecast and MRR in a reporting currency: amounts summed
// per currency, converted exactly, rounded once half away from zero to
// the currency's minor unit; each row names the rate and dates it used;
// an inverse rate divides; a missing rate is FAILED_PRECONDITION naming
// the pair and the date.
func TestReportsInReportingCurrency(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	order := func(price *moneypb.Money, when *date.Date) {
		o, err := s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{Account: account, CurrencyCode: price.CurrencyCode, Owner: "sam",
			ExpectedFulfillmentDate: when, Lines: []*orderv1.OrderLine{line("P", "1", price)}}})
		if err != nil {
			t.Fatal(err)
		}
		s.confirmed(t, o)
	}
	// Q1 2030: 100 EUR and 0.01 + 0.01 + 0.23 = 0.25 USD; Q2: 1000 JPY.
	order(eur(100, 0), day(2030, 1, 10))
	order(usd(0, 10_000_000), day(2030, 1, 11))
	order(usd(0, 10_000_000), day(2030, 2, 11))
	order(usd(0, 230_000_000), day(2030, 3, 11))
	order(&moneypb.Money{CurrencyCode: "JPY", Units: 1000}, day(2030, 4, 2))
	usdRate := s.rate(t, "USD", "EUR", "0.5", day(2026, 1, 1))
	s.rate(t, "USD", "EUR", "0.8", day(2099, 1, 1)) // not yet
	s.rate(t, "EUR", "JPY", "160.25", day(2026, 1, 1))

	ask := &orderv1.GetRevenueForecastRequest{StartDate: day(2030, 1, 1), EndDate: day(2030, 6, 30), ReportingCurrency: "EUR"}
	fc, err := s.client.GetRevenueForecast(ops, ask)
	if err != nil {
		t.Fatal(err)
	}
	today := s.query(t, `SELECT (now() AT TIME ZONE 'UTC')::date::text`)
	if fc.ReportingCurrency != "EUR" || dateString(fc.RateDate) != today || len(fc.Rows) != 2 {
		t.Fatalf("forecast %v", fc)
	}
	// 0.25 USD x 0.5 = 0.125 EUR: 0.13 (half-even would say 0.12;
	// converting each order first, 0.01 + 0.01 + 0.12 = 0.14).
	q1, q2 := fc.Rows[0], fc.Rows[1]
	if q1.CurrencyCode != "EUR" || money.Decimal(q1.OrderAmount) != "100.13" || money.Decimal(q1.Total) != "100.13" || q1.OrderCount != 4 {
		t.Fatalf("Q1 %v", q1)
	}
	if got, want := conversionsOf(q1.Conversions), "USD->EUR 0.5 from 2026-01-01 for "+today; got != want {
		t.Fatalf("Q1 conversions %q, want %q", got, want)
	}
	if q1.Conversions[0].ExchangeRate != usdRate.Name {
		t.Fatalf("Q1 rate %s, want %s", q1.Conversions[0].ExchangeRate, usdRate.Name)
	}
	// Only EUR->JPY is entered: 1000 JPY / 160.25 = 6.2402... EUR.
	if money.Decimal(q2.OrderAmount) != "6.24" || conversionsOf(q2.Conversions) != "JPY->EUR 160.25 inverse from 2026-01-01 for "+today {
		t.Fatalf("Q2 %v", q2)
	}
	// Another rate date takes the rate then in force.
	ask.RateDate = day(2099, 6, 30)
	later, err := s.client.GetRevenueForecast(ops, ask)
	if err != nil {
		t.Fatal(err)
	}
	if money.Decimal(later.Rows[0].OrderAmount) != "100.2" || conversionsOf(later.Rows[0].Conversions) != "USD->EUR 0.8 from 2099-01-01 for 2099-06-30" {
		t.Fatalf("forecast at 2099 rates: %v", later.Rows[0])
	}
	// Before any rate: the error names the pair and the date.
	ask.RateDate = day(2025, 12, 31)
	_, err = s.client.GetRevenueForecast(ops, ask)
	requireMissingRate(t, err, "USD->EUR", "no USD->EUR rate on or before 2025-12-31")
	// Into JPY: EUR by the entered rate, USD has none to JPY either way.
	_, err = s.client.GetRevenueForecast(ops, &orderv1.GetRevenueForecastRequest{StartDate: day(2030, 1, 1), EndDate: day(2030, 6, 30),
		ReportingCurrency: "JPY", RateDate: day(2030, 1, 1)})
	requireMissingRate(t, err, "USD->JPY", "no USD->JPY rate on or before 2030-01-01")
	// Without a reporting currency: per currency, as before.
	plain, err := s.client.GetRevenueForecast(ops, &orderv1.GetRevenueForecastRequest{StartDate: day(2030, 1, 1), EndDate: day(2030, 6, 30)})
	if err != nil || len(plain.Rows) != 3 || plain.ReportingCurrency != "" || plain.Rows[0].Conversions != nil {
		t.Fatalf("per currency: %v, %v", plain, err)
	}
	// Bad asks.
	for field, req := range map[string]*orderv1.GetRevenueForecastRequest{
		"reporting_currency": {ReportingCurrency: "EUX"},
		"rate_date":          {RateDate: day(2026, 1, 1)},
	} {
		_, err := s.client.GetRevenueForecast(ops, req)
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, field) {
			t.Fatalf("%v: fields %v", req, fields)
		}
	}
	_, err = s.client.GetRevenueForecast(ops, &orderv1.GetRevenueForecastRequest{ReportingCurrency: "EUR", RateDate: day(2026, 2, 30)})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "rate_date") {
		t.Fatal(fields)
	}

	// MRR: 100 EUR and 33.33 USD a month from 2030-01-01; 33.33 x 0.5 =
	// 16.665: MRR 116.665, rounded once: 116.67.
	s.activate(t, s.contract(t, account, &orderv1.Contract{StartDate: day(2030, 1, 1), TermMonths: 12, Owner: "sam"}))
	uc, err := s.client.CreateContract(ops, &orderv1.CreateContractRequest{Contract: &orderv1.Contract{Account: account, CurrencyCode: "USD",
		StartDate: day(2030, 1, 1), TermMonths: 12, Owner: "sam", Lines: []*orderv1.OrderLine{line("SUB", "1", usd(33, 330_000_000))}}})
	if err != nil {
		t.Fatal(err)
	}
	s.activate(t, uc)
	mrr, err := s.client.GetRecurringRevenue(ops, &orderv1.GetRecurringRevenueRequest{AsOfDate: day(2030, 1, 31), ReportingCurrency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mrr.Currencies) != 1 || dateString(mrr.RateDate) != "2030-01-31" {
		t.Fatalf("MRR %v", mrr)
	}
	row := mrr.Currencies[0]
	if row.CurrencyCode != "EUR" || money.Decimal(row.Mrr) != "116.67" || money.Decimal(row.NewMrr) != "116.67" || money.Decimal(row.Arr) != "1400.04" ||
		conversionsOf(row.Conversions) != "USD->EUR 0.5 from 2026-01-01 for 2030-01-31" {
		t.Fatalf("MRR row %v", row)
	}
	_, err = s.client.GetRecurringRevenue(ops, &orderv1.GetRecurringRevenueRequest{AsOfDate: day(2030, 1, 31), ReportingCurrency: "GBP"})
	requireMissingRate(t, err, "EUR->GBP", "no EUR->GBP rate on or before 2030-01-31")
}

// requireMissingRate checks the FAILED_PRECONDITION of a missing rate.
func requireMissingRate(t *testing.T, err error, pair, message string) {
	t.Helper()
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != money.ReasonRateMissing {
		t.Fatalf("reason %s", reason)
	}
	st := status.Convert(err)
	if !strings.Contains(st.Message(), message) {
		t.Fatalf("message %q, want %q", st.Message(), message)
	}
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.Violations) == 1 && pf.Violations[0].Subject == pair &&
			pf.Violations[0].Type == money.ReasonRateMissing && strings.Contains(pf.Violations[0].Description, message) {
			return
		}
	}
	t.Fatalf("%v: no PreconditionFailure for %s", err, pair)
}
