package e2e

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// An admin's opportunity process: "proposal" needs an amount, a primary
// contact and a logged meeting, BLOCK. A salesperson's move there without
// the meeting is refused over REST and gRPC alike, naming the missing
// step; once the meeting is logged the same move goes through. The
// guidance shows what is done and missing; a salesperson may not
// override, a manager may with a reason, and the override is on record.
func TestProcessGateOverRESTAndGRPC(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	var pipeline string
	for _, p := range s.do(t, "GET", "/v1/pipelines", nil).want(t, 200).list("pipelines") {
		if p["default"] == true {
			pipeline, _ = p["name"].(string)
		}
	}
	def := s.do(t, "POST", "/v1/processDefinitions", map[string]any{
		"displayName": "Consultative sale", "recordType": "PROCESS_RECORD_TYPE_OPPORTUNITY", "pipeline": pipeline,
		"enforcement": "ENFORCEMENT_BLOCK", "active": true,
		"stages": []map[string]any{{"stage": "proposal", "steps": []map[string]any{
			{"id": "amount", "title": "An amount", "required": true, "condition": "has(record.amount) && record.amount.units > 0"},
			{"id": "primary_contact", "title": "A primary contact", "required": true, "condition": `record.primary_contact != ""`},
			{"id": "meeting", "title": "A meeting logged", "required": true, "activity": "ACTIVITY_TYPE_MEETING"},
			{"id": "deck", "title": "Deck shared", "checklist": map[string]any{}},
		}}, {"stage": "won", "entryActions": []map[string]any{{"createTask": map[string]any{
			"type": "ACTIVITY_TYPE_TODO", "subject": "Kick off onboarding", "dueInDays": 1}}}}},
	}).want(t, 200)
	if def.str("version") != "1" {
		t.Fatalf("definition: %s", def.raw)
	}
	// The opportunity service learns the gate from the workflow's event.
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM opportunity.process_gates WHERE active`) == "1"
	}, "the opportunity service knows the gate")

	sam := testkit.Bearer("sam", "sales")
	acc := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Initech", "currencyCode": "EUR"}, "Authorization", sam).want(t, 200)
	contact := s.do(t, "POST", "/v1/contacts", map[string]any{"firstName": "Bill", "lastName": "Lumbergh", "account": acc.str("name")}, "Authorization", sam).want(t, 200)
	opp := s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "TPS reports", "account": acc.str("name"),
		"primaryContact": contact.str("name"), "amount": map[string]any{"currencyCode": "EUR", "units": "5000"}}, "Authorization", sam).want(t, 200)
	name := opp.str("name")

	refused := s.do(t, "POST", "/v1/"+name+":move", map[string]any{"stage": "proposal"}, "Authorization", sam).want(t, 400)
	if reason, _ := refused.violations(); reason != "PROCESS_STEPS_MISSING" || !strings.Contains(string(refused.raw), "A meeting logged") ||
		strings.Contains(string(refused.raw), "An amount") || strings.Contains(string(refused.raw), "Deck shared") {
		t.Fatalf("REST move without a meeting: %s", refused.raw)
	}
	opps := opportunityv1.NewOpportunityServiceClient(testkit.Dial(t, s.opps.Addr))
	_, err := opps.MoveOpportunity(testkit.As("sam", "sales"), &opportunityv1.MoveOpportunityRequest{Name: name, Stage: "proposal"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("gRPC move without a meeting: %v", err)
	}
	var missing []string
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.GetViolations() {
				missing = append(missing, v.GetDescription())
			}
		}
	}
	if len(missing) != 1 || !strings.Contains(missing[0], "meeting") {
		t.Fatalf("gRPC missing steps %v (%v)", missing, err)
	}
	if got := s.do(t, "GET", "/v1/"+name, nil, "Authorization", sam).want(t, 200); got.str("stage") == "proposal" {
		t.Fatalf("a refused move moved: %s", got.raw)
	}

	guide := s.do(t, "GET", "/v1/"+name+"/processInstance", nil, "Authorization", sam).want(t, 200)
	done := map[string]bool{}
	for _, st := range guide.list("steps") {
		done[st["stepId"].(string)] = st["done"] == true
	}
	if !done["amount"] || !done["primary_contact"] || done["meeting"] || done["deck"] || len(guide.list("allowedNextStages")) != 0 {
		t.Fatalf("guidance before the meeting: %s", guide.raw)
	}

	// Overrides: not a salesperson's; a manager's needs a reason.
	s.do(t, "POST", "/v1/"+name+":move", map[string]any{"stage": "proposal", "overrideProcess": true, "processOverrideReason": "trust me"},
		"Authorization", sam).want(t, 403)
	mia := testkit.Bearer("mia", "manager")
	noReason := s.do(t, "POST", "/v1/"+name+":move", map[string]any{"stage": "proposal", "overrideProcess": true}, "Authorization", mia).want(t, 400)
	if _, fields := noReason.violations(); !testkit.HasField(fields, "process_override_reason") {
		t.Fatalf("override without a reason: %s", noReason.raw)
	}

	s.do(t, "POST", "/v1/"+name+"/activities", map[string]any{"type": "ACTIVITY_TYPE_MEETING", "subject": "Kick-off"}, "Authorization", sam).want(t, 200)
	moved := s.do(t, "POST", "/v1/"+name+":move", map[string]any{"stage": "proposal"}, "Authorization", sam).want(t, 200)
	if moved.str("stage") != "proposal" {
		t.Fatalf("move with the meeting logged: %s", moved.raw)
	}
	// Entering won runs the stage's entry actions: the onboarding task.
	s.do(t, "POST", "/v1/"+name+":win", map[string]any{}, "Authorization", sam).want(t, 200)
	testkit.Eventually(t, 30*time.Second, func() bool {
		tasks := s.do(t, "GET", "/v1/"+name+"/activities?filter=status%20%3D%20OPEN", nil).want(t, 200).list("activities")
		return len(tasks) == 1 && tasks[0]["subject"] == "Kick off onboarding" && tasks[0]["owner"] == "sam"
	}, "the onboarding task from won's entry actions")
	rules := s.do(t, "GET", "/v1/rules", nil).want(t, 200)
	if !strings.Contains(string(rules.raw), def.str("name")) {
		t.Fatalf("the entry actions' rule: %s", rules.raw)
	}

	// A manager overrides a second deal's missing meeting, with a reason:
	// on record in the workflow service and the opportunity's audit trail.
	other := s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "Stapler", "account": acc.str("name"),
		"primaryContact": contact.str("name"), "amount": map[string]any{"currencyCode": "EUR", "units": "50"}}, "Authorization", sam).want(t, 200)
	s.do(t, "POST", "/v1/"+other.str("name")+":move", map[string]any{"stage": "proposal", "overrideProcess": true,
		"processOverrideReason": "met at the trade fair"}, "Authorization", mia).want(t, 200)
	exc := s.do(t, "GET", "/v1/"+other.str("name")+"/processInstance/exceptions", nil).want(t, 200).list("exceptions")
	if len(exc) != 1 || exc[0]["kind"] != "OVERRIDE" || exc[0]["reason"] != "met at the trade fair" || exc[0]["actor"] != "mia" {
		t.Fatalf("exceptions %v", exc)
	}
	trail := s.do(t, "GET", "/v1/"+other.str("name")+"/auditEntries", nil).want(t, 200)
	if !strings.Contains(string(trail.raw), "process_gate") || !strings.Contains(string(trail.raw), "met at the trade fair") {
		t.Fatalf("audit trail: %s", trail.raw)
	}
}

// An admin's lead process that ends in an order, with no opportunity
// (seed 000): a checklist step before CONTACTED, a logged call and a
// company before QUALIFIED. Status changes and the qualification are
// refused until the steps are done; then the lead qualifies straight into
// an order, and a retried qualification makes nothing twice: exactly one
// order.
func TestLeadProcessEndsInExactlyOneOrder(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.do(t, "POST", "/v1/processDefinitions", map[string]any{
		"displayName": "Walk-in to order", "recordType": "PROCESS_RECORD_TYPE_LEAD", "enforcement": "ENFORCEMENT_BLOCK", "active": true,
		"stages": []map[string]any{
			{"stage": "NEW"},
			{"stage": "CONTACTED", "steps": []map[string]any{{"id": "need_noted", "title": "Need noted", "required": true, "checklist": map[string]any{}}}},
			{"stage": "QUALIFIED", "steps": []map[string]any{
				{"id": "called", "title": "Called back", "required": true, "activity": "ACTIVITY_TYPE_CALL"},
				{"id": "company", "title": "Company known", "required": true, "condition": `record.company != ""`},
			}},
		},
	}).want(t, 200)
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.process_gates WHERE active`) == "1"
	}, "the lead service knows the gate")

	lead := s.do(t, "POST", "/v1/leads", map[string]any{"firstName": "Ann", "lastName": "Baker", "company": "Bakery"}).want(t, 200)
	name := lead.str("name")
	qualify := map[string]any{
		"newAccount": map[string]any{"currencyCode": "EUR"},
		"order": map[string]any{"lines": []map[string]any{{"productCode": "OVEN", "quantity": "1",
			"unitPrice": map[string]any{"currencyCode": "EUR", "units": "4200"}}}},
		"requestId": "0192f5a0-0000-7000-8000-0000000000aa",
	}
	early := s.do(t, "POST", "/v1/"+name+":qualify", qualify).want(t, 400)
	if reason, _ := early.violations(); reason != "PROCESS_STEPS_MISSING" || !strings.Contains(string(early.raw), "Need noted") ||
		!strings.Contains(string(early.raw), "Called back") || strings.Contains(string(early.raw), "Company known") {
		t.Fatalf("qualify before the steps: %s", early.raw)
	}
	contacted := map[string]any{"status": "STATUS_CONTACTED"}
	s.do(t, "PATCH", "/v1/"+name+"?updateMask=status", contacted).want(t, 400)
	s.do(t, "POST", "/v1/"+name+"/processInstance:tick", map[string]any{"stepId": "need_noted", "done": true}).want(t, 200)
	s.do(t, "PATCH", "/v1/"+name+"?updateMask=status", contacted).want(t, 200)
	s.do(t, "POST", "/v1/"+name+"/activities", map[string]any{"type": "ACTIVITY_TYPE_CALL", "subject": "Called back"}).want(t, 200)

	s.do(t, "POST", "/v1/"+name+":qualify", qualify).want(t, 200)
	s.do(t, "POST", "/v1/"+name+":qualify", qualify).want(t, 200) // the client's retry
	done := s.waitConversion(t, name, "CONVERSION_STATE_COMPLETE")
	if conversion(done)["order"] == nil || conversion(done)["opportunity"] != nil {
		t.Fatalf("conversion: %s", done.raw)
	}
	if n := s.query(t, `SELECT count(*)::text FROM "order".orders WHERE source_lead = $1`, name); n != "1" {
		t.Fatalf("%s orders from the lead", n)
	}
}

// While the workflow service is down, a BLOCK process's transition is
// UNAVAILABLE (retryable) and changes nothing; a WARN process's goes
// through and the record's audit trail says it went unchecked. Back up,
// the BLOCK process refuses the missing step again.
func TestProcessGateWhileTheWorkflowServiceIsDown(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	var pipeline string
	for _, p := range s.do(t, "GET", "/v1/pipelines", nil).want(t, 200).list("pipelines") {
		if p["default"] == true {
			pipeline, _ = p["name"].(string)
		}
	}
	s.do(t, "POST", "/v1/processDefinitions", map[string]any{
		"displayName": "Sale", "recordType": "PROCESS_RECORD_TYPE_OPPORTUNITY", "pipeline": pipeline, "enforcement": "ENFORCEMENT_BLOCK", "active": true,
		"stages": []map[string]any{{"stage": "proposal", "steps": []map[string]any{{"id": "brief", "title": "Brief read", "required": true, "checklist": map[string]any{}}}}},
	}).want(t, 200)
	s.do(t, "POST", "/v1/processDefinitions", map[string]any{
		"displayName": "Leads", "recordType": "PROCESS_RECORD_TYPE_LEAD", "enforcement": "ENFORCEMENT_WARN", "active": true,
		"stages": []map[string]any{{"stage": "CONTACTED", "steps": []map[string]any{{"id": "intro", "title": "Intro sent", "required": true, "checklist": map[string]any{}}}}},
	}).want(t, 200)
	testkit.Eventually(t, 30*time.Second, func() bool {
		// Each service keeps every definition; what counts is its own.
		return s.query(t, `SELECT (SELECT count(*) FROM opportunity.process_gates WHERE active AND record_type = 'OPPORTUNITY')
			+ (SELECT count(*) FROM lead.process_gates WHERE active AND record_type = 'LEAD')`) == "2"
	}, "the opportunity and lead services know their gates")
	acc := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Initech", "currencyCode": "EUR"}).want(t, 200)
	opp := s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "TPS", "account": acc.str("name")}).want(t, 200).str("name")
	// Initech is a customer already: allowDuplicate keeps the lead from
	// being refused as one, should the lead service know it by now.
	lead := s.do(t, "POST", "/v1/leads?allowDuplicate=true", map[string]any{"lastName": "Lumbergh", "company": "Initech"}).want(t, 200).str("name")

	s.workflow.Kill()
	down := s.do(t, "POST", "/v1/"+opp+":move", map[string]any{"stage": "proposal"}).want(t, 503)
	if reason, _ := down.violations(); reason != "PROCESS_CHECK_UNAVAILABLE" {
		t.Fatalf("BLOCK while the workflow service is down: %s", down.raw)
	}
	if st := s.do(t, "GET", "/v1/"+opp, nil).want(t, 200).str("stage"); st == "proposal" {
		t.Fatal("an unchecked BLOCK move moved")
	}
	s.do(t, "PATCH", "/v1/"+lead+"?updateMask=status", map[string]any{"status": "STATUS_CONTACTED"}).want(t, 200)
	trail := s.do(t, "GET", "/v1/"+lead+"/auditEntries", nil).want(t, 200)
	if !strings.Contains(string(trail.raw), "UNCHECKED") {
		t.Fatalf("the WARN pass is not on record: %s", trail.raw)
	}

	s.workflow.Restart()
	testkit.Eventually(t, 30*time.Second, func() bool {
		r := s.do(t, "POST", "/v1/"+opp+":move", map[string]any{"stage": "proposal"})
		reason, _ := r.violations()
		return r.status == 400 && reason == "PROCESS_STEPS_MISSING"
	}, "the BLOCK process refuses the missing step again")
}
