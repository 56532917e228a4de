package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/testkit"
)

// mergeFixture is a duplicate account with everything pointing at it: a
// lead converted into it (account and contact), a second contact, an
// opportunity, an order and a contract, activities regarding the account,
// a contact and the opportunity; and the account it is merged into.
type mergeFixture struct {
	survivor, dup, lead, contact, contact2, opp, order, contract string
	activities                                                   []string
}

func (s *stack) mergeFixture(t *testing.T) mergeFixture {
	t.Helper()
	var f mergeFixture
	f.survivor = s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Acme", "currencyCode": "EUR",
		"addresses": []map[string]any{{"type": "ADDRESS_TYPE_BILLING", "addressLines": []string{"1 Main St"}, "locality": "Berlin", "regionCode": "DE"}}}).
		want(t, 200).str("name")
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"firstName": "Grace", "lastName": "Hopper", "company": "ACME GmbH",
		"email": "grace@acme.example"}).want(t, 200)
	f.lead = lead.str("name")
	s.do(t, "POST", "/v1/"+f.lead+":qualify", map[string]any{"newAccount": map[string]any{"currencyCode": "EUR"}}).want(t, 200)
	done := s.waitConversion(t, f.lead, "CONVERSION_STATE_COMPLETE")
	f.dup, _ = conversion(done)["account"].(string)
	f.contact, _ = conversion(done)["contact"].(string)
	f.contact2 = s.do(t, "POST", "/v1/contacts", map[string]any{"firstName": "Ada", "account": f.dup}).want(t, 200).str("name")
	f.opp = s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "Compilers", "account": f.dup, "primaryContact": f.contact}).
		want(t, 200).str("name")
	f.order = s.asOps(t, "POST", "/v1/orders", map[string]any{"account": f.dup, "contact": f.contact, "currencyCode": "EUR",
		"lines": []map[string]any{{"productCode": "X", "quantity": "1", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "100"}}}}).
		want(t, 200).str("name")
	today := time.Now().UTC()
	f.contract = s.asOps(t, "POST", "/v1/contracts", map[string]any{"account": f.dup, "contact": f.contact2, "currencyCode": "EUR",
		"startDate": map[string]any{"year": today.Year(), "month": int(today.Month()), "day": today.Day()}, "termMonths": 12,
		"billingInterval": "BILLING_INTERVAL_MONTHLY",
		"lines":           []map[string]any{{"productCode": "SUB", "quantity": "1", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "50"}}}}).
		want(t, 200).str("name")
	for _, r := range []string{f.dup, f.contact, f.opp} {
		a := s.do(t, "POST", "/v1/"+r+"/activities", map[string]any{"type": "ACTIVITY_TYPE_NOTE", "subject": "about " + r}).want(t, 200)
		f.activities = append(f.activities, a.str("name"))
	}
	return f
}

