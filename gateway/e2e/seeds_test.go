package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
)

// The seeds' details over REST, through the running suite: a workflow
// rule makes web-form leads MQLs, sales accepts one (SQL) and may not take
// it back, a manager may; the lead's products of interest become the
// converted opportunity's line items; the opportunity is won for a
// configured reason.
func TestLifecycleStageProductsAndWinReasonsOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	bob := []string{"Authorization", testkit.Bearer("bob", "sales")}
	mia := []string{"Authorization", testkit.Bearer("mia", "manager")}

	s.do(t, "POST", "/v1/rules", map[string]any{
		"displayName": "Web-form leads are MQLs", "enabled": true,
		"trigger":   map[string]any{"events": map[string]any{"eventTypes": []string{"LeadCreated"}}},
		"condition": "record.source == Source.SOURCE_WEB_FORM",
		"actions":   []any{map[string]any{"updateField": map[string]any{"field": "lifecycle_stage", "value": "LIFECYCLE_STAGE_MQL"}}},
	}).want(t, 200)

	// Bad products of interest are refused with the field.
	bad := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Bad", "owner": "bob",
		"productsOfInterest": []any{map[string]any{"product": "X", "quantity": "0"}}}).want(t, 400)
	if _, fields := bad.violations(); !slices.Contains(fields, "lead.products_of_interest[0].quantity") {
		t.Fatalf("bad quantity: %s", bad.raw)
	}
	lead := s.do(t, "POST", "/v1/leads", map[string]any{
		"lastName": "Babbage", "company": "Difference Ltd", "source": "SOURCE_WEB_FORM", "owner": "bob", "campaign": "spring",
		"productsOfInterest": []any{
			map[string]any{"product": "WIDGET-1", "quantity": "3", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "100"}},
			map[string]any{"product": "Support plan"},
		},
	}).want(t, 200)
	name := lead.str("name")
	var got response
	testkit.Eventually(t, 30*time.Second, func() bool {
		got = s.do(t, "GET", "/v1/"+name, nil).want(t, 200)
		return got.str("lifecycleStage") == "LIFECYCLE_STAGE_MQL"
	}, "the rule made the web-form lead an MQL")
	if got.str("lifecycleStageChangedBy") != "service:workflow" || got.str("mqlTime") == "" {
		t.Fatalf("MQL by rule: %s", got.raw)
	}

	stage := func(who []string, st string) response {
		return s.do(t, "PATCH", "/v1/"+name+"?updateMask=lifecycle_stage", map[string]any{"lifecycleStage": st}, who...)
	}
	if r := stage(bob, "LIFECYCLE_STAGE_SQL").want(t, 200); r.str("lifecycleStageChangedBy") != "bob" || r.str("sqlTime") == "" {
		t.Fatalf("SQL by bob: %s", r.raw)
	}
	if reason, _ := stage(bob, "LIFECYCLE_STAGE_MQL").want(t, 403).violations(); reason != "LIFECYCLE_STAGE_BACKWARDS" {
		t.Fatalf("bob moving back: reason %q", reason)
	}
	stage(mia, "LIFECYCLE_STAGE_MQL").want(t, 200)
	stage(bob, "LIFECYCLE_STAGE_SQL").want(t, 200)
	sqls := s.do(t, "GET", "/v1/leads?filter=lifecycle_stage%20%3D%20SQL", nil).want(t, 200)
	if ls, _ := sqls.body["leads"].([]any); len(ls) != 1 {
		t.Fatalf("SQL leads: %s", sqls.raw)
	}

	// Converted with an opportunity, the products become its lines.
	s.do(t, "POST", "/v1/"+name+":qualify", map[string]any{"newAccount": map[string]any{"currencyCode": "EUR"}, "opportunity": map[string]any{}}, bob...).want(t, 200)
	done := s.waitConversion(t, name, "CONVERSION_STATE_COMPLETE")
	oppName, _ := conversion(done)["opportunity"].(string)
	opp := s.do(t, "GET", "/v1/"+oppName, nil).want(t, 200)
	lines, _ := opp.body["lineItems"].([]any)
	amount, _ := opp.body["amount"].(map[string]any)
	if len(lines) != 2 || amount["units"] != "300" || amount["currencyCode"] != "EUR" {
		t.Fatalf("opportunity: %s", opp.raw)
	}
	first, _ := lines[0].(map[string]any)
	second, _ := lines[1].(map[string]any)
	if first["product"] != "WIDGET-1" || first["quantity"] != "3" || second["product"] != "Support plan" || second["quantity"] != "1" {
		t.Fatalf("line items: %v", lines)
	}

	// Statistics: the funnel and the products.
	st := s.do(t, "GET", "/v1/leads:statistics", nil).want(t, 200)
	funnel, _ := st.body["lifecycleFunnel"].(map[string]any)
	byProduct, _ := st.body["byProduct"].([]any)
	if funnel["mql"] != "1" || funnel["sql"] != "1" || funnel["qualified"] != "1" || len(byProduct) != 2 {
		t.Fatalf("statistics: %s", st.raw)
	}

	// Won for a configured reason; an unknown one is refused.
	r := s.do(t, "POST", "/v1/"+oppName+":win", map[string]any{"reason": "no_such_reason"}, bob...).want(t, 400)
	if _, fields := r.violations(); !slices.Equal(fields, []string{"reason"}) {
		t.Fatalf("unknown win reason: %s", r.raw)
	}
	reasons := s.do(t, "GET", "/v1/winReasons", nil, bob...).want(t, 200)
	if rs, _ := reasons.body["winReasons"].([]any); len(rs) == 0 {
		t.Fatalf("win reasons: %s", reasons.raw)
	}
	won := s.do(t, "POST", "/v1/"+oppName+":win", map[string]any{"reason": "product_fit", "note": "best fit"}, bob...).want(t, 200)
	if won.str("winReason") != "product_fit" || won.str("state") != "OPPORTUNITY_STATE_WON" {
		t.Fatalf("won: %s", won.raw)
	}
}
