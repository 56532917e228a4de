package wire_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	pmoney "github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/testkit"
)

func usd(units int64, nanos int32) *money.Money {
	return &money.Money{CurrencyCode: "USD", Units: units, Nanos: nanos}
}

func day(y, m, d int32) *date.Date { return &date.Date{Year: y, Month: m, Day: d} }

func amt(m *money.Money) string {
	if m == nil {
		return "-"
	}
	return pmoney.Decimal(m) + " " + m.CurrencyCode
}

// Forecast and performance against hand-computed totals; two currencies
// are kept apart. Today is taken from the clock: the expected close dates
// are relative to the current quarter.
func TestForecastPerformanceAndLists(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, _ := s.customer(t, "Acme")
	now := time.Now().UTC()
	q0 := time.Date(now.Year(), time.Month((int(now.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
	q1 := q0.AddDate(0, 3, 0)
	in := func(t0 time.Time, days int) *date.Date {
		d := t0.AddDate(0, 0, days)
		return day(int32(d.Year()), int32(d.Month()), int32(d.Day()))
	}
	mk := func(name, owner string, amount *money.Money, close *date.Date, stage string, prob int32) *opportunityv1.Opportunity {
		o := s.create(t, &opportunityv1.Opportunity{DisplayName: name, Account: account, Owner: owner, Amount: amount, ExpectedCloseDate: close, Probability: prob})
		if stage != "" {
			var err error
			if o, err = s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: o.Name, Stage: stage}); err != nil {
				t.Fatal(err)
			}
		}
		return o
	}
	mk("A alpha", "alice", eur(1000, 0), in(q0, 40), "", 0)                // 10%
	mk("B bravo", "alice", eur(2000, 500000000), in(q0, 5), "proposal", 0) // 50%
	mk("C charlie", "bob", eur(3000, 0), in(q1, 9), "negotiation", 0)      // 75%
	mk("D delta", "alice", usd(500, 0), in(q0, 20), "", 33)                // overridden 33%
	mk("E echo", "alice", eur(999, 0), in(q0, 800), "", 0)                 // beyond the default range
	f := mk("F foxtrot", "alice", eur(10000, 0), in(q0, 1), "", 0)
	g := mk("G golf", "bob", eur(400, 0), in(q0, 1), "", 0)
	h := mk("H hotel", "alice", usd(100, 0), in(q0, 1), "", 0)
	if _, err := s.client.WinOpportunity(ctx, &opportunityv1.WinOpportunityRequest{Name: f.Name}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*opportunityv1.Opportunity{g, h} {
		if _, err := s.client.LoseOpportunity(ctx, &opportunityv1.LoseOpportunityRequest{Name: o.Name, Reason: "price"}); err != nil {
			t.Fatal(err)
		}
	}
	s.sql(t, `UPDATE opportunities SET created_at = close_time - interval '10 days' WHERE id = $1`, f.Name[len("opportunities/"):])

	rows := func(req *opportunityv1.GetForecastRequest) []string {
		t.Helper()
		fc, err := s.client.GetForecast(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range fc.Rows {
			out = append(out, fmt.Sprintf("%04d-%02d %s %s %d %s %s", r.PeriodStart.Year, r.PeriodStart.Month, r.Owner, r.Stage, r.Count, amt(r.Amount), amt(r.WeightedAmount)))
		}
		return out
	}
	p := func(t0 time.Time) string { return t0.Format("2006-01") }
	got := rows(&opportunityv1.GetForecastRequest{GroupBy: []opportunityv1.ForecastDimension{
		opportunityv1.ForecastDimension_FORECAST_DIMENSION_OWNER, opportunityv1.ForecastDimension_FORECAST_DIMENSION_STAGE}})
	want := []string{
		p(q0) + " alice proposal 1 2000.5 EUR 1000.25 EUR",
		p(q0) + " alice qualification 1 1000 EUR 100 EUR",
		p(q0) + " alice qualification 1 500 USD 165 USD",
		p(q1) + " bob negotiation 1 3000 EUR 2250 EUR",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("forecast by owner and stage:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = rows(&opportunityv1.GetForecastRequest{})
	want = []string{
		p(q0) + "   2 3000.5 EUR 1100.25 EUR",
		p(q0) + "   1 500 USD 165 USD",
		p(q1) + "   1 3000 EUR 2250 EUR",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("forecast by quarter:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = rows(&opportunityv1.GetForecastRequest{Period: opportunityv1.ForecastPeriod_FORECAST_PERIOD_MONTH, Owners: []string{"alice"},
		StartDate: in(q0, 0), EndDate: in(q0, 3*365)})
	if len(got) != 4 || !strings.HasSuffix(got[len(got)-1], " 1 999 EUR 99.9 EUR") {
		t.Fatalf("alice by month = %v", got)
	}

	perf, err := s.client.GetSalesPerformance(ctx, &opportunityv1.GetSalesPerformanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, o := range perf.Owners {
		lines = append(lines, fmt.Sprintf("%s %s won %d %s lost %d %s rate %.2f avg %s days %.1f", o.Owner, o.CurrencyCode,
			o.WonCount, amt(o.WonAmount), o.LostCount, amt(o.LostAmount), o.WinRate, amt(o.AverageDealSize), o.AverageDaysToClose))
	}
	wantPerf := []string{
		"alice EUR won 1 10000 EUR lost 0 0 EUR rate 1.00 avg 10000 EUR days 10.0",
		"alice USD won 0 0 USD lost 1 100 USD rate 0.00 avg 0 USD days 0.0",
		"bob EUR won 0 0 EUR lost 1 400 EUR rate 0.00 avg 0 EUR days 0.0",
	}
	if !slices.Equal(lines, wantPerf) {
		t.Fatalf("performance:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(wantPerf, "\n"))
	}
	if math.Abs(perf.Owners[0].AverageDaysToClose-10) > 0.01 {
		t.Fatalf("days = %v", perf.Owners[0].AverageDaysToClose)
	}

	// Lists: filters and keyset pages.
	names := func(req *opportunityv1.ListOpportunitiesRequest) []string {
		t.Helper()
		var out []string
		for {
			resp, err := s.client.ListOpportunities(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range resp.Opportunities {
				out = append(out, o.DisplayName[:1])
			}
			if resp.NextPageToken == "" {
				return out
			}
			req.PageToken = resp.NextPageToken
		}
	}
	for _, c := range []struct {
		filter, order string
		want          string
	}{
		{"", "amount", "HGDEABCF"},
		{"", "amount desc", "FCBAEDGH"},
		{`state = OPEN`, "expected_close_date", "BDACE"},
		{`state = OPPORTUNITY_STATE_LOST AND owner = "bob"`, "", "G"},
		{`currency_code = "usd"`, "create_time", "DH"},
		{`stage = "qualification" AND expected_close_date >= "` + iso(in(q0, 30)) + `"`, "expected_close_date", "AE"},
		{`text:"ravo"`, "", "B"},
		{`forecast_category = COMMIT`, "", "C"},
	} {
		if got := strings.Join(names(&opportunityv1.ListOpportunitiesRequest{Filter: c.filter, OrderBy: c.order, PageSize: 2}), ""); got != c.want {
			t.Errorf("filter %q order %q = %s, want %s", c.filter, c.order, got, c.want)
		}
	}
	// Closed opportunities are not edited.
	if _, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
		Opportunity: &opportunityv1.Opportunity{Name: f.Name, Account: account}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}}); err == nil {
		t.Fatal("a won opportunity was edited")
	}
}

func iso(d *date.Date) string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }
