package e2e

import (
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
)

// Over REST, a call without a valid bearer token is 401 and changes
// nothing; health stays open; a good token works, and its subject is the
// actor recorded.
func TestRESTRefusesCallsWithoutAValidToken(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	bad := map[string]string{
		"no token":         "",
		"not bearer":       "Basic YWxpY2U6c2VjcmV0",
		"expired":          "Bearer " + testkit.MintWith(t, testkit.AuthSecret, "crm", "crm", "alice", -time.Hour),
		"another key":      "Bearer " + testkit.MintWith(t, "another-secret-0123456789abcdef-xyz", "crm", "crm", "alice", time.Hour),
		"alg none":         "Bearer " + testkit.UnsignedToken("alice"),
		"another audience": "Bearer " + testkit.MintWith(t, testkit.AuthSecret, "crm", "billing", "alice", time.Hour),
	}
	for name, authz := range bad {
		r := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Intruder", "company": "X"}, "Authorization", authz)
		if r.status != 401 {
			t.Fatalf("%s: status %d, want 401: %s", name, r.status, r.raw)
		}
		// Not even an x-actor header gets a caller in.
		s.do(t, "GET", "/v1/leads", nil, "Authorization", authz, "X-Actor", "alice").want(t, 401)
	}
	s.do(t, "GET", "/readyz", nil, "Authorization", "").want(t, 200)
	if leads, _ := s.do(t, "GET", "/v1/leads", nil).want(t, 200).body["leads"].([]any); len(leads) != 0 {
		t.Fatalf("a refused call created a lead: %v", leads)
	}
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Lovelace", "company": "Engines"},
		"Authorization", testkit.Bearer("carol", "sales")).want(t, 200)
	if lead.str("createdBy") != "carol" {
		t.Fatalf("created by %q, want carol (the token's subject): %s", lead.str("createdBy"), lead.raw)
	}
}
