package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
)

const formID = "0199aaaa-0000-7000-8000-00000000f001"

// fakeForms takes submissions with key "good" and remembers what it got.
type fakeForms struct {
	leadv1.UnimplementedWebFormServiceServer
	redirect string

	mu      sync.Mutex
	got     []*leadv1.SubmitWebFormRequest
	md      metadata.MD
	revoked []string
}

func (f *fakeForms) SubmitWebForm(ctx context.Context, req *leadv1.SubmitWebFormRequest) (*leadv1.SubmitWebFormResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.md, _ = metadata.FromIncomingContext(ctx)
	if req.Key != "good" {
		return nil, status.Error(codes.Unauthenticated, "the web form key is not valid")
	}
	f.got = append(f.got, req)
	return &leadv1.SubmitWebFormResponse{RedirectUri: f.redirect}, nil
}

func (f *fakeForms) RevokeWebForm(_ context.Context, req *leadv1.RevokeWebFormRequest) (*leadv1.WebForm, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, req.Name)
	return &leadv1.WebForm{Name: req.Name}, nil
}

func (f *fakeForms) submissions() []*leadv1.SubmitWebFormRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

func formsGateway(t *testing.T, cfg Config, forms *fakeForms) string {
	t.Helper()
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = 5 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	return gatewayWith(t, cfg, &recordingLeads{}, func(s *grpc.Server) { leadv1.RegisterWebFormServiceServer(s, forms) }).URL
}

// post sends body with contentType and headers (name, value pairs),
// without following redirects.
func post(t *testing.T, url, contentType, body string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func TestWebFormTakesJSONAndPlainHTMLFormPosts(t *testing.T) {
	forms := &fakeForms{redirect: "https://www.example.com/thanks"}
	base := formsGateway(t, Config{}, forms)
	submit := base + "/v1/webForms/" + formID + ":submit"

	r := post(t, submit, "application/json", `{"key": "good", "firstName": "Ada", "message": "hi"}`, "Origin", "https://www.example.com")
	var body map[string]string
	if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil || body["redirectUri"] != forms.redirect {
		t.Fatalf("JSON post: %d %s", r.status, r.body)
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "https://www.example.com" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if got := forms.md.Get("origin"); len(got) != 1 || got[0] != "https://www.example.com" {
		t.Errorf("origin forwarded as %v", got)
	}

	form := url.Values{
		"key": {"good"}, "firstName": {"Ada"}, "last_name": {"Lovelace"}, "address.locality": {"London"},
		"custom_fields[product]": {"engine"}, "homepage": {""}, "name": {"webForms/someone-elses"}, "submit": {"Send"},
	}
	r = post(t, submit, "application/x-www-form-urlencoded; charset=UTF-8", form.Encode(), "Origin", "https://www.example.com")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != forms.redirect {
		t.Fatalf("HTML form post: %d, Location %q: %s", r.status, r.header.Get("Location"), r.body)
	}
	got := forms.submissions()
	want := &leadv1.SubmitWebFormRequest{
		Name: "webForms/" + formID, Key: "good", FirstName: "Ada", LastName: "Lovelace",
		Address: &leadv1.PostalAddress{Locality: "London"}, CustomFields: map[string]string{"product": "engine"},
	}
	if len(got) != 2 || !proto.Equal(got[1], want) {
		t.Fatalf("HTML form post reached the service as %v, want %v", got[len(got)-1], want)
	}
	if o := forms.md.Get("origin"); len(o) != 1 || o[0] != "https://www.example.com" {
		t.Errorf("origin forwarded as %v", o)
	}

	// Without a redirect_uri a browser gets a thank-you page; a bad key
	// gets the API's JSON error.
	forms.redirect = ""
	r = post(t, submit, "application/x-www-form-urlencoded", "key=good&company=Acme")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("HTML form post without redirect: %d %s", r.status, r.body)
	}
	r = post(t, submit, "application/x-www-form-urlencoded", "key=bad&company=Acme")
	if r.status != http.StatusUnauthorized || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("bad key: %d %s", r.status, r.body)
	}
	// A field that cannot be read is a 400 naming it.
	r = post(t, submit, "application/x-www-form-urlencoded", "key=good&address=Paris")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "MALFORMED_REQUEST") {
		t.Fatalf("unreadable field: %d %s", r.status, r.body)
	}
}

