package wire_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
)

// renewalDue publishes a ContractRenewalDue event with id on the order
// stream, as the order service's relay would after its renewal timer
// fired.
func (s *suite) renewalDue(t *testing.T, id string, ev *eventsv1.ContractRenewalDue) {
	t.Helper()
	ev.Meta = &eventsv1.EventMeta{EventId: id, Actor: "system:order"}
	s.nats.Publish(t, s.js, "order", ev)
}

// renewalOf is the ContractRenewalDue of term of a contract of account
// (a name), whose contract owner is carol.
func renewalOf(account, contract, contact string, term int32) *eventsv1.ContractRenewalDue {
	return &eventsv1.ContractRenewalDue{
		ContractId: contract, Contract: &orderv1.Contract{Name: "contracts/" + contract, DisplayName: "Acme support"},
		AccountId: strings.TrimPrefix(account, "accounts/"), ContactId: strings.TrimPrefix(contact, "contacts/"), Owner: "carol",
		TermNumber: term, TermEndDate: &date.Date{Year: 2027, Month: 6, Day: 1}, RenewalTermMonths: 12,
		RenewalValue: eur(12000, 0), MonthlyAmount: eur(1000, 0),
	}
}

// exec runs a statement on the database and returns its error.
func (s *suite) exec(t *testing.T, q string, args ...any) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, q, args...)
	return err
}

func renewalName(contract string, term int) string {
	return "opportunities/" + events.RenewalOpportunityID(uuid.MustParse(contract), term).String()
}

