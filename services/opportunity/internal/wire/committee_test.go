package wire_test

import (
	"slices"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func member(contact string, roles ...string) *opportunityv1.BuyingCommitteeMember {
	return &opportunityv1.BuyingCommitteeMember{Contact: contact, Roles: roles}
}

func fieldReason(err error, field string) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				if v.Field == field {
					return v.Reason
				}
			}
		}
	}
	return ""
}

// An opportunity names its buying committee: contacts (of its account or
// another, e.g. a partner's) with their roles in the deal, checked with
// the account service (the contacts exist, the roles are offered contact
// roles), set on create and update, shown on Get, in the events.
func TestBuyingCommittee(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("alice")
	account, buyer := s.customer(t, "Acme")
	partner, err := s.accounts.CreateAccount(ctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{
		DisplayName: "Integrator", Relationship: accountv1.AccountRelationship_ACCOUNT_RELATIONSHIP_PARTNER}})
	if err != nil {
		t.Fatal(err)
	}
	consultant, err := s.accounts.CreateContact(ctx, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Consultant", Account: partner.Name}})
	if err != nil {
		t.Fatal(err)
	}

	o := s.create(t, &opportunityv1.Opportunity{DisplayName: "Deal", Account: account, PrimaryContact: buyer,
		BuyingCommittee: []*opportunityv1.BuyingCommitteeMember{member(buyer, "decision_maker", "finance"), member(consultant.Name, "technical")}})
	if len(o.BuyingCommittee) != 2 || !slices.Equal(o.BuyingCommittee[0].Roles, []string{"decision_maker", "finance"}) ||
		o.BuyingCommittee[1].Contact != consultant.Name {
		t.Fatalf("created committee = %v", o.BuyingCommittee)
	}
	got, err := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: o.Name})
	if err != nil || len(got.BuyingCommittee) != 2 || got.BuyingCommittee[1].Roles[0] != "technical" {
		t.Fatalf("get = %v, %v", got.GetBuyingCommittee(), err)
	}
	before := s.snapshot(t)

	update := func(etag string, ms ...*opportunityv1.BuyingCommitteeMember) (*opportunityv1.Opportunity, error) {
		return s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{
			Opportunity: &opportunityv1.Opportunity{Name: o.Name, Account: account, Etag: etag, BuyingCommittee: ms},
			UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"buying_committee"}}})
	}
	createWith := func(ms ...*opportunityv1.BuyingCommitteeMember) error {
		_, err := s.client.CreateOpportunity(ctx, &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
			DisplayName: "Bad", Account: account, BuyingCommittee: ms}})
		return err
	}
	// Bad input, on create and update: nothing changes.
	nobody := "contacts/" + uuid.NewString()
	err = createWith(member(buyer, "decision_maker", "astrologer"))
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Equal(fields, []string{"opportunity.buying_committee[0].roles[1]"}) ||
		fieldReason(err, "opportunity.buying_committee[0].roles[1]") != "UNKNOWN_CONTACT_ROLE" {
		t.Fatalf("unknown role: %v", err)
	}
	_, err = update(o.Etag, member(buyer, "decision_maker"), member(consultant.Name, "wizard"))
	if fieldReason(err, "opportunity.buying_committee[1].roles[0]") != "UNKNOWN_CONTACT_ROLE" {
		t.Fatalf("unknown role on update: %v", err)
	}
	if reason, _ := testkit.RequireCode(t, createWith(member(nobody, "finance")), codes.FailedPrecondition); reason != "CONTACT_NOT_FOUND" {
		t.Fatalf("unknown contact: %s", reason)
	}
	_, err = update(o.Etag, member(buyer, "finance"), member(nobody, "technical"))
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "CONTACT_NOT_FOUND" {
		t.Fatalf("unknown contact on update: %s", reason)
	}
	for _, c := range []struct {
		ms    []*opportunityv1.BuyingCommitteeMember
		field string
	}{
		{[]*opportunityv1.BuyingCommitteeMember{member(buyer, "finance"), member(buyer, "technical")}, "opportunity.buying_committee[1].contact"},
		{[]*opportunityv1.BuyingCommitteeMember{member(buyer)}, "opportunity.buying_committee[0].roles"},
		{[]*opportunityv1.BuyingCommitteeMember{member("accounts/"+uuid.NewString(), "finance")}, "opportunity.buying_committee[0].contact"},
		{[]*opportunityv1.BuyingCommitteeMember{member(buyer, "Finance Dept")}, "opportunity.buying_committee[0].roles"},
	} {
		_, fields := testkit.RequireCode(t, createWith(c.ms...), codes.InvalidArgument)
		if !testkit.HasField(fields, c.field) {
			t.Fatalf("%v: fields %v, want %s", c.ms, fields, c.field)
		}
		_, err := update(o.Etag, c.ms...)
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, c.field) {
			t.Fatalf("update %v: fields %v, want %s", c.ms, fields, c.field)
		}
	}
	if after := s.snapshot(t); after != before {
		t.Fatalf("bad input changed something:\n%s\n%s", before, after)
	}

	// Finance is retired in the account service: the buyer keeps it on
	// the committee, beside a new role; no one is given it anew.
	roles, err := s.accounts.ListContactRoles(ctx, &accountv1.ListContactRolesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var keep []*accountv1.ContactRole
	for _, r := range roles.Roles {
		if r.Id != "finance" && !r.Retired {
			keep = append(keep, r)
		}
	}
	if _, err := s.accounts.UpdateContactRoles(testkit.As("root"), &accountv1.UpdateContactRolesRequest{Roles: keep, Etag: roles.Etag}); err != nil {
		t.Fatal(err)
	}
	upd, err := update(o.Etag, member(buyer, "finance", "champion"))
	if err != nil || len(upd.BuyingCommittee) != 1 || !slices.Equal(upd.BuyingCommittee[0].Roles, []string{"finance", "champion"}) {
		t.Fatalf("update keeping a retired role = %v, %v", upd.GetBuyingCommittee(), err)
	}
	// A stale etag loses nothing.
	if _, err := update(o.Etag, member(buyer, "technical")); status.Code(err) != codes.Aborted {
		t.Fatalf("stale etag: %v", err)
	}
	_, err = update(upd.Etag, member(buyer, "finance"), member(consultant.Name, "finance"))
	if fieldReason(err, "opportunity.buying_committee[1].roles[0]") != "RETIRED_CONTACT_ROLE" {
		t.Fatalf("retired role given anew: %v", err)
	}

	// The events carry the committee.
	evs := eventsOf(s.published(t, 3), o.Name)
	oc, ok := evs[0].(*eventsv1.OpportunityCreated)
	if !ok || len(oc.Opportunity.BuyingCommittee) != 2 {
		t.Fatalf("OpportunityCreated = %v", evs[0])
	}
	var updated *eventsv1.OpportunityUpdated
	for _, e := range evs {
		if u, ok := e.(*eventsv1.OpportunityUpdated); ok {
			updated = u
		}
	}
	if updated == nil || !slices.Equal(updated.ChangedFields, []string{"buying_committee"}) ||
		!slices.Equal(updated.Opportunity.BuyingCommittee[0].Roles, []string{"finance", "champion"}) {
		t.Fatalf("OpportunityUpdated = %v", updated)
	}
}
