package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"

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
