package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmsuite/crm/platform/testkit"
)

// A website's plain HTML form creates WEB_FORM leads through the gateway
// without a token; JSON posts from a page's script work too; an admin
// creates and revokes the key over REST, a revoked key is refused, and
// the gateway limits posts per form and address.
func TestWebFormCaptureOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	created := s.do(t, "POST", "/v1/webForms", map[string]any{
		"displayName": "Contact us", "campaign": "spring", "defaultOwner": "sue",
		"allowedOrigins": []string{"https://www.example.com"}, "redirectUri": "https://www.example.com/thanks",
	}, "Authorization", testkit.Bearer("root")).want(t, 200)
	form, _ := created.body["webForm"].(map[string]any)
	name, _ := form["name"].(string)
	key := created.str("key")
	if name == "" || key == "" {
		t.Fatalf("create: %s", created.raw)
	}
	// Salespeople cannot manage keys.
	s.do(t, "GET", "/v1/webForms", nil, "Authorization", testkit.Bearer("sam", "sales")).want(t, 403)

	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	htmlPost := func(values url.Values) *http.Response {
		t.Helper()
		req, err := http.NewRequest("POST", s.base+"/v1/"+name+":submit", strings.NewReader(values.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://www.example.com")
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := htmlPost(url.Values{"key": {key}, "first_name": {"Ada"}, "last_name": {"Lovelace"}, "email": {"ada@example.com"},
		"message": {"Call me"}, "source": {"SOURCE_REFERRAL"}, "homepage": {""}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://www.example.com/thanks" {
		t.Fatalf("HTML form post: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	s.do(t, "POST", "/v1/"+name+":submit", map[string]any{"key": key, "company": "Acme"},
		"Authorization", "", "Origin", "https://www.example.com").want(t, 200)
	r := s.do(t, "POST", "/v1/"+name+":submit", map[string]any{"key": key, "company": "Acme"},
		"Authorization", "", "Origin", "https://evil.example").want(t, 403)
	if reason, _ := r.violations(); reason != "ORIGIN_NOT_ALLOWED" {
		t.Fatalf("other origin: %s", r.raw)
	}

	leads, _ := s.do(t, "GET", "/v1/leads", nil).want(t, 200).body["leads"].([]any)
	if len(leads) != 2 {
		t.Fatalf("%d leads, want 2", len(leads))
	}
	for _, l := range leads {
		lead := l.(map[string]any)
		if lead["source"] != "SOURCE_WEB_FORM" || lead["campaign"] != "spring" || lead["owner"] != "sue" {
			t.Fatalf("lead from the form: %v", lead)
		}
	}

	s.do(t, "POST", "/v1/"+name+":revoke", map[string]any{}, "Authorization", testkit.Bearer("root")).want(t, 200)
	r = s.do(t, "POST", "/v1/"+name+":submit", map[string]any{"key": key, "company": "Acme"}, "Authorization", "").want(t, 401)
	if reason, _ := r.violations(); reason != "INVALID_FORM_KEY" {
		t.Fatalf("revoked key: %s", r.raw)
	}
	if resp := htmlPost(url.Values{"key": {key}, "company": {"Acme"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("HTML form post with a revoked key: %d", resp.StatusCode)
	}
	// That was the fifth post of this form from this address: the
	// gateway's default web-form limit (WEBFORM_RATE_LIMIT_BURST=5, then 6
	// a minute) refuses the sixth, whatever its key.
	resp = htmlPost(url.Values{"key": {key}, "company": {"Acme"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth post: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
