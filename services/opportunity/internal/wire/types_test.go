package wire_test

import (
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

const (
	newBusiness = opportunityv1.OpportunityType_OPPORTUNITY_TYPE_NEW_BUSINESS
	expansion   = opportunityv1.OpportunityType_OPPORTUNITY_TYPE_EXPANSION
	renewal     = opportunityv1.OpportunityType_OPPORTUNITY_TYPE_RENEWAL
)

// Types and contract terms are set on create and update, stored,
// returned, carried in the events and filtered on; RENEWAL is not for
// callers, and bad terms name their fields.
func TestTypesAndContractTerms(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, _ := s.customer(t, "Acme")

	yearly := &opportunityv1.ContractTerms{BillingInterval: orderv1.BillingInterval_BILLING_INTERVAL_YEARLY, TermMonths: 24, AutoRenew: true}
	exp := s.create(t, &opportunityv1.Opportunity{DisplayName: "More seats", Account: account, Amount: eur(1200, 0), Type: expansion, ContractTerms: yearly})
	if exp.Type != expansion || !proto.Equal(exp.ContractTerms, yearly) || exp.RenewalContract != "" || exp.RenewalTerm != 0 {
		t.Fatalf("created = %v", exp)
	}
	got, err := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: exp.Name})
	if err != nil || !proto.Equal(got, exp) {
		t.Fatalf("read back = %v, %v", got, err)
	}
	plain := s.create(t, &opportunityv1.Opportunity{DisplayName: "First deal", Account: account})
	if plain.Type != newBusiness || plain.ContractTerms != nil {
		t.Fatalf("default = %v", plain)
	}

	// Made recurring by update; the interval defaults to monthly.
	upd, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
		Opportunity: &opportunityv1.Opportunity{Name: plain.Name, Account: account, Type: expansion, ContractTerms: &opportunityv1.ContractTerms{TermMonths: 12}},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"type", "contract_terms"}}})
	if err != nil {
		t.Fatal(err)
	}
	monthly := &opportunityv1.ContractTerms{BillingInterval: orderv1.BillingInterval_BILLING_INTERVAL_MONTHLY, TermMonths: 12}
	if upd.Type != expansion || !proto.Equal(upd.ContractTerms, monthly) {
		t.Fatalf("updated = %v", upd)
	}
	// An update of other fields leaves them as they are.
	upd, err = s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
		Opportunity: &opportunityv1.Opportunity{Name: plain.Name, Account: account, NextStep: "call"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_step"}}})
	if err != nil || upd.Type != expansion || !proto.Equal(upd.ContractTerms, monthly) {
		t.Fatalf("next step = %v, %v", upd, err)
	}

	evs := s.published(t, 6)
	var created []*opportunityv1.Opportunity
	var changed [][]string
	for _, e := range evs {
		switch e := e.(type) {
		case *eventsv1.OpportunityCreated:
			created = append(created, e.Opportunity)
		case *eventsv1.OpportunityUpdated:
			changed = append(changed, e.ChangedFields)
		}
	}
	if len(created) != 2 || created[0].Type != expansion || !proto.Equal(created[0].ContractTerms, yearly) ||
		len(changed) != 2 || !slices.Equal(changed[0], []string{"type", "contract_terms"}) {
		t.Fatalf("events: created %v, changed %v", created, changed)
	}

	before := s.snapshot(t)
	create := func(o *opportunityv1.Opportunity) error {
		o.DisplayName, o.Account = "X", account
		_, err := s.client.CreateOpportunity(ctx, &opportunityv1.CreateOpportunityRequest{Opportunity: o})
		return err
	}
	update := func(o *opportunityv1.Opportunity, paths ...string) error {
		o.Name, o.Account = plain.Name, account
		_, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{Opportunity: o, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		return err
	}
	for _, c := range []struct {
		name, field, reason string
		err                 error
	}{
		{"RENEWAL on create", "opportunity.type", "RENEWAL_RESERVED", create(&opportunityv1.Opportunity{Type: renewal})},
		{"RENEWAL by update", "opportunity.type", "RENEWAL_RESERVED", update(&opportunityv1.Opportunity{Type: renewal}, "type")},
		{"RENEWAL by an update without a mask", "opportunity.type", "RENEWAL_RESERVED", update(&opportunityv1.Opportunity{Type: renewal, NextStep: "x"})},
		{"undefined type", "opportunity.type", "", create(&opportunityv1.Opportunity{Type: 9})},
		{"term over ten years", "opportunity.contract_terms.term_months", "", create(&opportunityv1.Opportunity{ContractTerms: &opportunityv1.ContractTerms{TermMonths: 121}})},
		{"negative term", "opportunity.contract_terms.term_months", "", update(&opportunityv1.Opportunity{ContractTerms: &opportunityv1.ContractTerms{TermMonths: -1}}, "contract_terms")},
		{"undefined interval", "opportunity.contract_terms.billing_interval", "", create(&opportunityv1.Opportunity{ContractTerms: &opportunityv1.ContractTerms{BillingInterval: 7}})},
		{"renewal link set by a caller", "update_mask", "", update(&opportunityv1.Opportunity{RenewalContract: "contracts/x"}, "renewal_contract.id")},
	} {
		_, fields := testkit.RequireCode(t, c.err, codes.InvalidArgument)
		if !slices.Contains(fields, c.field) {
			t.Errorf("%s: fields %v, want %s", c.name, fields, c.field)
		}
		if c.reason != "" && !slices.Contains(violationReasons(c.err), c.reason) {
			t.Errorf("%s: reasons %v, want %s", c.name, violationReasons(c.err), c.reason)
		}
	}
	// Output-only fields in a mask are ignored.
	if err := update(&opportunityv1.Opportunity{RenewalContract: "contracts/x", RenewalTerm: 3}, "renewal_contract", "renewal_term"); err != nil {
		t.Fatal(err)
	}
	if s.snapshot(t) != before {
		t.Fatal("a refused or empty request changed something")
	}

	for filter, want := range map[string][]string{
		`type = EXPANSION`:                          {plain.Name, exp.Name},
		`type = OPPORTUNITY_TYPE_NEW_BUSINESS`:      nil,
		`type != RENEWAL AND renewal_contract = ""`: {plain.Name, exp.Name},
	} {
		resp, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: filter})
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		var names []string
		for _, o := range resp.Opportunities {
			names = append(names, o.Name)
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: %v, want %v", filter, names, want)
		}
	}
}

// violationReasons returns the reasons of err's field violations.
func violationReasons(err error) []string {
	st, _ := status.FromError(err)
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				out = append(out, v.Reason)
			}
		}
	}
	return out
}
