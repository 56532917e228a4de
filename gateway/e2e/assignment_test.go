package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
)

// The story over REST: an admin keeps the directory and a rule
// that routes web-form leads by territory; a visitor's lead from Munich
// goes to the rep whose territory covers its postal code most
// specifically (DE:80 rather than DE; AT not at all), and the lead says
// why at /v1/leads/{id}/assignment. A rule with no candidates is a 400
// naming the field.
func TestWebFormLeadsAreAssignedByTerritoryOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	for id, user := range map[string]map[string]any{
		"ana": {"displayName": "Ana", "active": true, "teams": []string{"dach"}, "territories": []string{"DE:80"}},
		"ben": {"displayName": "Ben", "active": true, "teams": []string{"dach"}, "territories": []string{"DE"}},
		"cy":  {"displayName": "Cy", "active": true, "teams": []string{"dach"}, "territories": []string{"AT"}, "timeZone": "Europe/Vienna"},
	} {
		s.do(t, "POST", "/v1/users?userId="+id, user).want(t, 200)
	}
	sam := testkit.Bearer("sam", "sales")
	s.do(t, "POST", "/v1/users?userId=sam", map[string]any{"displayName": "Sam"}, "Authorization", sam).want(t, 403)
	if got := s.do(t, "GET", "/v1/users/me", nil, "Authorization", testkit.Bearer("ana", "sales")).want(t, 200); got.str("name") != "users/ana" {
		t.Fatalf("users/me: %s", got.raw)
	}

	bad := s.do(t, "POST", "/v1/assignmentRules", map[string]any{"displayName": "Nobody", "recordType": "ASSIGNMENT_RECORD_TYPE_LEAD",
		"strategy": "ASSIGNMENT_STRATEGY_ROUND_ROBIN", "enabled": true}).want(t, 400)
	if _, fields := bad.violations(); len(fields) != 1 || fields[0] != "assignment_rule.candidates" {
		t.Fatalf("a rule with no candidates: %s", bad.raw)
	}
	rule := s.do(t, "POST", "/v1/assignmentRules", map[string]any{"displayName": "Web leads by territory", "recordType": "ASSIGNMENT_RECORD_TYPE_LEAD",
		"condition": "record.source == Source.SOURCE_WEB_FORM", "strategy": "ASSIGNMENT_STRATEGY_BY_FIELD",
		"byField": map[string]any{"field": "ASSIGNMENT_FIELD_TERRITORY"}, "candidates": map[string]any{"teams": []string{"dach"}},
		"anyTime": true, "enabled": true}).want(t, 200)
	// The lead service learns the users before it is asked to assign.
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.directory_users WHERE active`) == "3"
	}, "the lead service knowing the directory")

	created := s.do(t, "POST", "/v1/webForms", map[string]any{"displayName": "Contact us", "defaultOwner": "root"},
		"Authorization", testkit.Bearer("root")).want(t, 200)
	form, _ := created.body["webForm"].(map[string]any)
	formName, _ := form["name"].(string)
	s.do(t, "POST", "/v1/"+formName+":submit", map[string]any{"key": created.str("key"), "lastName": "Huber", "company": "Brauerei",
		"address": map[string]any{"postalCode": "80331", "regionCode": "DE", "locality": "München"}}, "Authorization", "").want(t, 200)
	lead := s.query(t, `SELECT 'leads/' || id::text FROM lead.leads WHERE last_name = 'Huber'`)

	var a response
	testkit.Eventually(t, 30*time.Second, func() bool {
		a = s.do(t, "GET", "/v1/"+lead+"/assignment", nil)
		return a.status == 200 && a.str("state") == "ASSIGNMENT_STATE_APPLIED"
	}, "the lead assigned")
	if a.str("owner") != "ana" || a.str("previousOwner") != "root" || a.str("rule") != rule.str("name") || a.str("routedBy") != "DE:80331" ||
		!strings.Contains(a.str("reason"), "ana") {
		t.Fatalf("assignment: %s", a.raw)
	}
	skips := map[string]string{}
	cands, _ := a.body["candidates"].([]any)
	for _, c := range cands {
		m, _ := c.(map[string]any)
		user, _ := m["user"].(string)
		skip, _ := m["skipReason"].(string)
		skips[user] = skip
	}
	if skips["ben"] != "SKIP_REASON_NOT_IN_TERRITORY" || skips["cy"] != "SKIP_REASON_NOT_IN_TERRITORY" || skips["ana"] != "" {
		t.Fatalf("candidates: %v", skips)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.do(t, "GET", "/v1/"+lead, nil).want(t, 200).str("owner") == "ana"
	}, "the lead owned by ana")
	// Sam owns nothing here: the assignment is hidden like the lead.
	s.do(t, "GET", "/v1/"+lead+"/assignment", nil, "Authorization", sam).want(t, 403)
	s.do(t, "GET", "/v1/"+lead+"/assignment", nil, "Authorization", testkit.Bearer("ana", "sales")).want(t, 200)
}
