package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestRESTWalkthroughOfALead(t *testing.T) {
	t.Parallel()
	s := startStack(t)

	created := s.do(t, "POST", "/v1/leads", map[string]any{
		"firstName": "Grace", "lastName": "Hopper", "company": "Navy", "email": "grace@navy.example",
		"rating": "RATING_COLD", "source": "SOURCE_REFERRAL", "customFields": map[string]string{"tier": "gold"},
	}).want(t, 200)
	name, etag := created.str("name"), created.str("etag")
	if !strings.HasPrefix(name, "leads/") || created.str("status") != "STATUS_NEW" || created.str("owner") != "alice" {
		t.Fatalf("created = %s", created.raw)
	}
	s.do(t, "GET", "/v1/"+name, nil).want(t, 200)

	// The same person again: refused, naming the lead it duplicates, unless
	// allowDuplicate; then both show up as a duplicate group.
	dup := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "H.", "email": "GRACE@navy.example"}).want(t, 400)
	if reason, _ := dup.violations(); reason != "DUPLICATE_LEAD" || !strings.Contains(string(dup.raw), name) {
		t.Fatalf("duplicate create = %s", dup.raw)
	}
	s.do(t, "POST", "/v1/leads?allowDuplicate=true", map[string]any{"lastName": "H.", "email": "GRACE@navy.example"}).want(t, 200)
	groups := s.do(t, "GET", "/v1/leads:listDuplicateGroups", nil).want(t, 200)
	if !strings.Contains(string(groups.raw), `"key":"grace@navy.example"`) || !strings.Contains(string(groups.raw), name) {
		t.Fatalf("duplicate groups = %s", groups.raw)
	}

	// PATCH infers the mask from the body; the etag makes it conditional.
	patched := s.do(t, "PATCH", "/v1/"+name, map[string]any{"etag": etag, "rating": "RATING_HOT", "address": map[string]any{"locality": "Arlington"}}).want(t, 200)
	if patched.str("rating") != "RATING_HOT" || patched.str("email") != "grace@navy.example" {
		t.Fatalf("patched = %s", patched.raw)
	}
	stale := s.do(t, "PATCH", "/v1/"+name, map[string]any{"etag": etag, "title": "Rear Admiral"}).want(t, 409)
	if reason, _ := stale.violations(); reason != "ETAG_MISMATCH" {
		t.Fatalf("stale etag reply = %s", stale.raw)
	}

	s.do(t, "POST", "/v1/"+name+":assign", map[string]any{"owner": "bob"}).want(t, 200)

	noReason := s.do(t, "POST", "/v1/"+name+":disqualify", map[string]any{}).want(t, 400)
	if _, fields := noReason.violations(); !slices.Contains(fields, "reason") {
		t.Fatalf("disqualify without reason = %s", noReason.raw)
	}
	s.do(t, "POST", "/v1/"+name+":disqualify", map[string]any{"reason": "DISQUALIFICATION_REASON_NO_INTEREST"}).want(t, 200)
	notDisq := s.do(t, "POST", "/v1/"+name+":reactivate", map[string]any{}).want(t, 200)
	if notDisq.str("status") != "STATUS_NEW" {
		t.Fatalf("reactivated = %s", notDisq.raw)
	}
	again := s.do(t, "POST", "/v1/"+name+":reactivate", map[string]any{}).want(t, 400)
	if reason, _ := again.violations(); reason != "LEAD_NOT_DISQUALIFIED" {
		t.Fatalf("reactivate twice = %s", again.raw)
	}

	q := url.Values{"filter": {`rating = RATING_HOT AND text:"hopp"`}, "pageSize": {"10"}}
	list := s.do(t, "GET", "/v1/leads?"+q.Encode(), nil).want(t, 200)
	if leads, _ := list.body["leads"].([]any); len(leads) != 1 {
		t.Fatalf("filtered list = %s", list.raw)
	}
	stats := s.do(t, "GET", "/v1/leads:statistics", nil).want(t, 200)
	if stats.str("total") != "2" { // int64 travels as a JSON string
		t.Fatalf("statistics = %s", stats.raw)
	}
	s.do(t, "DELETE", "/v1/"+name, nil).want(t, 200)
	gone := s.do(t, "GET", "/v1/"+name, nil).want(t, 404)
	if reason, _ := gone.violations(); reason != "LEAD_NOT_FOUND" {
		t.Fatalf("get deleted = %s", gone.raw)
	}

	// The audit trail outlives the lead: newest first, the deletion with
	// the last values; only managers and admins read a deleted lead's trail
	// and every lead's; a bad filter is a 400.
	trail := s.do(t, "GET", "/v1/"+name+"/auditEntries?"+url.Values{"filter": {`actor = "alice"`}}.Encode(), nil).want(t, 200)
	entries, _ := trail.body["auditEntries"].([]any)
	if len(entries) < 5 {
		t.Fatalf("audit trail = %s", trail.raw)
	}
	last, _ := entries[0].(map[string]any)
	var rated bool
	for _, e := range entries {
		changes, _ := e.(map[string]any)["changes"].([]any)
		for _, c := range changes {
			c := c.(map[string]any)
			rated = rated || c["field"] == "rating" && c["oldValue"] == "RATING_COLD" && c["newValue"] == "RATING_HOT"
		}
	}
	if last["action"] != "ACTION_DELETE" || last["method"] != "/crm.lead.v1.LeadService/DeleteLead" || !rated {
		t.Fatalf("audit trail = %s", trail.raw)
	}
	all := s.do(t, "GET", "/v1/leads/-/auditEntries?pageSize=1", nil).want(t, 200)
	if all.str("nextPageToken") == "" {
		t.Fatalf("all leads' trail = %s", all.raw)
	}
	bob := testkit.Bearer("bob", "sales")
	s.do(t, "GET", "/v1/leads/-/auditEntries", nil, "Authorization", bob).want(t, 403)
	s.do(t, "GET", "/v1/"+name+"/auditEntries", nil, "Authorization", bob).want(t, 403) // as GetLead says
	s.do(t, "GET", "/v1/"+name+"/auditEntries?filter=when%3D1", nil).want(t, 400)
}

