package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
)

var opsToken = testkit.Bearer("olga", "ops")

// asOps sends a REST request with an ops token.
func (s *stack) asOps(t *testing.T, method, path string, body any) response {
	t.Helper()
	return s.do(t, method, path, body, "Authorization", opsToken)
}

// list returns the named collection of a List reply.
func (r response) list(key string) []map[string]any {
	items, _ := r.body[key].([]any)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i], _ = it.(map[string]any)
	}
	return out
}

// The whole chain over REST, as users drive it: a lead is qualified with
// an opportunity, the opportunity is won, its draft order appears, ops
// confirm it (credit checked), deliver it and close it.
func TestLeadToClosedOrderOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"firstName": "Grace", "lastName": "Hopper", "company": "Cobol Inc",
		"email": "grace@cobol.example"}).want(t, 200)
	s.do(t, "POST", "/v1/"+lead.str("name")+":qualify", map[string]any{
		"newAccount":  map[string]any{"currencyCode": "EUR"},
		"opportunity": map[string]any{"displayName": "Compilers"},
	}).want(t, 200)
	done := s.waitConversion(t, lead.str("name"), "CONVERSION_STATE_COMPLETE")
	account, _ := conversion(done)["account"].(string)
	opp, _ := conversion(done)["opportunity"].(string)
	// A credit limit on the customer, then line items on the deal.
	acc := s.do(t, "GET", "/v1/"+account, nil).want(t, 200)
	s.do(t, "PATCH", "/v1/"+account+"?updateMask=credit_limit", map[string]any{"etag": acc.str("etag"),
		"creditLimit": map[string]any{"currencyCode": "EUR", "units": "10000"}}).want(t, 200)
	s.do(t, "PATCH", "/v1/"+opp+"?updateMask=line_items", map[string]any{"account": account, "displayName": "Compilers", "lineItems": []map[string]any{
		{"product": "COMPILER", "quantity": "2", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "1500"}}}}).want(t, 200)
	s.do(t, "POST", "/v1/"+opp+":win", map[string]any{}).want(t, 200)

	var order map[string]any
	testkit.Eventually(t, 30*time.Second, func() bool {
		orders := s.asOps(t, "GET", fmt.Sprintf("/v1/orders?filter=source_opportunity=%%22%s%%22", opp), nil).want(t, 200).list("orders")
		if len(orders) == 1 {
			order = orders[0]
		}
		return order != nil
	}, "the won opportunity's draft order")
	name, _ := order["name"].(string)
	if order["status"] != "ORDER_STATUS_DRAFT" || order["account"] != account || order["total"].(map[string]any)["units"] != "3000" {
		t.Fatalf("draft order: %v", order)
	}
	c := s.asOps(t, "POST", "/v1/"+name+":confirm", map[string]any{}).want(t, 200)
	if c.str("status") != "ORDER_STATUS_CONFIRMED" || c.body["creditCheck"].(map[string]any)["result"] != "CREDIT_CHECK_RESULT_PASSED" {
		t.Fatalf("confirmed: %s", c.raw)
	}
	f := s.asOps(t, "POST", "/v1/"+name+":fulfill", map[string]any{"lines": []map[string]any{{"lineId": "1", "quantity": "2"}}}).want(t, 200)
	if f.str("status") != "ORDER_STATUS_FULFILLED" {
		t.Fatalf("fulfilled: %s", f.raw)
	}
	cl := s.asOps(t, "POST", "/v1/"+name+":close", map[string]any{}).want(t, 200)
	if cl.str("status") != "ORDER_STATUS_CLOSED" {
		t.Fatalf("closed: %s", cl.raw)
	}
	// Over the limit, a confirm is refused with the figures.
	big := s.asOps(t, "POST", "/v1/orders", map[string]any{"account": account, "currencyCode": "EUR",
		"lines": []map[string]any{{"productCode": "X", "quantity": "1", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "20000"}}}}).want(t, 200)
	refused := s.asOps(t, "POST", "/v1/"+big.str("name")+":confirm", map[string]any{}).want(t, 400)
	if reason, _ := refused.violations(); reason != "CREDIT_LIMIT_EXCEEDED" {
		t.Fatalf("over the limit: %s", refused.raw)
	}
	// Bad input is a 400 naming the field.
	bad := s.asOps(t, "POST", "/v1/orders", map[string]any{"account": account, "currencyCode": "EUR",
		"lines": []map[string]any{{"productCode": "X", "quantity": "0", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "1"}}}}).want(t, 400)
	if _, fields := bad.violations(); !testkit.HasField(fields, "order.lines[0].quantity") {
		t.Fatalf("zero quantity: %s", bad.raw)
	}
	perf := s.do(t, "GET", "/v1/orders:performance", nil).want(t, 200)
	if len(perf.list("owners")) == 0 {
		t.Fatalf("performance: %s", perf.raw)
	}
}