// The merge walkthrough over REST: a dry run, the merge, and after
// convergence every service's references point at the survivor, the
// merged account is kept read-only and each consumer applied the merge
// once.
func TestAccountMergeRepointsEverythingOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	f := s.mergeFixture(t)

	dry := s.do(t, "POST", "/v1/"+f.survivor+":merge", map[string]any{"merged": []string{f.dup}, "dryRun": true}).want(t, 200)
	if moved, _ := dry.body["movedContacts"].([]any); len(moved) != 2 || dry.body["dryRun"] != true {
		t.Fatalf("dry run: %s", dry.raw)
	}
	if got := s.do(t, "GET", "/v1/"+f.dup, nil).want(t, 200); got.str("state") != "ACCOUNT_STATE_ACTIVE" {
		t.Fatalf("the dry run merged: %s", got.raw)
	}
	// A sales rep may not merge; a manager may, once per request id.
	s.do(t, "POST", "/v1/"+f.survivor+":merge", map[string]any{"merged": []string{f.dup}}, "Authorization", testkit.Bearer("sam", "sales")).want(t, 403)
	body := map[string]any{"merged": []string{f.dup}, "requestId": uuid.NewString()}
	res := s.do(t, "POST", "/v1/"+f.survivor+":merge", body, "Authorization", testkit.Bearer("mia", "manager")).want(t, 200)
	again := s.do(t, "POST", "/v1/"+f.survivor+":merge", body, "Authorization", testkit.Bearer("mia", "manager")).want(t, 200)
	if string(again.raw) != string(res.raw) {
		t.Fatalf("retry: %s, first %s", again.raw, res.raw)
	}
	s.waitMerged(t, f, "mia")

	// The merged account: kept, read-only, pointing at the survivor.
	m := s.do(t, "GET", "/v1/"+f.dup, nil).want(t, 200)
	if m.str("state") != "ACCOUNT_STATE_MERGED" || m.str("mergedInto") != f.survivor {
		t.Fatalf("merged account: %s", m.raw)
	}
	for _, r := range []response{
		s.do(t, "PATCH", "/v1/"+f.dup+"?updateMask=industry", map[string]any{"industry": "x"}),
		s.do(t, "POST", "/v1/"+f.dup+":deactivate", map[string]any{}),
		s.do(t, "POST", "/v1/contacts", map[string]any{"firstName": "Late", "account": f.dup}),
	} {
		if reason, _ := r.want(t, 400).violations(); reason != "ACCOUNT_MERGED" {
			t.Fatalf("change of a merged account: %s", r.raw)
		}
	}
	// Nor do the other services take new references to it: they would
	// never be re-pointed.
	for _, r := range []response{
		s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "Late", "account": f.dup}),
		s.asOps(t, "POST", "/v1/orders", map[string]any{"account": f.dup, "currencyCode": "EUR",
			"lines": []map[string]any{{"productCode": "X", "quantity": "1", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "1"}}}}),
		s.do(t, "POST", "/v1/"+s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Late", "company": "Late Works"}).want(t, 200).str("name")+":qualify",
			map[string]any{"existingAccount": f.dup}),
	} {
		if reason, _ := r.want(t, 400).violations(); reason != "ACCOUNT_MERGED" {
			t.Fatalf("a new reference to a merged account: %s", r.raw)
		}
	}
	r := s.do(t, "POST", "/v1/"+f.dup+":merge", map[string]any{"merged": []string{f.survivor}}).want(t, 400)
	if reason, _ := r.violations(); reason != "ACCOUNT_ALREADY_MERGED" {
		t.Fatalf("merging the merged one again: %s", r.raw)
	}

	// An account with an open order in dollars cannot be merged into a
	// euro account until the order is cancelled: the account service
	// knows from the order service's events.
	usd := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Acme Inc", "currencyCode": "USD"}).want(t, 200).str("name")
	order := s.asOps(t, "POST", "/v1/orders", map[string]any{"account": usd, "currencyCode": "USD",
		"lines": []map[string]any{{"productCode": "X", "quantity": "1", "unitPrice": map[string]any{"currencyCode": "USD", "units": "10"}}}}).
		want(t, 200).str("name")
	testkit.Eventually(t, 30*time.Second, func() bool {
		r := s.do(t, "POST", "/v1/"+f.survivor+":merge", map[string]any{"merged": []string{usd}, "dryRun": true})
		reason, _ := r.violations()
		return r.status == 400 && reason == "OPEN_ORDERS_IN_OTHER_CURRENCY"
	}, "the merge refused for the open dollar order")
	s.asOps(t, "POST", "/v1/"+order+":cancel", map[string]any{"reason": "duplicate customer"}).want(t, 200)
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.do(t, "POST", "/v1/"+f.survivor+":merge", map[string]any{"merged": []string{usd}, "dryRun": true}).status == 200
	}, "the merge allowed once the order is cancelled")

	// Then the converted contact is merged into the other one: every
	// reference to it follows.
	// Both are on the opportunity's buying committee: the survivor stays
	// once, with the roles of both.
	s.do(t, "PATCH", "/v1/"+f.opp+"?updateMask=buying_committee", map[string]any{"account": f.survivor, "buyingCommittee": []map[string]any{
		{"contact": f.contact, "roles": []string{"finance"}}, {"contact": f.contact2, "roles": []string{"technical", "finance"}}}}).want(t, 200)
	cm := s.do(t, "POST", "/v1/"+f.contact2+":merge", map[string]any{"merged": []string{f.contact}}).want(t, 200)
	if emails, _ := cm.body["contact"].(map[string]any)["emails"].([]any); len(emails) != 1 {
		t.Fatalf("merged contact: %s", cm.raw)
	}
	testkit.Eventually(t, 60*time.Second, func() bool {
		opp := s.do(t, "GET", "/v1/"+f.opp, nil)
		committee, _ := json.Marshal(opp.body["buyingCommittee"])
		return opp.str("primaryContact") == f.contact2 &&
			string(committee) == `[{"contact":"`+f.contact2+`","roles":["finance","technical"]}]` &&
			s.asOps(t, "GET", "/v1/"+f.order, nil).str("contact") == f.contact2 &&
			conversion(s.do(t, "GET", "/v1/"+f.lead, nil))["contact"] == f.contact2 &&
			s.do(t, "GET", "/v1/"+f.activities[1], nil).str("regarding") == f.contact2
	}, "every service re-pointed at the surviving contact")
	if got := s.do(t, "GET", "/v1/"+f.contact, nil).want(t, 200); got.str("mergedInto") != f.contact2 {
		t.Fatalf("merged contact: %s", got.raw)
	}
	r = s.do(t, "PATCH", "/v1/"+f.contact+"?updateMask=title", map[string]any{"title": "x"}).want(t, 400)
	if reason, _ := r.violations(); reason != "CONTACT_MERGED" {
		t.Fatalf("change of a merged contact: %s", r.raw)
	}
	r = s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "Late", "account": f.survivor, "primaryContact": f.contact}).want(t, 400)
	if reason, _ := r.violations(); reason != "CONTACT_MERGED" {
		t.Fatalf("a new reference to a merged contact: %s", r.raw)
	}
}