func TestWebFormPreflightAllowsCrossOriginPosts(t *testing.T) {
	base := formsGateway(t, Config{}, &fakeForms{})
	req, _ := http.NewRequest("OPTIONS", base+"/v1/webForms/"+formID+":submit", nil)
	req.Header.Set("Origin", "https://www.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://www.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") || resp.Header.Get("Access-Control-Allow-Methods") != "POST" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// Submissions are limited per form and client address, more tightly than
// the API; admins' calls on a form are the API's as before.
func TestWebFormSubmissionsAreRateLimitedPerFormAndClient(t *testing.T) {
	forms := &fakeForms{}
	base := formsGateway(t, Config{
		RateLimit: RateLimitConfig{RPS: 1000, Burst: 1000, TrustedProxies: mustProxies(t, "127.0.0.1")},
		WebForm:   WebFormConfig{RateLimit: RateLimitConfig{RPS: 0.001, Burst: 2}},
	}, forms)
	submit := func(form string, headers ...string) reply {
		return post(t, base+"/v1/webForms/"+form+":submit", "application/json", `{"key": "good", "company": "Acme"}`, headers...)
	}
	for i := range 2 {
		if r := submit(formID); r.status != http.StatusOK {
			t.Fatalf("submission %d: %d %s", i, r.status, r.body)
		}
	}
	wantLimited(t, submit(formID), "1000")
	if n := len(forms.submissions()); n != 2 {
		t.Fatalf("%d submissions reached the service, want 2", n)
	}
	// Another form, or another client behind the trusted proxy, has its
	// own bucket.
	if r := submit("0199aaaa-0000-7000-8000-00000000f002"); r.status != http.StatusOK {
		t.Fatalf("other form: %d %s", r.status, r.body)
	}
	if r := submit(formID, "X-Forwarded-For", "203.0.113.9"); r.status != http.StatusOK {
		t.Fatalf("other client: %d %s", r.status, r.body)
	}
	// A script changing Content-Type does not get around it.
	r := post(t, base+"/v1/webForms/"+formID+":submit", "application/x-www-form-urlencoded", "key=good&company=Acme")
	wantLimited(t, r, "1000")
	// Revoking goes to the API, not through the form's bucket.
	r = post(t, base+"/v1/webForms/"+formID+":revoke", "application/json", `{}`, "Authorization", "Bearer admin-token")
	if r.status != http.StatusOK || len(forms.revoked) != 1 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
}

func TestWebFormBodiesAreSmall(t *testing.T) {
	forms := &fakeForms{}
	base := formsGateway(t, Config{WebForm: WebFormConfig{MaxBodyBytes: 256}}, forms)
	submit := base + "/v1/webForms/" + formID + ":submit"
	long := strings.Repeat("x", 300)
	for ct, body := range map[string]string{
		"application/json":                  `{"key": "good", "company": "Acme", "message": "` + long + `"}`,
		"application/x-www-form-urlencoded": "key=good&company=Acme&message=" + long,
	} {
		if r := post(t, submit, ct, body); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s body of %d bytes: %d %s", ct, len(body), r.status, r.body)
		}
	}
	if n := len(forms.submissions()); n != 0 {
		t.Fatalf("%d oversized submissions reached the service", n)
	}
}

// Entries spread over many client addresses (each within its own bucket)
// still meet the form's own limit; other forms are not affected.
func TestWebFormSubmissionsFromManyAddressesMeetTheFormsLimit(t *testing.T) {
	forms := &fakeForms{}
	base := formsGateway(t, Config{
		RateLimit: RateLimitConfig{RPS: 1000, Burst: 1000, TrustedProxies: mustProxies(t, "127.0.0.1")},
		WebForm: WebFormConfig{
			RateLimit:     RateLimitConfig{RPS: 0.001, Burst: 2},
			FormRateLimit: RateLimitConfig{RPS: 0.001, Burst: 3},
		},
	}, forms)
	submit := func(form, client string) reply {
		return post(t, base+"/v1/webForms/"+form+":submit", "application/json", `{"key": "good", "company": "Acme"}`, "X-Forwarded-For", client)
	}
	for i := range 3 {
		if r := submit(formID, fmt.Sprintf("203.0.113.%d", i+1)); r.status != http.StatusOK {
			t.Fatalf("submission %d: %d %s", i, r.status, r.body)
		}
	}
	wantLimited(t, submit(formID, "203.0.113.99"), "1000")
	if n := len(forms.submissions()); n != 3 {
		t.Fatalf("%d submissions reached the service, want 3", n)
	}
	if r := submit("0199aaaa-0000-7000-8000-00000000f002", "203.0.113.99"); r.status != http.StatusOK {
		t.Fatalf("other form: %d %s", r.status, r.body)
	}
}