// A recurring deal won becomes a draft contract; activated with its
// renewal already due, the renewal opportunity appears for the account's
// owner; winning it renews the contract. All over REST.
func TestContractRenewalOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	acc := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Initech", "currencyCode": "EUR"}).want(t, 200)
	account := acc.str("name")
	opp := s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "Support plan", "account": account,
		"lineItems":     []map[string]any{{"product": "SUPPORT", "quantity": "1", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "250"}}},
		"contractTerms": map[string]any{"billingInterval": "BILLING_INTERVAL_MONTHLY", "termMonths": 12}}).want(t, 200)
	s.do(t, "POST", "/v1/"+opp.str("name")+":win", map[string]any{}).want(t, 200)
	var contract map[string]any
	testkit.Eventually(t, 30*time.Second, func() bool {
		cs := s.asOps(t, "GET", fmt.Sprintf("/v1/contracts?filter=source_opportunity=%%22%s%%22", opp.str("name")), nil).want(t, 200).list("contracts")
		if len(cs) == 1 {
			contract = cs[0]
		}
		return contract != nil
	}, "the won deal's draft contract")
	name, _ := contract["name"].(string)
	// Ops set it to have started eleven months ago, its renewal due 60 days
	// before the term ends: due at once on activation.
	started := time.Now().UTC().AddDate(0, -11, 0)
	s.asOps(t, "PATCH", "/v1/"+name, map[string]any{
		"account": account, "currencyCode": "EUR", "etag": contract["etag"],
		"startDate":       map[string]any{"year": started.Year(), "month": int(started.Month()), "day": started.Day()},
		"renewalLeadDays": 60, "billingAnchorDay": started.Day(),
	}).want(t, 200)
	active := s.asOps(t, "POST", "/v1/"+name+":activate", map[string]any{}).want(t, 200)
	if active.str("status") != "CONTRACT_STATUS_ACTIVE" {
		t.Fatalf("activated: %s", active.raw)
	}
	periods := s.asOps(t, "GET", "/v1/"+name+"/billingPeriods?pageSize=50", nil).want(t, 200).list("billingPeriods")
	if len(periods) != 12 || periods[0]["amount"].(map[string]any)["units"] != "250" {
		t.Fatalf("billing periods: %v", periods)
	}
	var renewal string
	testkit.Eventually(t, 30*time.Second, func() bool {
		c := s.asOps(t, "GET", "/v1/"+name, nil).want(t, 200)
		renewal = c.str("renewalOpportunity")
		return renewal != "" && s.do(t, "GET", "/v1/"+renewal, nil).status == 200
	}, "the renewal opportunity")
	r := s.do(t, "GET", "/v1/"+renewal, nil).want(t, 200)
	if r.str("type") != "OPPORTUNITY_TYPE_RENEWAL" || r.str("renewalContract") != name || r.str("owner") != "alice" {
		t.Fatalf("renewal opportunity: %s", r.raw)
	}
	s.do(t, "POST", "/v1/"+renewal+":win", map[string]any{}).want(t, 200)
	testkit.Eventually(t, 30*time.Second, func() bool {
		c := s.asOps(t, "GET", "/v1/"+name, nil).want(t, 200)
		return c.str("status") == "CONTRACT_STATUS_RENEWED" && c.body["termNumber"] == float64(2)
	}, "the contract renewed")
	mrr := s.asOps(t, "GET", "/v1/contracts:recurringRevenue", nil).want(t, 200).list("currencies")
	if len(mrr) != 1 || mrr[0]["mrr"].(map[string]any)["units"] != "250" {
		t.Fatalf("MRR: %v", mrr)
	}
}

// A business without opportunities qualifies a lead straight into an
// account, a contact and a draft order; the conversion completes once
// the order exists.
func TestLeadStraightIntoAnOrderOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"firstName": "Ann", "lastName": "Baker", "company": "Bakery",
		"campaign": "Spring fair"}).want(t, 200)
	s.do(t, "POST", "/v1/"+lead.str("name")+":qualify", map[string]any{
		"newAccount": map[string]any{"currencyCode": "EUR"},
		"order": map[string]any{"lines": []map[string]any{{"productCode": "OVEN", "quantity": "1",
			"unitPrice": map[string]any{"currencyCode": "EUR", "units": "4200"}, "taxRate": "19"}}},
	}).want(t, 200)
	done := s.waitConversion(t, lead.str("name"), "CONVERSION_STATE_COMPLETE")
	order, _ := conversion(done)["order"].(string)
	o := s.asOps(t, "GET", "/v1/"+order, nil).want(t, 200)
	if o.str("status") != "ORDER_STATUS_DRAFT" || o.str("sourceLead") != lead.str("name") || o.str("account") != conversion(done)["account"] ||
		o.body["total"].(map[string]any)["units"] != "4998" || conversion(done)["orderCompleteTime"] == nil {
		t.Fatalf("order from a lead: %s\n%s", o.raw, done.raw)
	}
}
