package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

func TestStageIDs(t *testing.T) {
	for name, want := range map[string]string{
		"Needs Analysis": "needs_analysis", "Quote sent!": "quote_sent", "  2nd call ": "stage_2nd_call", "Über-Deal": "ber_deal", "": "stage",
	} {
		if got := StageID(name); got != want {
			t.Errorf("StageID(%q) = %q, want %q", name, got, want)
		}
	}
	p, err := NewPipeline(Pipeline{DisplayName: "P", Stages: []Stage{
		{DisplayName: "Call", Kind: KindOpen}, {DisplayName: "call", Kind: KindOpen}, {ID: "call_2", DisplayName: "X", Kind: KindOpen},
		{DisplayName: "Won", Kind: KindWon, Probability: 5}, {DisplayName: "Lost", Kind: KindLost, Probability: 50},
	}}, "t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Explicit ids are taken first; generated ones step around them.
	if a, b, c := p.Stages[0].ID, p.Stages[1].ID, p.Stages[2].ID; a != "call" || b != "call_3" || c != "call_2" {
		t.Fatalf("ids = %s %s %s", a, b, c)
	}
	if p.Stages[3].Probability != 100 || p.Stages[4].Probability != 0 || p.Stages[3].ForecastCategory != ForecastClosed {
		t.Fatalf("closed stages = %v", p.Stages[3:])
	}
}

// Line amounts are exact to the nano, rounded half away from zero, and
// the opportunity's amount is their sum.
func TestLineAmountsAreExact(t *testing.T) {
	p, _ := NewPipeline(Pipeline{DisplayName: "P", Stages: []Stage{{DisplayName: "A", Kind: KindOpen, Probability: 10},
		{DisplayName: "W", Kind: KindWon}, {DisplayName: "L", Kind: KindLost}}}, "t", time.Now())
	eur := func(u int64, n int32) *moneypb.Money { return &moneypb.Money{CurrencyCode: "EUR", Units: u, Nanos: n} }
	o, _, err := NewOpportunity(Opportunity{DisplayName: "D", AccountID: uuid.New(), LineItems: []LineItem{
		{Product: "a", Quantity: "3", UnitPrice: eur(0, 333333333)},                      // 0.999999999
		{Product: "b", Quantity: "0.1", UnitPrice: eur(0, 100000000)},                    // 0.01
		{Product: "c", Quantity: "1", UnitPrice: eur(10, 0), DiscountPercent: "33.3333"}, // 6.66667
		{Product: "d", Quantity: "0.000001", UnitPrice: eur(0, 5), DiscountPercent: "0"}, // 5e-15 -> 0
		{Product: "e", Quantity: "0.5", UnitPrice: eur(0, 3)},                            // 1.5e-9 -> 2e-9
	}}, Settings{}, p, "", uuid.Nil, "t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0.999999999", "0.01", "6.66667", "0", "0.000000002"}
	for i, li := range o.LineItems {
		if got := money.Decimal(li.Amount); got != want[i] {
			t.Errorf("line %d = %s, want %s", i, got, want[i])
		}
	}
	if got := money.Decimal(o.Amount); got != "7.676670001" || o.CurrencyCode != "EUR" {
		t.Fatalf("amount = %s %s", got, o.CurrencyCode)
	}
	if o.Probability != 10 || o.ProbabilityOverridden {
		t.Fatalf("probability = %d %v", o.Probability, o.ProbabilityOverridden)
	}
}

func salesPipeline(t *testing.T) *Pipeline {
	t.Helper()
	p, err := NewPipeline(Pipeline{DisplayName: "P", Stages: []Stage{{DisplayName: "A", Kind: KindOpen, Probability: 10},
		{DisplayName: "W", Kind: KindWon}, {DisplayName: "L", Kind: KindLost}}}, "t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func violation(t *testing.T, err error, field, reason string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument on %s", err, field)
	}
	for _, v := range e.Violations {
		if v.Field == field && v.Reason == reason {
			return
		}
	}
	t.Fatalf("violations = %v, want %s %s", e.Violations, field, reason)
}