// The account is alice's, the contract carol's: the renewal is the
// account owner's.
func TestContractRenewalOpensOneRenewalOpportunity(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true})
	ctx := testkit.As("root")
	account, contact := s.customer(t, "Acme")
	contract, eventID := uuid.NewString(), uuid.NewString()
	ev := renewalOf(account, contract, contact, 1)
	s.renewalDue(t, eventID, ev)

	evs := s.published(t, 2)
	if got := testkit.EventTypes(evs); !slices.Equal(got, []string{"OpportunityCreated", "OpportunityStageChanged"}) {
		t.Fatalf("events = %v", got)
	}
	name := renewalName(contract, 1)
	oc := evs[0].(*eventsv1.OpportunityCreated)
	if oc.Opportunity.Name != name || oc.Meta.Actor != "system:order" || oc.Meta.RequestId != eventID || oc.SourceLeadId != "" ||
		oc.Opportunity.Type != renewal || oc.Opportunity.RenewalContract != "contracts/"+contract || oc.Opportunity.RenewalTerm != 1 {
		t.Fatalf("OpportunityCreated = %v", oc)
	}
	o, err := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if o.DisplayName != "Renewal: Acme support (term 2)" || o.Type != renewal || o.RenewalContract != "contracts/"+contract || o.RenewalTerm != 1 ||
		o.Account != account || o.PrimaryContact != contact || o.Owner != "alice" || o.CreatedBy != "system:order" ||
		!proto.Equal(o.Amount, eur(12000, 0)) || !proto.Equal(o.ExpectedCloseDate, &date.Date{Year: 2027, Month: 6, Day: 1}) ||
		o.Pipeline != "pipelines/00000000-0000-4000-8000-000000000001" || o.Stage != "qualification" || o.Probability != 10 ||
		o.State != opportunityv1.OpportunityState_OPPORTUNITY_STATE_OPEN || len(o.LineItems) != 0 || o.ContractTerms != nil || o.SourceLead != "" {
		t.Fatalf("renewal = %v", o)
	}
	audit, err := s.client.ListAuditEntries(ctx, &opportunityv1.ListAuditEntriesRequest{Parent: name})
	if err != nil || len(audit.AuditEntries) != 1 {
		t.Fatalf("audit = %v, %v", audit, err)
	}
	if e := audit.AuditEntries[0]; e.Actor != "system:order" || e.Method != "event:crm.events.v1.ContractRenewalDue" || e.RequestId != eventID ||
		!fieldSet(e)["type"] || !fieldSet(e)["renewal_contract"] || !fieldSet(e)["renewal_term"] {
		t.Fatalf("audit entry = %v", e)
	}

	// The same event again past the duplicate window (the inbox catches
	// it) and another event for the same term, as a re-raised one would be
	// (the existing row catches it): nothing new. The next term opens a
	// second renewal, whose events mark that the others were handled.
	time.Sleep(150 * time.Millisecond)
	s.renewalDue(t, eventID, ev)
	again := renewalOf(account, contract, contact, 1)
	again.Owner, again.Contract.DisplayName = "dave", "Renamed"
	s.renewalDue(t, uuid.NewString(), again)
	s.renewalDue(t, uuid.NewString(), renewalOf(account, contract, contact, 2))
	s.published(t, 4)
	time.Sleep(300 * time.Millisecond)
	evs = s.published(t, 4)
	if got := testkit.EventTypes(evs); len(got) != 4 || evs[2].(*eventsv1.OpportunityCreated).Opportunity.Name != renewalName(contract, 2) {
		t.Fatalf("events = %v", got)
	}
	list, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: `type = RENEWAL AND renewal_contract = "contracts/` + contract + `"`})
	if err != nil || len(list.Opportunities) != 2 || list.Opportunities[0].RenewalTerm != 2 || list.Opportunities[1].RenewalTerm != 1 ||
		list.Opportunities[1].DisplayName != o.DisplayName {
		t.Fatalf("list = %v, %v", list, err)
	}
	if list, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: `type = NEW_BUSINESS`}); err != nil || len(list.Opportunities) != 0 {
		t.Fatalf("new business = %v, %v", list, err)
	}
	// Events for one term applied at once (two workers) open it once.
	for range 4 {
		s.renewalDue(t, uuid.NewString(), renewalOf(account, contract, contact, 3))
	}
	s.published(t, 6)
	time.Sleep(300 * time.Millisecond)
	if evs = s.published(t, 6); len(evs) != 6 || evs[4].(*eventsv1.OpportunityCreated).Opportunity.Name != renewalName(contract, 3) {
		t.Fatalf("events = %v", testkit.EventTypes(evs))
	}
	// Whatever the id, the database holds one renewal per term.
	err = s.exec(t, `INSERT INTO opportunity.opportunities (id, display_name, account_id, owner, pipeline_id, stage, last_open_stage,
		state, probability, forecast_category, stage_entered_at, created_at, created_by, updated_at, updated_by, version, type,
		renewal_contract_id, renewal_term)
		SELECT gen_random_uuid(), display_name, account_id, owner, pipeline_id, stage, last_open_stage, state, probability,
		forecast_category, stage_entered_at, created_at, created_by, updated_at, updated_by, version, type, renewal_contract_id, renewal_term
		FROM opportunity.opportunities WHERE renewal_contract_id = $1 AND renewal_term = 1`, contract)
	if !pg.IsUniqueViolation(err, "opportunities_renewal_term") {
		t.Fatalf("second renewal of a term: %v", err)
	}

	// A renewal keeps its type through updates; won, it tells the order
	// service which term of which contract it renews.
	upd, err := s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
		Name: name, Account: account, DisplayName: o.DisplayName, NextStep: "send the quote", Type: renewal}})
	if err != nil || upd.Type != renewal || upd.RenewalTerm != 1 {
		t.Fatalf("echoed update = %v, %v", upd, err)
	}
	_, err = s.client.UpdateOpportunity(ctx, &opportunityv1.UpdateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
		Name: name, Account: account, Type: expansion}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "opportunity.type") ||
		!slices.Contains(violationReasons(err), "RENEWAL_TYPE_FIXED") {
		t.Fatalf("retyped renewal: %v", err)
	}
	if _, err := s.client.WinOpportunity(testkit.As("alice", "sales"), &opportunityv1.WinOpportunityRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	var won *eventsv1.OpportunityWon
	for _, e := range s.published(t, 9) {
		if w, ok := e.(*eventsv1.OpportunityWon); ok {
			won = w
		}
	}
	if won == nil || won.OpportunityId != strings.TrimPrefix(name, "opportunities/") || won.Opportunity.Type != renewal ||
		won.Opportunity.RenewalContract != "contracts/"+contract || won.Opportunity.RenewalTerm != 1 || won.Owner != "alice" {
		t.Fatalf("won = %v", won)
	}
}