// waitMerged waits until every service has re-pointed f's references at
// the survivor, then checks that each re-pointed record's audit trail
// shows actor's merge, and that each consumer applied the merge exactly
// once (one inbox row each, one version step on each re-pointed record).
func (s *stack) waitMerged(t *testing.T, f mergeFixture, actor string) {
	t.Helper()
	testkit.Eventually(t, 60*time.Second, func() bool {
		return s.do(t, "GET", "/v1/"+f.opp, nil).str("account") == f.survivor &&
			s.asOps(t, "GET", "/v1/"+f.order, nil).str("account") == f.survivor &&
			s.asOps(t, "GET", "/v1/"+f.contract, nil).str("account") == f.survivor &&
			conversion(s.do(t, "GET", "/v1/"+f.lead, nil))["account"] == f.survivor &&
			s.do(t, "GET", "/v1/"+f.activities[0], nil).str("regarding") == f.survivor
	}, "every service re-pointed at the survivor")
	for _, c := range []string{f.contact, f.contact2} {
		if got := s.do(t, "GET", "/v1/"+c, nil).want(t, 200); got.str("account") != f.survivor {
			t.Fatalf("contact: %s", got.raw)
		}
	}
	// The survivor's timeline holds every activity, regarding the
	// contact and the opportunity too.
	tl := s.do(t, "GET", "/v1/"+f.survivor+"/activities?pageSize=3", nil).want(t, 200).list("activities")
	if len(tl) != 3 {
		t.Fatalf("survivor's timeline: %d activities", len(tl))
	}
	ids := make([]string, len(f.activities))
	for i, a := range f.activities {
		ids[i] = strings.TrimPrefix(a, "activities/")
	}
	if n := s.query(t, `SELECT count(*)::text FROM workflow.activities WHERE id = ANY($1::uuid[]) AND account = $2`, ids, f.survivor); n != fmt.Sprint(len(ids)) {
		t.Fatalf("%s of %d activities on the survivor's timeline", n, len(ids))
	}
	if dupTL := s.do(t, "GET", "/v1/"+f.dup+"/activities", nil).want(t, 200).list("activities"); len(dupTL) != 0 {
		t.Fatalf("the merged account's timeline still has %d activities", len(dupTL))
	}
	if got := s.do(t, "GET", "/v1/"+f.opp, nil).want(t, 200); got.str("primaryContact") != f.contact {
		t.Fatalf("opportunity: %s", got.raw)
	}
	// Each re-pointed record's audit trail shows the merge: the account
	// field, from the merged account to the survivor, by the merging user.
	for _, r := range []string{f.opp, f.order, f.contract, f.lead} {
		q := url.Values{"filter": {`method = "event:crm.events.v1.AccountsMerged"`}}.Encode()
		trail := s.do(t, "GET", "/v1/"+r+"/auditEntries?"+q, nil).want(t, 200).list("auditEntries")
		if len(trail) != 1 || trail[0]["actor"] != actor || !strings.Contains(fmt.Sprint(trail[0]["changes"]), f.dup) || !strings.Contains(fmt.Sprint(trail[0]["changes"]), f.survivor) {
			t.Fatalf("%s audit trail of the merge: %v", r, trail)
		}
	}
	// Created at version 1, re-pointed once: version 2.
	for _, r := range []response{s.do(t, "GET", "/v1/"+f.opp, nil), s.asOps(t, "GET", "/v1/"+f.order, nil), s.asOps(t, "GET", "/v1/"+f.contract, nil)} {
		if r.str("etag") != `W/"2"` {
			t.Fatalf("re-pointed record at %s: %s", r.str("etag"), r.raw)
		}
	}
	// Once each: one inbox row per consumer for the merge event.
	for schema, consumer := range map[string]string{"opportunity": "opportunity-account-merges", "order": "order-accounts",
		"lead": "lead-account-merges", "workflow": "workflow-accounts"} {
		n := s.query(t, fmt.Sprintf(`SELECT count(*)::text FROM "%s".inbox WHERE consumer = $1 AND subject LIKE '%%accounts_merged'`, schema), consumer)
		if n != "1" {
			t.Fatalf("%s applied the merge %s times", consumer, n)
		}
	}
}