// Types: NEW_BUSINESS by default, EXPANSION when asked, RENEWAL only by
// NewRenewal, and a renewal stays one.
func TestTypes(t *testing.T) {
	p, now := salesPipeline(t), time.Now()
	o, _, err := NewOpportunity(Opportunity{DisplayName: "D", AccountID: uuid.New()}, Settings{}, p, "", uuid.Nil, "t", now)
	if err != nil || o.Type != TypeNewBusiness || o.RenewalContract != uuid.Nil {
		t.Fatalf("new = %+v, %v", o, err)
	}
	_, _, err = NewOpportunity(Opportunity{DisplayName: "D", AccountID: uuid.New(), Type: TypeRenewal}, Settings{}, p, "", uuid.Nil, "t", now)
	violation(t, err, "type", "RENEWAL_RESERVED")
	_, _, err = NewOpportunity(Opportunity{DisplayName: "D", AccountID: uuid.New(), Type: "UPSELL"}, Settings{}, p, "", uuid.Nil, "t", now)
	violation(t, err, "type", "INVALID_TYPE")

	if _, err := o.Update(Opportunity{Type: TypeExpansion}, []Field{FieldType}, p, "t", now); err != nil || o.Type != TypeExpansion {
		t.Fatalf("to expansion: %v, %v", o.Type, err)
	}
	_, err = o.Update(Opportunity{Type: TypeRenewal}, []Field{FieldType}, p, "t", now)
	violation(t, err, "type", "RENEWAL_RESERVED")
	// An unset type in a mask is the default.
	if _, err := o.Update(Opportunity{}, []Field{FieldType}, p, "t", now); err != nil || o.Type != TypeNewBusiness {
		t.Fatalf("unset: %v, %v", o.Type, err)
	}

	contract := uuid.New()
	r, evs, err := NewRenewal(Opportunity{DisplayName: "R", AccountID: uuid.New(), ContractTerms: &ContractTerms{TermMonths: 12}}, contract, 2, p, uuid.New(), "system:order", now)
	if err != nil || r.Type != TypeRenewal || r.RenewalContract != contract || r.RenewalTerm != 2 || r.ContractTerms != nil || len(evs) != 2 || r.Stage != "a" {
		t.Fatalf("renewal = %+v, %v", r, err)
	}
	if _, _, err := NewRenewal(Opportunity{DisplayName: "R", AccountID: uuid.New()}, contract, 0, p, uuid.New(), "t", now); err == nil {
		t.Fatal("term 0 renewal opened")
	}
	// An echo of the type, or none, changes nothing; another type is
	// refused, and so are contract terms.
	for _, ty := range []Type{TypeRenewal, ""} {
		if evs, err := r.Update(Opportunity{Type: ty}, []Field{FieldType}, p, "t", now); err != nil || len(evs) != 0 || r.Type != TypeRenewal {
			t.Fatalf("echo %q: %v, %v", ty, evs, err)
		}
	}
	_, err = r.Update(Opportunity{Type: TypeExpansion}, []Field{FieldType}, p, "t", now)
	violation(t, err, "type", "RENEWAL_TYPE_FIXED")
	_, err = r.Update(Opportunity{ContractTerms: &ContractTerms{TermMonths: 12}}, []Field{FieldContractTerms}, p, "t", now)
	violation(t, err, "contract_terms", "RENEWAL_HAS_CONTRACT_TERMS")
	if r.Type != TypeRenewal || r.ContractTerms != nil {
		t.Fatalf("refused updates changed the renewal: %+v", r)
	}
}

func TestContractTerms(t *testing.T) {
	p, now := salesPipeline(t), time.Now()
	given := &ContractTerms{TermMonths: 12, AutoRenew: true}
	o, _, err := NewOpportunity(Opportunity{DisplayName: "D", AccountID: uuid.New(), ContractTerms: given}, Settings{}, p, "", uuid.Nil, "t", now)
	if err != nil || *o.ContractTerms != (ContractTerms{Interval: IntervalMonthly, TermMonths: 12, AutoRenew: true}) || given.Interval != "" {
		t.Fatalf("terms = %+v (given %+v), %v", o.ContractTerms, given, err)
	}
	for _, c := range []struct {
		terms         ContractTerms
		field, reason string
	}{
		{ContractTerms{Interval: "WEEKLY"}, "contract_terms.billing_interval", "INVALID_BILLING_INTERVAL"},
		{ContractTerms{TermMonths: -1}, "contract_terms.term_months", "INVALID_TERM_MONTHS"},
		{ContractTerms{TermMonths: 121}, "contract_terms.term_months", "INVALID_TERM_MONTHS"},
	} {
		_, _, err := NewOpportunity(Opportunity{DisplayName: "D", AccountID: uuid.New(), ContractTerms: &c.terms}, Settings{}, p, "", uuid.Nil, "t", now)
		violation(t, err, c.field, c.reason)
		_, err = o.Update(Opportunity{ContractTerms: &c.terms}, []Field{FieldContractTerms}, p, "t", now)
		violation(t, err, c.field, c.reason)
	}
	evs, err := o.Update(Opportunity{ContractTerms: &ContractTerms{Interval: IntervalYearly}}, []Field{FieldContractTerms}, p, "t", now)
	if err != nil || len(evs) != 1 || evs[0].(OpportunityUpdated).Changed[0] != "contract_terms" || o.ContractTerms.TermMonths != 0 {
		t.Fatalf("update = %v, %+v, %v", evs, o.ContractTerms, err)
	}
	// Cleared: a one-off deal again.
	if _, err := o.Update(Opportunity{}, []Field{FieldContractTerms}, p, "t", now); err != nil || o.ContractTerms != nil {
		t.Fatalf("cleared = %+v, %v", o.ContractTerms, err)
	}
}