// With the account service down the renewal waits, redelivered, and is
// not dead-lettered; it opens once the service answers. An account the
// account service does not know goes to the contract's owner.
func TestRenewalWaitsForTheAccountService(t *testing.T) {
	t.Parallel()
	s := start(t, options{withAccounts: true, accountTimeout: 500 * time.Millisecond, maxDeliver: 1000})
	ctx := testkit.As("root")
	account, _ := s.customer(t, "Acme")
	if err := s.accountProc.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	contract := uuid.NewString()
	s.renewalDue(t, uuid.NewString(), renewalOf(account, contract, "", 3))
	bg := context.Background()
	testkit.Eventually(t, 20*time.Second, func() bool {
		c, err := s.js.Consumer(bg, events.StreamName(s.nats.Namespace, "order"), "opportunity-contract-renewals")
		if err != nil {
			return false
		}
		info, err := c.Info(bg)
		return err == nil && info.NumRedelivered > 0
	}, "the renewal redelivered")
	time.Sleep(500 * time.Millisecond)
	name := renewalName(contract, 3)
	_, err := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: name})
	testkit.RequireCode(t, err, codes.NotFound)
	dlq, err := s.js.Stream(bg, inbox.DeadLetterStream(s.nats.Namespace).Name)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dlq.Info(bg); err != nil || info.State.Msgs != 0 {
		t.Fatalf("dead letters: %v, %v", info.State, err)
	}

	// An event that carries the account's owner (the order service knows
	// it from the account events) needs no account service.
	known := renewalOf(account, uuid.NewString(), "", 1)
	known.AccountOwner = "dora"
	s.renewalDue(t, uuid.NewString(), known)
	testkit.Eventually(t, 20*time.Second, func() bool {
		o, err := s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: renewalName(known.ContractId, 1)})
		return err == nil && o.Owner == "dora"
	}, "the renewal with a known owner opened while the account service is down")

	s.accountProc.Restart()
	var o *opportunityv1.Opportunity
	testkit.Eventually(t, 20*time.Second, func() bool {
		o, err = s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: name})
		return err == nil
	}, "the renewal opened")
	if o.Owner != "alice" || o.PrimaryContact != "" || o.RenewalTerm != 3 || o.DisplayName != "Renewal: Acme support (term 4)" {
		t.Fatalf("renewal = %v", o)
	}

	unknown := renewalOf("accounts/"+uuid.NewString(), uuid.NewString(), "", 1)
	unknown.Contract.DisplayName, unknown.RenewalValue = "", nil
	s.renewalDue(t, uuid.NewString(), unknown)
	testkit.Eventually(t, 20*time.Second, func() bool {
		o, err = s.client.GetOpportunity(ctx, &opportunityv1.GetOpportunityRequest{Name: renewalName(unknown.ContractId, 1)})
		return err == nil
	}, "the renewal of an unknown account opened")
	if o.Owner != "carol" || o.DisplayName != "Contract renewal" || o.Amount != nil || o.Account != "accounts/"+unknown.AccountId {
		t.Fatalf("renewal of an unknown account = %v", o)
	}
}

func TestMalformedRenewalIsDeadLettered(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	account := "accounts/" + uuid.NewString()
	badContract := renewalOf(account, uuid.NewString(), "", 1)
	badContract.ContractId = "not-a-uuid"
	s.renewalDue(t, uuid.NewString(), badContract)
	s.renewalDue(t, uuid.NewString(), renewalOf(account, uuid.NewString(), "", 0))
	badValue := renewalOf(account, uuid.NewString(), "", 1)
	badValue.RenewalValue = eur(-1, 0)
	s.renewalDue(t, uuid.NewString(), badValue)
	dlq := (&inbox.Consumer{Name: "opportunity-contract-renewals", Namespace: s.nats.Namespace}).DeadLetterSubject()
	var reasons []string
	testkit.Eventually(t, 20*time.Second, func() bool {
		st, err := s.js.Stream(ctx, inbox.DeadLetterStream(s.nats.Namespace).Name)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		if err != nil || info.State.Msgs < 3 {
			return false
		}
		reasons = reasons[:0]
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil || m.Subject != dlq {
				return false
			}
			reasons = append(reasons, m.Header.Get(inbox.HeaderDLQReason))
		}
		return true
	}, "three dead letters on %s", dlq)
	for _, r := range reasons {
		if !strings.HasPrefix(r, "MALFORMED_EVENT: ") {
			t.Errorf("reason = %q", r)
		}
	}
	list, _ := s.client.ListOpportunities(testkit.As("x"), &opportunityv1.ListOpportunitiesRequest{})
	if len(list.GetOpportunities()) != 0 {
		t.Fatalf("opportunities = %v", list.Opportunities)
	}
}
