package wire_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/testkit"
)

func day(y, m, d int) *date.Date { return &date.Date{Year: int32(y), Month: int32(m), Day: int32(d)} }

// dateIn is today's date moved by months and days, UTC.
func dateIn(months, days int) *date.Date {
	t := time.Now().UTC().AddDate(0, months, days)
	return day(t.Year(), int(t.Month()), t.Day())
}

func (s *suite) activate(t *testing.T, c *orderv1.Contract) *orderv1.Contract {
	t.Helper()
	got, err := s.client.ActivateContract(ops, &orderv1.ActivateContractRequest{Name: c.Name})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (s *suite) getContract(t *testing.T, name string) *orderv1.Contract {
	t.Helper()
	c, err := s.client.GetContract(ops, &orderv1.GetContractRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A yearly service billed monthly from a 31st: every period is listed,
// exact to the cent, boundaries on the month's last day when shorter; an
// amendment changes the schedule from its date on, and earlier periods
// never change.
func TestContractBillingScheduleAndAmendment(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	// The last 31st before today, so the term is under way.
	start := time.Now().UTC()
	for start = start.AddDate(0, 0, -start.Day()); start.Day() != 31; start = start.AddDate(0, 0, -start.Day()) {
	}
	c := s.contract(t, account, &orderv1.Contract{StartDate: day(start.Year(), int(start.Month()), 31), TermMonths: 12,
		BillingInterval: orderv1.BillingInterval_BILLING_INTERVAL_MONTHLY, Lines: []*orderv1.OrderLine{
			{ProductCode: "SUP", Quantity: "1", UnitPrice: eur(99, 990000000), TaxRate: "20"}}})
	if c.GetBillingAnchorDay() != 31 {
		t.Fatalf("anchor: %v", c)
	}
	c = s.activate(t, c)
	if c.Status != orderv1.ContractStatus_CONTRACT_STATUS_ACTIVE || c.TermNumber != 1 || c.TermEndDate == nil || money.Decimal(c.RecurringAmount) != "99.99" {
		t.Fatalf("activated: %v", c)
	}
	periods := s.periods(t, c.Name)
	if len(periods) != 12 {
		t.Fatalf("%d periods of a 12-month term", len(periods))
	}
	for i, p := range periods {
		if i > 0 && !proto.Equal(periods[i-1].EndDate, p.StartDate) {
			t.Fatalf("gap or overlap at %d: %v", i, p)
		}
		last := time.Date(int(p.StartDate.Year), time.Month(p.StartDate.Month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if want := min(int(c.GetBillingAnchorDay()), last); int(p.StartDate.Day) != want {
			t.Fatalf("period %d starts on day %d, want %d", i+1, p.StartDate.Day, want)
		}
		if money.Decimal(p.Amount) != "99.99" || p.Prorated || p.TermNumber != 1 {
			t.Fatalf("period %d: %v", i+1, p)
		}
	}
	// From next month on: 149.99.
	from := periods[2].StartDate
	amended, err := s.client.AmendContract(ops, &orderv1.AmendContractRequest{Name: c.Name, EffectiveDate: from,
		Lines: []*orderv1.OrderLine{line("SUP", "1", eur(149, 990000000))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(amended.Amendments) != 1 || money.Decimal(amended.RecurringAmount) != "149.99" {
		t.Fatalf("amended: %v", amended)
	}
	after := s.periods(t, c.Name)
	for i, p := range after {
		want := "99.99"
		if i >= 2 {
			want = "149.99"
		}
		if money.Decimal(p.Amount) != want || (i < 2 && !proto.Equal(p, periods[i])) {
			t.Fatalf("after the amendment, period %d: %v", i+1, p)
		}
	}
	// An amendment effective in the past would change billed periods.
	_, err = s.client.AmendContract(ops, &orderv1.AmendContractRequest{Name: c.Name, EffectiveDate: periods[0].StartDate,
		Lines: []*orderv1.OrderLine{line("SUP", "1", eur(1, 0))}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "effective_date") {
		t.Fatalf("past amendment: %v", fields)
	}
}

func (s *suite) periods(t *testing.T, name string) []*orderv1.BillingPeriod {
	t.Helper()
	var out []*orderv1.BillingPeriod
	token := ""
	for {
		resp, err := s.client.ListBillingPeriods(ops, &orderv1.ListBillingPeriodsRequest{Parent: name, PageSize: 5, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.BillingPeriods...)
		if token = resp.NextPageToken; token == "" {
			return out
		}
	}
}

// The renewal timer of a contract whose renewal is due publishes
// ContractRenewalDue once, naming the renewal opportunity; winning that
// opportunity renews the contract (term 2), once, however often the win
// is delivered; MRR counts the contract once.
func TestRenewalDueAndWonRenewal(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, contact := s.customer(t, "Acme", 0)
	// A 12-month term ending in about a month, renewal due 60 days before
	// its end: already due.
	c := s.contract(t, account, &orderv1.Contract{Contact: contact, StartDate: dateIn(-11, 0), TermMonths: 12, RenewalLeadDays: 60})
	c = s.activate(t, c)
	var due *eventsv1.ContractRenewalDue
	testkit.Eventually(t, 10*time.Second, func() bool {
		for _, e := range s.published(t, 2) {
			if d, ok := e.(*eventsv1.ContractRenewalDue); ok {
				due = d
			}
		}
		return due != nil
	}, "ContractRenewalDue")
	id, _ := uuid.Parse(c.Name[len("contracts/"):])
	wantOpp := "opportunities/" + events.RenewalOpportunityID(id, 1).String()
	if due.TermNumber != 1 || !proto.Equal(due.TermEndDate, c.TermEndDate) || due.AccountId != account[len("accounts/"):] ||
		money.Decimal(due.RenewalValue) != "1200" || due.Owner != "olga" {
		t.Fatalf("renewal due: %v", due)
	}
	c = s.getContract(t, c.Name)
	if c.Terms[0].RenewalDueTime == nil || c.RenewalOpportunity != wantOpp || c.RenewalDueTime != nil {
		t.Fatalf("contract after renewal due: %v", c)
	}
	// The renewal opportunity is won (the opportunity service publishes
	// OpportunityWon), twice.
	win := &eventsv1.OpportunityWon{Meta: meta(), OpportunityId: wantOpp[len("opportunities/"):], AccountId: due.AccountId, Owner: "sam",
		Opportunity: &opportunityv1.Opportunity{Name: wantOpp, Account: account, Type: opportunityv1.OpportunityType_OPPORTUNITY_TYPE_RENEWAL,
			RenewalContract: c.Name, RenewalTerm: 1, Amount: due.RenewalValue, Owner: "sam"}}
	s.nats.Publish(t, s.js, "opportunity", win)
	second := proto.CloneOf(win)
	second.Meta = meta()
	s.nats.Publish(t, s.js, "opportunity", second)
	s.waitConsumed(t, "opportunity", eventsConsumer)
	c = s.getContract(t, c.Name)
	if c.Status != orderv1.ContractStatus_CONTRACT_STATUS_RENEWED || c.TermNumber != 2 || len(c.Terms) != 2 ||
		c.Terms[0].Outcome != orderv1.ContractTermOutcome_CONTRACT_TERM_OUTCOME_RENEWED || c.Terms[0].RenewalOpportunity != wantOpp ||
		!proto.Equal(c.TermStartDate, c.Terms[0].EndDate) || c.RenewalDueTime == nil {
		t.Fatalf("renewed: %v", c)
	}
	evs := s.published(t, 4)
	count := map[string]int{}
	for _, e := range evs {
		count[string(e.ProtoReflect().Descriptor().Name())]++
	}
	if count["ContractRenewalDue"] != 1 || count["ContractRenewed"] != 1 || len(s.ordersOf(t, wantOpp)) != 0 {
		t.Fatalf("events %v", count)
	}
	if n := len(s.periods(t, c.Name)); n != 24 {
		t.Fatalf("%d billing periods over two terms", n)
	}
	rr, err := s.client.GetRecurringRevenue(ops, &orderv1.GetRecurringRevenueRequest{})
	if err != nil || len(rr.Currencies) != 1 || money.Decimal(rr.Currencies[0].Mrr) != "100" || money.Decimal(rr.Currencies[0].Arr) != "1200" {
		t.Fatalf("MRR: %v, %v", rr, err)
	}
}

// At term end a contract without auto-renew expires (MRR churns), one
// with auto-renew renews by itself, and one with notice given expires.
func TestTermEndExpiresOrRenews(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	ended := dateIn(-12, -1) // a 12-month term that ended yesterday
	expires := s.activate(t, s.contract(t, account, &orderv1.Contract{StartDate: ended, TermMonths: 12}))
	renews := s.activate(t, s.contract(t, account, &orderv1.Contract{StartDate: ended, TermMonths: 12, AutoRenew: true}))
	testkit.Eventually(t, 10*time.Second, func() bool {
		return s.getContract(t, expires.Name).Status == orderv1.ContractStatus_CONTRACT_STATUS_EXPIRED &&
			s.getContract(t, renews.Name).Status == orderv1.ContractStatus_CONTRACT_STATUS_RENEWED
	}, "term-end timers")
	if got := s.getContract(t, renews.Name); got.TermNumber != 2 || got.Terms[0].Outcome != orderv1.ContractTermOutcome_CONTRACT_TERM_OUTCOME_RENEWED {
		t.Fatalf("auto-renewed: %v", got)
	}
	rr, err := s.client.GetRecurringRevenue(ops, &orderv1.GetRecurringRevenueRequest{StartDate: ended, EndDate: dateIn(0, 0)})
	if err != nil || len(rr.Currencies) != 1 {
		t.Fatal(rr, err)
	}
	row := rr.Currencies[0]
	if money.Decimal(row.Mrr) != "100" || money.Decimal(row.ChurnedMrr) != "-100" || money.Decimal(row.NewMrr) != "200" || row.Renewals != 1 {
		t.Fatalf("MRR after one expiry and one renewal: %v", row)
	}
	// Notice inside the notice period is too late; in time it makes the
	// contract NON_RENEWING, and no renewal falls due.
	late := s.activate(t, s.contract(t, account, &orderv1.Contract{StartDate: dateIn(-11, -15), TermMonths: 12, NoticePeriodDays: 30}))
	_, err = s.client.GiveContractNotice(ops, &orderv1.GiveContractNoticeRequest{Name: late.Name})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "NOTICE_PERIOD_PASSED" {
		t.Fatalf("late notice: %v", err)
	}
	ontime := s.activate(t, s.contract(t, account, &orderv1.Contract{StartDate: dateIn(-1, 0), TermMonths: 12, NoticePeriodDays: 30, AutoRenew: true}))
	got, err := s.client.GiveContractNotice(ops, &orderv1.GiveContractNoticeRequest{Name: ontime.Name})
	if err != nil || got.Status != orderv1.ContractStatus_CONTRACT_STATUS_NON_RENEWING || got.RenewalDueTime != nil {
		t.Fatalf("notice: %v, %v", got, err)
	}
	if n := s.query(t, `SELECT count(*)::text FROM timers WHERE key = $1`, got.Name[len("contracts/"):]); n != "1" {
		t.Fatalf("%s timers after notice, want the term end only", n)
	}
}

// Cancelling stops billing at the effective date (prorated), cancels the
// timers and churns the MRR.
func TestCancelledContractStopsBilling(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	c := s.activate(t, s.contract(t, account, &orderv1.Contract{StartDate: dateIn(-2, 0), TermMonths: 12, BillingAnchorDay: ptr(int32(1))}))
	cut := dateIn(0, 1)
	got, err := s.client.CancelContract(ops, &orderv1.CancelContractRequest{Name: c.Name, Reason: "went bust", EffectiveDate: cut})
	if err != nil || got.Status != orderv1.ContractStatus_CONTRACT_STATUS_CANCELLED || !proto.Equal(got.CancelEffectiveDate, cut) {
		t.Fatalf("cancelled: %v, %v", got, err)
	}
	ps := s.periods(t, c.Name)
	if last := ps[len(ps)-1]; !proto.Equal(last.EndDate, cut) {
		t.Fatalf("last period ends %v, want %v", last.EndDate, cut)
	}
	if n := s.query(t, `SELECT count(*)::text FROM timers WHERE key = $1`, c.Name[len("contracts/"):]); n != "0" {
		t.Fatalf("%s timers left after cancel", n)
	}
	rr, err := s.client.GetRecurringRevenue(ops, &orderv1.GetRecurringRevenueRequest{AsOfDate: cut})
	if err != nil || money.Decimal(rr.Currencies[0].Mrr) != "0" {
		t.Fatalf("MRR after the cancellation: %v, %v", rr, err)
	}
}

// Contracts of one owner move the same monthly cells of the revenue
// forecast. Activated at once, they take turns on those cells rather than
// deadlock (found by TestLifecycleChaos: in map order, two activations
// locked the months in different orders and one failed INTERNAL), and the
// cells add up to the contracts' schedules.
func TestConcurrentActivationsOfOneOwnersContracts(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	var contracts []*orderv1.Contract
	for i := range 16 {
		contracts = append(contracts, s.contract(t, account, &orderv1.Contract{StartDate: dateIn(-i%3, 0), TermMonths: 24,
			BillingInterval: orderv1.BillingInterval_BILLING_INTERVAL_MONTHLY}))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(contracts))
	for i, c := range contracts {
		wg.Go(func() {
			_, errs[i] = s.client.ActivateContract(ops, &orderv1.ActivateContractRequest{Name: c.Name})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("activate %s: %v", contracts[i].Name, err)
		}
	}
	if got := s.query(t, `SELECT count(*)::text FROM contracts WHERE status = 'ACTIVE'`); got != "16" {
		t.Fatalf("%s active contracts, want 16", got)
	}
	if got := s.query(t, `SELECT count(*)::text FROM (
			SELECT month, owner, currency_code, sum(amount) AS amount, sum(periods) AS periods FROM contract_revenue GROUP BY 1, 2, 3
		) c FULL JOIN revenue_monthly r USING (month, owner, currency_code)
		WHERE c.amount IS DISTINCT FROM r.contract_amount OR c.periods IS DISTINCT FROM r.period_count`); got != "0" {
		t.Fatalf("%s monthly cells differ from the contracts' schedules", got)
	}
}