// A kill -9 of the workflow service while it moves a merged account's
// activities: after the restart every activity is re-pointed once (each
// one version step, one inbox row), none lost, none doubled.
func TestAccountMergeSurvivesAWorkflowCrashMidRepoint(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	f := s.mergeFixture(t)
	const n = 300
	ctx := context.Background()
	wf := workflowv1.NewWorkflowServiceClient(testkit.Dial(t, s.workflow.Addr))
	for i := range n {
		a, err := wf.CreateActivity(testkit.As("alice", "admin"), &workflowv1.CreateActivityRequest{Parent: f.dup,
			Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE, Subject: fmt.Sprintf("note %d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		f.activities = append(f.activities, a.Name)
	}
	js := s.nats.Observer(t)
	consumer := func() (pending, ackPending int) {
		c, err := js.Consumer(ctx, events.StreamName(s.nats.Namespace, "account"), "workflow-accounts")
		if err != nil {
			return -1, -1
		}
		info, err := c.Info(ctx)
		if err != nil {
			return -1, -1
		}
		return int(info.NumPending), info.NumAckPending
	}
	testkit.Eventually(t, 30*time.Second, func() bool { p, a := consumer(); return p == 0 && a == 0 }, "workflow caught up")
	versions := s.query(t, `SELECT string_agg(DISTINCT version::text, ',') FROM workflow.activities WHERE subject LIKE 'note %'`)
	if versions != "1" {
		t.Fatalf("activity versions before the merge: %s", versions)
	}

	s.do(t, "POST", "/v1/"+f.survivor+":merge", map[string]any{"merged": []string{f.dup}}).want(t, 200)
	// Kill it while it holds the merge event unacknowledged: mid re-point.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, a := consumer(); a > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the workflow service never took the merge event")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.workflow.Kill()
	moved := s.query(t, `SELECT count(*)::text FROM workflow.activities WHERE regarding = $1`, f.survivor)
	t.Logf("activities on the survivor when killed: %s of %d", moved, n+1)
	s.workflow.Restart()

	s.waitMerged(t, f, "alice")
	if got := s.query(t, `SELECT count(*)::text FROM workflow.activities WHERE regarding = $1`, f.survivor); got != fmt.Sprint(n+1) {
		t.Fatalf("activities on the survivor: %s, want %d", got, n+1)
	}
	// Moved once: created at version 1, moved at 2; never 3.
	if got := s.query(t, `SELECT string_agg(DISTINCT version::text, ',') FROM workflow.activities WHERE regarding = $1 AND subject LIKE 'note %'`, f.survivor); got != "2" {
		t.Fatalf("moved activities' versions: %s", got)
	}
	if got := s.query(t, `SELECT count(*)::text FROM workflow.activities WHERE subject LIKE 'note %'`); got != fmt.Sprint(n) {
		t.Fatalf("notes: %s, want %d", got, n)
	}
}
