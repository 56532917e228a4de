package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/testkit"
)

// conversion returns the lead's conversion object from a REST reply.
func conversion(r response) map[string]any {
	c, _ := r.body["conversion"].(map[string]any)
	return c
}

func (s *stack) waitConversion(t *testing.T, lead, state string) response {
	t.Helper()
	var r response
	testkit.Eventually(t, 30*time.Second, func() bool {
		r = s.do(t, "GET", "/v1/"+lead, nil).want(t, 200)
		return conversion(r)["state"] == state
	}, "%s conversion %s", lead, state)
	return r
}

func TestConversionWalkthroughOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)

	// A new lead converts into a new account and contact.
	ada := s.do(t, "POST", "/v1/leads", map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical Engines", "title": "CTO",
		"email": "ada@engines.example", "phone": "+44 20 7946 0000", "website": "https://www.engines.example",
		"address": map[string]any{"addressLines": []string{"1 Babbage Lane"}, "locality": "London", "regionCode": "GB"},
	}).want(t, 200)
	cands := s.do(t, "GET", "/v1/"+ada.str("name")+":conversionCandidates", nil).want(t, 200)
	if len(cands.body) != 0 {
		t.Fatalf("candidates before any customer exists: %s", cands.raw)
	}
	q := s.do(t, "POST", "/v1/"+ada.str("name")+":qualify", map[string]any{
		"newAccount":  map[string]any{"currencyCode": "GBP"},
		"opportunity": map[string]any{"amount": map[string]any{"currencyCode": "GBP", "units": "25000"}},
	}).want(t, 200)
	if q.str("status") != "STATUS_QUALIFIED" || conversion(q)["state"] != "CONVERSION_STATE_PENDING" {
		t.Fatalf("qualify: %s", q.raw)
	}
	done := s.waitConversion(t, ada.str("name"), "CONVERSION_STATE_COMPLETE")
	accountName, _ := conversion(done)["account"].(string)
	contactName, _ := conversion(done)["contact"].(string)
	account := s.do(t, "GET", "/v1/"+accountName, nil).want(t, 200)
	if account.str("displayName") != "Analytical Engines" || account.str("domain") != "engines.example" ||
		account.str("sourceLead") != ada.str("name") || account.str("primaryContact") != contactName ||
		account.str("currencyCode") != "GBP" || account.str("type") != "ACCOUNT_TYPE_COMPANY" {
		t.Fatalf("account: %s", account.raw)
	}
	if addrs, _ := account.body["addresses"].([]any); len(addrs) != 1 {
		t.Fatalf("account addresses: %s", account.raw)
	}
	contact := s.do(t, "GET", "/v1/"+contactName, nil).want(t, 200)
	if contact.str("lastName") != "Lovelace" || contact.str("account") != accountName || contact.body["primary"] != true ||
		!strings.Contains(string(contact.raw), "ada@engines.example") {
		t.Fatalf("contact: %s", contact.raw)
	}

	// The conversion's opportunity: in the default pipeline's first stage,
	// on the account and contact; move it, win it.
	oppName, _ := conversion(done)["opportunity"].(string)
	opp := s.do(t, "GET", "/v1/"+oppName, nil).want(t, 200)
	if opp.str("stage") != "qualification" || opp.str("account") != accountName || opp.str("primaryContact") != contactName ||
		opp.str("sourceLead") != ada.str("name") || opp.str("state") != "OPPORTUNITY_STATE_OPEN" ||
		!strings.Contains(string(opp.raw), `"units":"25000"`) {
		t.Fatalf("opportunity: %s", opp.raw)
	}
	moved := s.do(t, "POST", "/v1/"+oppName+":move", map[string]any{"stage": "proposal", "etag": opp.str("etag")}).want(t, 200)
	if moved.str("stage") != "proposal" || moved.body["probability"] != float64(50) {
		t.Fatalf("moved: %s", moved.raw)
	}
	won := s.do(t, "POST", "/v1/"+oppName+":win", map[string]any{"etag": moved.str("etag")}).want(t, 200)
	if won.str("state") != "OPPORTUNITY_STATE_WON" || won.body["probability"] != float64(100) || won.str("closeTime") == "" {
		t.Fatalf("won: %s", won.raw)
	}
	history := s.do(t, "GET", "/v1/"+oppName+"/stageChanges", nil).want(t, 200)
	if changes, _ := history.body["stageChanges"].([]any); len(changes) != 3 {
		t.Fatalf("stage history: %s", history.raw)
	}

	// A colleague from the same company enquires: as a lead it is refused
	// at first, naming the account it looks like (once the lead service
	// knows the account from its events); saved anyway, the account is
	// offered, and converting into it adds a contact instead of a second
	// account.
	colleague := map[string]any{"firstName": "Bob", "lastName": "Byron", "company": "analytical  engines", "email": "bob@engines.example"}
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.customer_keys WHERE rule = 'COMPANY_NAME' AND key = 'analytical engines'`) == "1"
	}, "the lead service knows the account")
	if r := s.do(t, "POST", "/v1/leads", colleague).want(t, 400); !strings.Contains(string(r.raw), accountName) {
		t.Fatalf("lead like the account: %s", r.raw)
	}
	bob := s.do(t, "POST", "/v1/leads?allowDuplicate=true", colleague).want(t, 200)
	cands = s.do(t, "GET", "/v1/"+bob.str("name")+":conversionCandidates", nil).want(t, 200)
	if !strings.Contains(string(cands.raw), accountName) || !strings.Contains(string(cands.raw), "MATCH_RULE_COMPANY_NAME") ||
		!strings.Contains(string(cands.raw), "MATCH_RULE_EMAIL_DOMAIN") {
		t.Fatalf("candidates for a colleague: %s", cands.raw)
	}
	s.do(t, "POST", "/v1/"+bob.str("name")+":qualify", map[string]any{"existingAccount": accountName}).want(t, 200)
	bobDone := s.waitConversion(t, bob.str("name"), "CONVERSION_STATE_COMPLETE")
	if conversion(bobDone)["account"] != accountName || conversion(bobDone)["createAccount"] == true {
		t.Fatalf("bob's conversion: %s", bobDone.raw)
	}

	// Ada comes back as a new lead, is disqualified, reactivated, and
	// qualified: her existing contact is offered and linked, nothing new.
	again := s.do(t, "POST", "/v1/leads?allowDuplicate=true", map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "email": "ADA@engines.example",
	}).want(t, 200)
	s.do(t, "POST", "/v1/"+again.str("name")+":disqualify", map[string]any{"reason": "DISQUALIFICATION_REASON_NO_BUDGET"}).want(t, 200)
	s.do(t, "POST", "/v1/"+again.str("name")+":reactivate", map[string]any{}).want(t, 200)
	cands = s.do(t, "GET", "/v1/"+again.str("name")+":conversionCandidates", nil).want(t, 200)
	if !strings.Contains(string(cands.raw), contactName) || !strings.Contains(string(cands.raw), "MATCH_RULE_EMAIL") {
		t.Fatalf("candidates for a returning customer: %s", cands.raw)
	}
	s.do(t, "POST", "/v1/"+again.str("name")+":qualify", map[string]any{
		"existingAccount": accountName, "existingContact": contactName,
	}).want(t, 200)
	againDone := s.waitConversion(t, again.str("name"), "CONVERSION_STATE_COMPLETE")
	if conversion(againDone)["contact"] != contactName {
		t.Fatalf("returning customer's conversion: %s", againDone.raw)
	}
	accounts := s.do(t, "GET", "/v1/accounts", nil).want(t, 200)
	if list, _ := accounts.body["accounts"].([]any); len(list) != 1 {
		t.Fatalf("accounts: %s", accounts.raw)
	}
	contacts := s.do(t, "GET", "/v1/contacts?filter="+urlq(`account = "`+accountName+`"`), nil).want(t, 200)
	if list, _ := contacts.body["contacts"].([]any); len(list) != 2 {
		t.Fatalf("contacts: %s", contacts.raw)
	}

	// Converting into an account that does not exist is refused at once.
	carol := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Carol"}).want(t, 200)
	missing := s.do(t, "POST", "/v1/"+carol.str("name")+":qualify", map[string]any{
		"existingAccount": "accounts/" + uuid.NewString(),
	}).want(t, http.StatusBadRequest)
	if reason, _ := missing.violations(); reason != "ACCOUNT_NOT_FOUND" {
		t.Fatalf("missing account: %s", missing.raw)
	}
	// So is a contact of another account.
	other := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Other Ltd"}).want(t, 200)
	wrong := s.do(t, "POST", "/v1/"+carol.str("name")+":qualify", map[string]any{
		"existingAccount": other.str("name"), "existingContact": contactName,
	}).want(t, http.StatusBadRequest)
	if reason, _ := wrong.violations(); reason != "CONTACT_OF_ANOTHER_ACCOUNT" {
		t.Fatalf("contact of another account: %s", wrong.raw)
	}
	if got := s.do(t, "GET", "/v1/"+carol.str("name"), nil).want(t, 200); got.str("status") != "STATUS_NEW" {
		t.Fatalf("refused conversions changed the lead: %s", got.raw)
	}
}

// countConverted counts the records conversions produced: accounts and
// contacts with a source lead, and leads whose conversion is COMPLETE.
func (s *stack) countConverted(t *testing.T) (accounts, contacts, complete int) {
	t.Helper()
	ctx := testkit.As("alice")
	for tok := ""; ; {
		page, err := s.accounts.ListAccounts(ctx, &accountv1.ListAccountsRequest{PageSize: 500, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			if a.SourceLead != "" {
				accounts++
			}
		}
		if tok = page.NextPageToken; tok == "" {
			break
		}
	}
	for tok := ""; ; {
		page, err := s.accounts.ListContacts(ctx, &accountv1.ListContactsRequest{PageSize: 500, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Contacts {
			if c.SourceLead != "" {
				contacts++
			}
		}
		if tok = page.NextPageToken; tok == "" {
			break
		}
	}
	for tok := ""; ; {
		page, err := s.grpc.ListLeads(ctx, &leadv1.ListLeadsRequest{PageSize: 500, PageToken: tok, Filter: "status = QUALIFIED"})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page.Leads {
			if l.GetConversion().GetState() == leadv1.ConversionState_CONVERSION_STATE_COMPLETE {
				complete++
			}
		}
		if tok = page.NextPageToken; tok == "" {
			break
		}
	}
	return accounts, contacts, complete
}

// convert creates n leads and qualifies each into a new account and
// contact over gRPC, from a few goroutines.
func (s *stack) convert(t *testing.T, n int, during func(i int)) { s.convertWith(t, n, false, during) }

// convertWith converts n leads, each also opening an opportunity when
// withOpportunity.
func (s *stack) convertWith(t *testing.T, n int, withOpportunity bool, during func(i int)) {
	t.Helper()
	ctx := testkit.As("alice")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				l, err := s.grpc.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
					FirstName: "P", LastName: fmt.Sprintf("Person %d", i), Company: fmt.Sprintf("Company %d", i),
				}})
				if err == nil {
					req := &leadv1.QualifyLeadRequest{
						Name: l.Name, RequestId: uuid.NewString(),
						AccountTarget: &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{}},
					}
					if withOpportunity {
						req.Opportunity = &leadv1.NewOpportunity{Amount: &moneypb.Money{CurrencyCode: "EUR", Units: int64(1000 + i)}}
					}
					_, err = s.grpc.QualifyLead(ctx, req)
				}
				if err != nil {
					errs <- fmt.Errorf("conversion %d: %w", i, err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		if during != nil {
			during(i)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func (s *stack) waitAllConverted(t *testing.T, n int) {
	t.Helper()
	var a, c, done int
	testkit.Eventually(t, 90*time.Second, func() bool {
		a, c, done = s.countConverted(t)
		return done >= n
	}, "%d conversions complete", n)
	// Let stragglers (a duplicate that would be applied late) show.
	time.Sleep(500 * time.Millisecond)
	a, c, done = s.countConverted(t)
	if a != n || c != n || done != n {
		t.Fatalf("accounts %d, contacts %d, complete leads %d; want %d of each", a, c, done, n)
	}
}

func TestConversionWhileTheAccountServiceIsDown(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	if err := s.account.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"firstName": "Dora", "lastName": "Down", "company": "Outage plc"}).want(t, 200)
	// Into existing records: cannot be checked, fails fast, changes nothing.
	start := time.Now()
	r := s.do(t, "POST", "/v1/"+lead.str("name")+":qualify", map[string]any{"existingAccount": "accounts/" + uuid.NewString()}).
		want(t, http.StatusServiceUnavailable)
	if reason, _ := r.violations(); reason != "ACCOUNT_SERVICE_UNAVAILABLE" || time.Since(start) > 5*time.Second {
		t.Fatalf("conversion into existing records with the account service down: %s after %v", r.raw, time.Since(start))
	}
	if got := s.do(t, "GET", "/v1/"+lead.str("name"), nil).want(t, 200); got.str("status") != "STATUS_NEW" {
		t.Fatalf("failed conversion changed the lead: %s", got.raw)
	}
	// Into new records: succeeds, and completes once the service is back.
	s.do(t, "POST", "/v1/"+lead.str("name")+":qualify", map[string]any{"newAccount": map[string]any{}}).want(t, 200)
	time.Sleep(time.Second)
	if got := s.do(t, "GET", "/v1/"+lead.str("name"), nil).want(t, 200); conversion(got)["state"] != "CONVERSION_STATE_PENDING" {
		t.Fatalf("conversion with the account service down: %s", got.raw)
	}
	s.account.Restart()
	s.waitConversion(t, lead.str("name"), "CONVERSION_STATE_COMPLETE")
	s.waitAllConverted(t, 1)
}

func TestConversionsSurviveAnAccountServiceCrash(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	const n = 120
	s.convert(t, n, func(i int) {
		if i == n/2 {
			s.account.Kill() // SIGKILL, mid-batch
		}
	})
	s.account.Restart()
	s.waitAllConverted(t, n)
}

func TestConversionsSurviveANATSRestart(t *testing.T) {
	t.Parallel()
	s := startStackWith(t, stackOptions{privateNATS: true})
	const n = 500
	s.convert(t, n, func(i int) {
		switch i {
		case n / 3:
			s.nats.Stop(t)
		case n/3 + 60:
			s.nats.Restart(t)
		}
	})
	s.waitAllConverted(t, n)
}

// A LeadQualified the account service cannot apply goes to the dead-letter
// subject with its reason, and the refusal is published for the lead.
func TestUnappliableConversionIsDeadLetteredAndReported(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	js := s.nats.Observer(t)
	ctx := context.Background()
	ns := s.nats.Namespace
	s.nats.CreateStream(t, js, "lead", 0)
	leadID, eventID := uuid.NewString(), uuid.NewString()
	ev := &eventsv1.LeadQualified{
		Meta: &eventsv1.EventMeta{EventId: eventID, Actor: "alice"}, LeadId: leadID,
		Account: &eventsv1.ConversionAccount{AccountId: uuid.NewString()}, // existing, but there is none
		Contact: &eventsv1.ConversionContact{ContactId: uuid.NewString(), Create: true, LastName: "Nobody"},
	}
	s.nats.Publish(t, js, "lead", ev)
	var dead *jetstream.RawStreamMsg
	testkit.Eventually(t, 30*time.Second, func() bool {
		stream, err := js.Stream(ctx, inbox.DeadLetterStream(ns).Name)
		if err != nil {
			return false
		}
		dead, err = stream.GetLastMsgForSubject(ctx, ns+"crm.dlq.account-lead-qualified")
		return err == nil
	}, "the event on the dead-letter subject")
	if !strings.HasPrefix(dead.Header.Get(inbox.HeaderDLQReason), "ACCOUNT_NOT_FOUND") {
		t.Fatalf("dead letter reason %q", dead.Header.Get(inbox.HeaderDLQReason))
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		stream, err := js.Stream(ctx, events.StreamName(ns, "account"))
		if err != nil {
			return false
		}
		raw, err := stream.GetLastMsgForSubject(ctx, events.Subject(ns, "account", &eventsv1.LeadConversionRejected{}))
		if err != nil {
			return false
		}
		var rej eventsv1.LeadConversionRejected
		return proto.Unmarshal(raw.Data, &rej) == nil && rej.LeadId == leadID && rej.QualifiedEventId == eventID && rej.Reason == "ACCOUNT_NOT_FOUND"
	}, "LeadConversionRejected for the lead")
}

func TestConversionsWhileTheOpportunityServiceIsDown(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	if err := s.opps.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	const n = 40
	s.convertWith(t, n, true, nil)
	// Accounts and contacts are made, but no conversion is complete
	// without its opportunity.
	time.Sleep(time.Second)
	if _, _, done := s.countConverted(t); done != 0 {
		t.Fatalf("%d conversions complete while the opportunity service is down", done)
	}
	s.opps.Restart()
	s.waitAllConverted(t, n)
	opps := opportunityv1.NewOpportunityServiceClient(testkit.Dial(t, s.opps.Addr))
	seen := map[string]bool{}
	for tok := ""; ; {
		page, err := opps.ListOpportunities(testkit.As("alice"), &opportunityv1.ListOpportunitiesRequest{PageSize: 500, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Opportunities {
			if o.SourceLead == "" || seen[o.SourceLead] {
				t.Fatalf("opportunity %v: no source lead, or a second one for it", o)
			}
			seen[o.SourceLead] = true
		}
		if tok = page.NextPageToken; tok == "" {
			break
		}
	}
	if len(seen) != n {
		t.Fatalf("%d opportunities, want %d", len(seen), n)
	}
}

// A conversion stuck while the account service is down is listed and
// sent again; once the account service is back, the original and the
// resend make one account and one contact, and the conversion completes.
func TestStuckConversionRetriedMakesNothingTwice(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Stuck", "company": "Stuck Ltd"}).want(t, 200).str("name")
	s.account.Kill()
	s.do(t, "POST", "/v1/"+lead+":qualify", map[string]any{"newAccount": map[string]any{"currencyCode": "EUR"}}).want(t, 200)
	time.Sleep(100 * time.Millisecond)
	stuck := s.do(t, "GET", "/v1/leads:stuckConversions?olderThan=0.05s", nil).want(t, 200).list("leads")
	if len(stuck) != 1 || stuck[0]["name"] != lead {
		t.Fatalf("stuck conversions %v", stuck)
	}
	s.do(t, "POST", "/v1/"+lead+":retryConversion", map[string]any{}).want(t, 200)
	s.do(t, "POST", "/v1/"+lead+":retryConversion", map[string]any{}).want(t, 200)
	s.account.Restart()
	done := s.waitConversion(t, lead, "CONVERSION_STATE_COMPLETE")
	account, _ := conversion(done)["account"].(string)
	if n := s.query(t, `SELECT count(*)::text FROM account.accounts WHERE source_lead IN ($1, $2)`, lead, lead[len("leads/"):]); n != "1" {
		t.Fatalf("%s accounts from the lead (%s)", n, account)
	}
	if n := s.query(t, `SELECT count(*)::text FROM account.contacts WHERE source_lead IN ($1, $2)`, lead, lead[len("leads/"):]); n != "1" {
		t.Fatalf("%s contacts from the lead", n)
	}
}
