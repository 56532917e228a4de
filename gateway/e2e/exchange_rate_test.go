package e2e

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/testkit"
)

// amountOf renders a JSON google.type.Money as "12.5 EUR".
func amountOf(v any) string {
	m, _ := v.(map[string]any)
	if m == nil {
		return "-"
	}
	units, _ := strconv.ParseInt(fmt.Sprint(m["units"]), 10, 64)
	nanos, _ := m["nanos"].(float64)
	code, _ := m["currencyCode"].(string)
	return money.Decimal(&moneypb.Money{CurrencyCode: code, Units: units, Nanos: int32(nanos)}) + " " + code
}

// conversionsOf renders a row's conversions as "USD->EUR 0.5 from
// 2026-01-01 for 2030-01-31".
func conversionsOf(row map[string]any) string {
	cs, _ := row["conversions"].([]any)
	var out []string
	day := func(v any) string {
		d, _ := v.(map[string]any)
		return fmt.Sprintf("%04.0f-%02.0f-%02.0f", d["year"], d["month"], d["day"])
	}
	for _, c := range cs {
		m, _ := c.(map[string]any)
		inv := ""
		if m["inverse"] == true {
			inv = " inverse"
		}
		out = append(out, fmt.Sprintf("%s->%s %s%s from %s for %s", m["sourceCurrency"], m["targetCurrency"], m["rate"], inv, day(m["effectiveDate"]), day(m["rateDate"])))
	}
	return strings.Join(out, "; ")
}

func dateQuery(field string, y, m, d int) string {
	return fmt.Sprintf("%s.year=%d&%s.month=%d&%s.day=%d", field, y, field, m, field, d)
}

