package grpc

import (
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
)

var validator, _ = protovalidate.New()

// invalidOrNil fails the fuzz case unless err is nil or an InvalidArgument
// with at least one field violation.
func invalidOrNil(t *testing.T, what string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != apperr.KindInvalidArgument || len(ae.Violations) == 0 {
		t.Fatalf("%s: %v is not an InvalidArgument with field violations", what, err)
	}
	return false
}

func seedPipeline() *domain.Pipeline {
	p, err := domain.NewPipeline(domain.Pipeline{DisplayName: "Sales", Stages: []domain.Stage{
		{DisplayName: "Qualification", Kind: domain.KindOpen, Probability: 10},
		{DisplayName: "Won", Kind: domain.KindWon}, {DisplayName: "Lost", Kind: domain.KindLost},
	}}, "fuzzer", time.Now())
	if err != nil {
		panic(err)
	}
	return p
}

// Any byte string decoded as a CreateOpportunityRequest is either rejected
// with field violations or becomes an opportunity that keeps the rules:
// one currency, the amount the exact sum of its lines.
func FuzzCreateOpportunityRequest(f *testing.F) {
	eur := func(u int64, n int32) *moneypb.Money { return &moneypb.Money{CurrencyCode: "EUR", Units: u, Nanos: n} }
	for _, o := range []*opportunityv1.Opportunity{
		{DisplayName: "Deal", Account: "accounts/" + uuid.NewString(), Amount: eur(10, 0)},
		{DisplayName: "Deal", Account: "accounts/" + uuid.NewString(), LineItems: []*opportunityv1.LineItem{
			{Product: "A", Quantity: "2.5", UnitPrice: eur(3, 330000000), DiscountPercent: "12.5"},
			{Product: "B", Quantity: "1", UnitPrice: &moneypb.Money{CurrencyCode: "USD", Units: 1}}}},
		{DisplayName: "Deal", Account: "accounts/" + uuid.NewString(), Amount: eur(-1, 0), Probability: 101},
		{DisplayName: "Deal", Account: "accounts/" + uuid.NewString(), Amount: eur(10, 0), Type: opportunityv1.OpportunityType_OPPORTUNITY_TYPE_EXPANSION,
			ContractTerms: &opportunityv1.ContractTerms{BillingInterval: 3, TermMonths: 12, AutoRenew: true}},
		{DisplayName: "Deal", Account: "accounts/" + uuid.NewString(), Type: opportunityv1.OpportunityType_OPPORTUNITY_TYPE_RENEWAL,
			ContractTerms: &opportunityv1.ContractTerms{BillingInterval: 9, TermMonths: 121}},
		{},
	} {
		b, _ := proto.Marshal(&opportunityv1.CreateOpportunityRequest{Opportunity: o})
		f.Add(b)
	}
	p := seedPipeline()
	f.Fuzz(func(t *testing.T, data []byte) {
		var req opportunityv1.CreateOpportunityRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		in, bad := protomap.OpportunityFromProto(req.GetOpportunity())
		if bad != "" {
			return
		}
		o, _, err := domain.NewOpportunity(in, domain.Settings{}, p, "", uuid.Nil, "fuzzer", time.Now())
		if !invalidOrNil(t, "domain", err) {
			return
		}
		if o.DisplayName == "" || o.Stage != "qualification" || o.State != domain.StateOpen {
			t.Fatalf("opportunity = %+v", o)
		}
		if len(o.LineItems) > 0 {
			total := "0"
			for _, li := range o.LineItems {
				if li.UnitPrice.GetCurrencyCode() != o.CurrencyCode || li.Amount.GetCurrencyCode() != o.CurrencyCode {
					t.Fatalf("line in %s on a %s opportunity", li.UnitPrice.GetCurrencyCode(), o.CurrencyCode)
				}
				total = money.Decimal(li.Amount)
			}
			if len(o.LineItems) == 1 && money.Decimal(o.Amount) != total {
				t.Fatalf("amount %s, line %s", money.Decimal(o.Amount), total)
			}
		}
		if o.Amount != nil && (o.Amount.GetCurrencyCode() != o.CurrencyCode || o.Amount.GetUnits() < 0 || o.Amount.GetNanos() < 0) {
			t.Fatalf("amount = %v in %s", o.Amount, o.CurrencyCode)
		}
		// The API form maps back to the same opportunity.
		back, _ := protomap.OpportunityFromProto(protomap.Opportunity(o))
		if o.Type == domain.TypeRenewal || o.RenewalContract != uuid.Nil {
			t.Fatalf("a request opened a renewal: %+v", o)
		}
		if back.DisplayName != o.DisplayName || back.AccountID != o.AccountID || !proto.Equal(back.Amount, o.Amount) || back.Type != o.Type ||
			(back.ContractTerms == nil) != (o.ContractTerms == nil) || o.ContractTerms != nil && *back.ContractTerms != *o.ContractTerms {
			t.Fatalf("round trip: %+v != %+v", back, o)
		}
	})
}

// Any CreatePipelineRequest is rejected with field violations or becomes a
// pipeline with unique stage ids, one WON stage, a LOST stage and an
// active open stage.
func FuzzCreatePipelineRequest(f *testing.F) {
	for _, pl := range []*opportunityv1.Pipeline{
		{DisplayName: "P", Stages: []*opportunityv1.Stage{{DisplayName: "A b", Kind: 1}, {DisplayName: "A-b", Kind: 1}, {DisplayName: "W", Kind: 2}, {DisplayName: "L", Kind: 3}}},
		{DisplayName: "P", Stages: []*opportunityv1.Stage{{Id: "x", DisplayName: "X", Kind: 1, Retired: true}, {DisplayName: "W", Kind: 2}, {DisplayName: "L", Kind: 4}}},
		{},
	} {
		b, _ := proto.Marshal(&opportunityv1.CreatePipelineRequest{Pipeline: pl})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req opportunityv1.CreatePipelineRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		p, err := domain.NewPipeline(protomap.PipelineFromProto(req.GetPipeline()), "fuzzer", time.Now())
		if !invalidOrNil(t, "domain", err) {
			return
		}
		seen := map[string]bool{}
		won := 0
		for _, s := range p.Stages {
			if seen[s.ID] || s.ID == "" {
				t.Fatalf("stage ids %v", p.Stages)
			}
			seen[s.ID] = true
			if s.Kind == domain.KindWon {
				won++
				if s.Probability != 100 {
					t.Fatalf("won stage at %d%%", s.Probability)
				}
			}
		}
		if _, ok := p.FirstOfKind(domain.KindLost); won != 1 || !ok || p.FirstOpen().ID == "" {
			t.Fatalf("pipeline %v", p.Stages)
		}
	})
}