func TestRESTBadInputIsAClear4xx(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", "POST", "/v1/leads", `{"firstName": `, 400, "body"},
		{"not JSON at all", "POST", "/v1/leads", `firstName=x`, 400, "body"},
		{"unknown field", "POST", "/v1/leads", `{"firstName":"x","shoeSize":42}`, 400, "body"},
		{"wrong type", "POST", "/v1/leads", `{"firstName": 7}`, 400, "body"},
		{"unknown enum", "POST", "/v1/leads", `{"company":"x","rating":"RATING_LUKEWARM"}`, 400, "body"},
		{"missing name and company", "POST", "/v1/leads", `{"email":"a@b.co"}`, 400, "lead.last_name"},
		{"bad email", "POST", "/v1/leads", `{"company":"x","email":"nope"}`, 400, "lead.email"},
		{"page size not a number", "GET", "/v1/leads?pageSize=lots", nil, 400, "page_size"},
		{"negative page size", "GET", "/v1/leads?pageSize=-5", nil, 400, "page_size"},
		{"malformed filter", "GET", "/v1/leads?filter=" + url.QueryEscape("status = ("), nil, 400, "filter"},
		{"tampered page token", "GET", "/v1/leads?pageToken=AAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, 400, "page_token"},
		{"bad lead name", "GET", "/v1/leads/not-a-uuid", nil, 400, "name"},
	}
	for _, c := range cases {
		r := s.do(t, c.method, c.path, c.body)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.raw)
			continue
		}
		if _, fields := r.violations(); !slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, c.field) }) {
			t.Errorf("%s: violations %v, want one on %s: %s", c.name, fields, c.field, r.raw)
		}
	}

	// Oversized bodies: announced by Content-Length, and streamed (chunked).
	big := `{"company":"x","description":"` + strings.Repeat("a", 70000) + `"}`
	r := s.do(t, "POST", "/v1/leads", big)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.str("message"), "large") {
		t.Fatalf("oversized body: %d %s", r.status, r.raw)
	}
	req, _ := http.NewRequest("POST", s.base+"/v1/leads", strings.NewReader(big))
	req.ContentLength = -1 // chunked
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: %d", resp.StatusCode)
	}

	// None of it wrote anything.
	list := s.do(t, "GET", "/v1/leads", nil).want(t, 200)
	if leads, _ := list.body["leads"].([]any); len(leads) != 0 {
		t.Fatalf("bad requests created leads: %s", list.raw)
	}
}

func TestGatewayHealthReadinessOpenAPIAndUpstreamOutage(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.do(t, "GET", "/healthz", nil).want(t, 200)
	s.do(t, "GET", "/readyz", nil).want(t, 200)
	doc := s.do(t, "GET", "/openapi.json", nil).want(t, 200)
	var spec struct {
		Info struct {
			Title string `json:"title"`
		} `json:"info"`
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(doc.raw, &spec); err != nil || spec.Paths["/v1/leads"] == nil || spec.Info.Title != "CRM suite API" {
		t.Fatalf("openapi.json: %v %s", err, doc.raw[:min(200, len(doc.raw))])
	}
	created := s.do(t, "POST", "/v1/leads", map[string]any{"company": "Durable Inc"}).want(t, 200)

	s.lead.Kill()
	notReady := s.do(t, "GET", "/readyz", nil).want(t, 503)
	if notReady.str("lead") == "SERVING" {
		t.Fatalf("readyz with lead down = %s", notReady.raw)
	}
	down := s.do(t, "POST", "/v1/leads", map[string]any{"company": "Lost?"})
	if down.status != http.StatusServiceUnavailable {
		t.Fatalf("call with lead down: %d %s (want 503, never 500)", down.status, down.raw)
	}

	s.lead.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for s.do(t, "GET", "/readyz", nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("gateway not ready after lead restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := s.do(t, "GET", "/v1/"+created.str("name"), nil).want(t, 200)
	if got.str("company") != "Durable Inc" {
		t.Fatalf("after restart = %s", got.raw)
	}
	// And the gRPC side answers the same.
	l, err := s.grpc.GetLead(testkit.WithToken(t.Context(), testkit.Token("alice")), &leadv1.GetLeadRequest{Name: created.str("name")})
	if err != nil || l.Company != "Durable Inc" {
		t.Fatalf("grpc get = %v, %v", l, err)
	}
}