// An admin enters exchange rates over REST; the order reports (revenue
// forecast, MRR) and, once the rates reached it through the events, the
// opportunity forecast total USD and EUR in EUR, naming the rate and
// dates used; a currency without a rate is refused with the pair and the
// date.
func TestReportsInReportingCurrencyOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	rate := map[string]any{"baseCurrency": "USD", "quoteCurrency": "EUR", "rate": "0.5",
		"effectiveDate": map[string]any{"year": 2026, "month": 1, "day": 1}, "source": "ECB reference rate 2025-12-31"}
	reqID := uuid.NewString()
	created := s.do(t, "POST", "/v1/exchangeRates?requestId="+reqID, rate).want(t, 200)
	if again := s.do(t, "POST", "/v1/exchangeRates?requestId="+reqID, rate).want(t, 200); again.str("name") != created.str("name") {
		t.Fatalf("a retried create made %s and %s", created.str("name"), again.str("name"))
	}
	// Bad rates: 0, negative, no date.
	for field, edit := range map[string]func(m map[string]any){
		"exchange_rate.rate":           func(m map[string]any) { m["rate"] = "0" },
		"exchange_rate.rate ":          func(m map[string]any) { m["rate"] = "-0.5" },
		"exchange_rate.effective_date": func(m map[string]any) { delete(m, "effectiveDate") },
	} {
		bad := map[string]any{}
		for k, v := range rate {
			bad[k] = v
		}
		edit(bad)
		r := s.do(t, "POST", "/v1/exchangeRates", bad).want(t, 400)
		if _, fields := r.violations(); !strings.Contains(strings.Join(fields, ","), strings.TrimSpace(field)) {
			t.Fatalf("%v: fields %v, want %s: %s", bad, fields, field, r.raw)
		}
	}
	// Salespeople read rates but do not enter them.
	s.do(t, "POST", "/v1/exchangeRates", rate, "Authorization", testkit.Bearer("sam", "sales")).want(t, 403)
	if got := s.do(t, "GET", "/v1/"+created.str("name"), nil, "Authorization", testkit.Bearer("sam", "sales")).want(t, 200); got.str("rate") != "0.5" {
		t.Fatalf("read: %s", got.raw)
	}

	acc := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Initech", "currencyCode": "EUR"}).want(t, 200).str("name")
	order := func(currency, units string, nanos int, month int) {
		o := s.asOps(t, "POST", "/v1/orders", map[string]any{"account": acc, "currencyCode": currency,
			"expectedFulfillmentDate": map[string]any{"year": 2030, "month": month, "day": 15},
			"lines":                   []map[string]any{{"productCode": "P", "quantity": "1", "unitPrice": map[string]any{"currencyCode": currency, "units": units, "nanos": nanos}}}}).want(t, 200)
		s.asOps(t, "POST", "/v1/"+o.str("name")+":confirm", map[string]any{}).want(t, 200)
	}
	order("EUR", "100", 0, 1)
	order("USD", "0", 250_000_000, 2)
	contract := func(currency, units string, nanos int) {
		c := s.asOps(t, "POST", "/v1/contracts", map[string]any{"account": acc, "currencyCode": currency,
			"startDate": map[string]any{"year": 2030, "month": 1, "day": 1}, "termMonths": 12,
			"lines": []map[string]any{{"productCode": "SUB", "quantity": "1", "unitPrice": map[string]any{"currencyCode": currency, "units": units, "nanos": nanos}}}}).want(t, 200)
		s.asOps(t, "POST", "/v1/"+c.str("name")+":activate", map[string]any{}).want(t, 200)
	}
	contract("EUR", "100", 0)
	contract("USD", "33", 330_000_000)

	// Revenue forecast for 2030 Q1 in EUR at the rates of 2030-01-31:
	// orders 100 + 0.125 = 100.125 -> 100.13; contracts 3 x 100 + 3 x
	// 16.665 = 349.995 -> 350.
	fc := s.asOps(t, "GET", "/v1/orders:revenueForecast?reportingCurrency=EUR&"+dateQuery("startDate", 2030, 1, 1)+"&"+
		dateQuery("endDate", 2030, 3, 31)+"&"+dateQuery("rateDate", 2030, 1, 31), nil).want(t, 200)
	rows := fc.list("rows")
	if fc.str("reportingCurrency") != "EUR" || len(rows) != 1 {
		t.Fatalf("revenue forecast: %s", fc.raw)
	}
	if amountOf(rows[0]["orderAmount"]) != "100.13 EUR" || amountOf(rows[0]["contractAmount"]) != "350 EUR" || amountOf(rows[0]["total"]) != "450.13 EUR" ||
		conversionsOf(rows[0]) != "USD->EUR 0.5 from 2026-01-01 for 2030-01-31" {
		t.Fatalf("revenue forecast row: %v", rows[0])
	}
	// MRR as of 2030-01-31: 100 + 16.665 = 116.665 -> 116.67, at that
	// day's rates by default.
	mrr := s.asOps(t, "GET", "/v1/contracts:recurringRevenue?reportingCurrency=EUR&"+dateQuery("asOfDate", 2030, 1, 31), nil).want(t, 200)
	cur := mrr.list("currencies")
	if len(cur) != 1 || amountOf(cur[0]["mrr"]) != "116.67 EUR" || amountOf(cur[0]["arr"]) != "1400.04 EUR" ||
		conversionsOf(cur[0]) != "USD->EUR 0.5 from 2026-01-01 for 2030-01-31" {
		t.Fatalf("MRR: %s", mrr.raw)
	}
	// No USD->GBP nor GBP->USD rate: refused with the pair and the date.
	missing := s.asOps(t, "GET", "/v1/contracts:recurringRevenue?reportingCurrency=GBP&"+dateQuery("asOfDate", 2030, 1, 31), nil).want(t, 400)
	if reason, _ := missing.violations(); reason != "EXCHANGE_RATE_MISSING" || !strings.Contains(missing.str("message"), "no EUR->GBP rate on or before 2030-01-31") {
		t.Fatalf("missing rate: %s", missing.raw)
	}

	// The opportunity forecast, once the rate reached the opportunity
	// service: 0.25 USD + 100 EUR closing in 2030 Q1.
	for _, amount := range []map[string]any{{"currencyCode": "USD", "nanos": 250_000_000}, {"currencyCode": "EUR", "units": "100"}} {
		s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "Deal", "account": acc, "amount": amount,
			"expectedCloseDate": map[string]any{"year": 2030, "month": 2, "day": 1}}).want(t, 200)
	}
	path := "/v1/opportunities:forecast?reportingCurrency=EUR&" + dateQuery("startDate", 2030, 1, 1) + "&" + dateQuery("endDate", 2030, 3, 31) +
		"&" + dateQuery("rateDate", 2030, 1, 31)
	var forecast response
	testkit.Eventually(t, 30*time.Second, func() bool {
		forecast = s.do(t, "GET", path, nil)
		return forecast.status == 200
	}, "the forecast in EUR (the rate projected)")
	frows := forecast.list("rows")
	if len(frows) != 1 || amountOf(frows[0]["amount"]) != "100.13 EUR" || conversionsOf(frows[0]) != "USD->EUR 0.5 from 2026-01-01 for 2030-01-31" {
		t.Fatalf("opportunity forecast: %s", forecast.raw)
	}
	// Deleting the rate reaches the opportunity service too.
	s.do(t, "DELETE", "/v1/"+created.str("name")+"?etag="+url.QueryEscape(created.str("etag")), nil).want(t, 200)
	testkit.Eventually(t, 30*time.Second, func() bool {
		r := s.do(t, "GET", path, nil)
		reason, _ := r.violations()
		return r.status == 400 && reason == "EXCHANGE_RATE_MISSING" && strings.Contains(r.str("message"), "no USD->EUR rate on or before 2030-01-31")
	}, "the forecast refused once the rate is deleted")
}

// Rates entered while the order service is killed (right after a commit,
// its event still in the outbox) and the opportunity service is killed
// mid-stream: after restarts and client retries with the same request
// ids, both services hold every rate exactly once, with the last
// correction.
func TestExchangeRatesSurviveCrashes(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	rates := orderv1.NewExchangeRateServiceClient(testkit.Dial(t, s.orders.Addr))
	ctx := testkit.As("ada", "admin")
	const n = 60
	// create retries a request until the order service answers, as a
	// client does across a restart.
	create := func(i int, reqID string) *orderv1.ExchangeRate {
		t.Helper()
		day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
		req := &orderv1.CreateExchangeRateRequest{RequestId: reqID, ExchangeRate: &orderv1.ExchangeRate{
			BaseCurrency: "USD", QuoteCurrency: "EUR", Rate: fmt.Sprintf("0.%d", 500+i), Source: "crash test",
			EffectiveDate: &date.Date{Year: int32(day.Year()), Month: int32(day.Month()), Day: int32(day.Day())}}}
		for attempt := 0; ; attempt++ {
			r, err := rates.CreateExchangeRate(ctx, req)
			if err == nil {
				return r
			}
			if attempt > 100 {
				t.Fatalf("rate %d: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var made []*orderv1.ExchangeRate
	for i := range n {
		reqID := uuid.NewString()
		made = append(made, create(i, reqID))
		switch i {
		case n / 3:
			s.opps.Kill() // SIGKILL while it consumes
		case n / 2:
			s.orders.Kill() // right after a commit: the event may still be in the outbox
			s.orders.Restart()
			// The client did not hear back in time and retries: the same rate.
			if again := create(i, reqID); again.Name != made[i].Name {
				t.Fatalf("retry after the crash made %s, first %s", again.Name, made[i].Name)
			}
		case 2 * n / 3:
			s.opps.Restart()
		}
	}
	// Corrections of every tenth rate, the opportunity service killed
	// among them.
	for i := 0; i < n; i += 10 {
		r := made[i]
		r.Rate = "1." + strconv.Itoa(i)
		if _, err := rates.UpdateExchangeRate(ctx, &orderv1.UpdateExchangeRateRequest{ExchangeRate: r,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate"}}}); err != nil {
			t.Fatal(err)
		}
		if i == 30 {
			s.opps.Kill()
			s.opps.Restart()
		}
	}
	const rows = `SELECT count(*)::text || ' ' || coalesce(string_agg(id::text || '=' || rate::text || '@' || effective_date::text, ',' ORDER BY id), '') FROM `
	want := s.query(t, rows+`"order".exchange_rates`)
	if !strings.HasPrefix(want, strconv.Itoa(n)+" ") {
		t.Fatalf("order service holds %s", want[:10])
	}
	testkit.Eventually(t, 60*time.Second, func() bool {
		return s.query(t, rows+`opportunity.exchange_rates`) == want
	}, "the opportunity service's copy equals the order service's rates")
}
