package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

const leadPath = "/v1/leads/0199aaaa-0000-7000-8000-000000000000"

func limitedGateway(t *testing.T, rl RateLimitConfig) string {
	t.Helper()
	return gatewayWith(t, Config{MaxBodyBytes: 1024, UpstreamTimeout: 5 * time.Second, RateLimit: rl}, &recordingLeads{}).URL
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends method base+path with the bearer token (none when empty) and
// extra headers as name, value pairs.
func call(t *testing.T, method, url, token string, headers ...string) reply {
	t.Helper()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("first_name,last_name,company\nA,B,C\n")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// wantLimited checks a 429 with Retry-After retry and the gateway's error
// body: RESOURCE_EXHAUSTED, ErrorInfo RATE_LIMITED, RetryInfo.
func wantLimited(t *testing.T, r reply, retry string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	if got := r.header.Get("Retry-After"); got != retry {
		t.Errorf("Retry-After = %q, want %q", got, retry)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var p spb.Status
	if err := protojson.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	st := status.FromProto(&p)
	if st.Code() != codes.ResourceExhausted || p.Code != 8 {
		t.Errorf("code = %v: %s", st.Code(), r.body)
	}
	var reason string
	var delay time.Duration
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.Reason
		case *errdetails.RetryInfo:
			delay = d.RetryDelay.AsDuration()
		}
	}
	if reason != "RATE_LIMITED" || fmt.Sprint(int(delay.Seconds())) != retry {
		t.Errorf("reason %q, retry delay %v: %s", reason, delay, r.body)
	}
}

func TestBurstOverTheLimitGets429ThenRecovers(t *testing.T) {
	// 10/s: a token back every 100ms, so recovery is quick. Tokens also
	// come back while the burst is being sent, so on a slow machine a few
	// more than the burst may pass before the first 429.
	url := limitedGateway(t, RateLimitConfig{RPS: 10, Burst: 3})
	before := testutil.ToFloat64(rateLimitedTotal.WithLabelValues("token"))
	passed := 0
	var r reply
	for r = call(t, "GET", url+leadPath, "alice-token"); r.status == 200 && passed < 50; r = call(t, "GET", url+leadPath, "alice-token") {
		passed++
	}
	if passed < 3 || passed >= 50 {
		t.Fatalf("%d requests passed before %d %s, want the burst of 3 and a 429 soon after", passed, r.status, r.body)
	}
	wantLimited(t, r, "1")
	if got := testutil.ToFloat64(rateLimitedTotal.WithLabelValues("token")) - before; got != 1 {
		t.Errorf("crm_gateway_rate_limited_total{caller=token} went up by %v, want 1", got)
	}
	time.Sleep(150 * time.Millisecond)
	if r := call(t, "GET", url+leadPath, "alice-token"); r.status != 200 {
		t.Fatalf("after waiting: %d %s", r.status, r.body)
	}
}

func TestEachTokenHasItsOwnBucketAndAnonymousCallersAreLimitedByIP(t *testing.T) {
	// 0.5/s: the next token is 2s away.
	url := limitedGateway(t, RateLimitConfig{RPS: 0.5, Burst: 2})
	for _, tok := range []string{"token-a", "token-b", ""} {
		for i := range 2 {
			if r := call(t, "GET", url+leadPath, tok); r.status != 200 {
				t.Fatalf("%q request %d: %d %s", tok, i, r.status, r.body)
			}
		}
		wantLimited(t, call(t, "GET", url+leadPath, tok), "2")
	}
	wantLimited(t, call(t, "GET", url+"/v1/nowhere", "token-a"), "2") // every /v1/ route
	// A scheme other than Bearer is not a credential: the IP's bucket.
	wantLimited(t, call(t, "GET", url+leadPath, "", "Authorization", "Basic YTpi"), "2")
	// X-Forwarded-For from an untrusted peer changes nothing.
	wantLimited(t, call(t, "GET", url+leadPath, "", "X-Forwarded-For", "203.0.113.9"), "2")
}

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	url := limitedGateway(t, RateLimitConfig{RPS: 0.001, Burst: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		if r := call(t, "GET", url+leadPath, "", "X-Forwarded-For", client); r.status != 200 {
			t.Fatalf("first request of %s: %d %s", client, r.status, r.body)
		}
		if r := call(t, "GET", url+leadPath, "", "X-Forwarded-For", "198.51.100.7, "+client); r.status != 429 {
			t.Fatalf("second request of %s (spoofed left part): %d %s", client, r.status, r.body)
		}
	}

	l := newRateLimiter(RateLimitConfig{RPS: 1, TrustedProxies: mustProxies(t, "10.0.0.0/8, 192.168.1.7")})
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.1:5555", []string{"203.0.113.1"}, "192.0.2.1"},                        // untrusted peer
		{"10.1.2.3:5555", []string{"203.0.113.1"}, "203.0.113.1"},                       // trusted peer
		{"10.1.2.3:5555", []string{"1.1.1.1, 203.0.113.1, 192.168.1.7"}, "203.0.113.1"}, // rightmost untrusted
		{"10.1.2.3:5555", []string{"203.0.113.1", "10.9.9.9"}, "203.0.113.1"},           // several headers
		{"10.1.2.3:5555", []string{"1.1.1.1, garbage, 10.0.0.1"}, "10.0.0.1"},           // stop at the unreadable
		{"10.1.2.3:5555", nil, "10.1.2.3"},                                              // no header
		{"192.168.1.8:1", []string{"203.0.113.1"}, "192.168.1.8"},                       // a single address, not its neighbour
		{"[::ffff:10.1.2.3]:1", []string{"203.0.113.1"}, "203.0.113.1"},                 // IPv4-mapped peer
		{"[2001:db8:1:2:3:4:5:6]:1", nil, "2001:db8:1:2::/64"},                          // IPv6 by /64
	} {
		r := httptest.NewRequest("GET", leadPath, nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := l.clientIP(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8,nonsense"); err == nil {
		t.Error("nonsense accepted as a trusted proxy")
	}
}

func mustProxies(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrustedProxies(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbesMetricsAndOpenAPIAreNeverLimited(t *testing.T) {
	url := limitedGateway(t, RateLimitConfig{RPS: 0.001, Burst: 1})
	call(t, "GET", url+leadPath, "")
	wantLimited(t, call(t, "GET", url+leadPath, ""), "1000")
	for range 5 {
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
			if r := call(t, "GET", url+path, ""); r.status != 200 {
				t.Fatalf("GET %s while over the limit: %d %s", path, r.status, r.body)
			}
		}
	}
}

func TestACSVImportCountsAsOneRequest(t *testing.T) {
	url := limitedGateway(t, RateLimitConfig{RPS: 0.001, Burst: 2})
	// The recorder does not implement ImportLeads: whatever the import's
	// answer, it is not 429, and it took one token.
	if r := call(t, "POST", url+"/v1/leads:importCsv", "tok", "Content-Type", "text/csv"); r.status == 429 {
		t.Fatalf("first import limited: %s", r.body)
	}
	if r := call(t, "GET", url+leadPath, "tok"); r.status != 200 {
		t.Fatalf("request after one import: %d %s", r.status, r.body)
	}
	wantLimited(t, call(t, "POST", url+"/v1/leads:importCsv", "tok", "Content-Type", "text/csv"), "1000")
}

func TestDisabledLimiterNeverLimits(t *testing.T) {
	if newRateLimiter(RateLimitConfig{RPS: 0, Burst: 1}) != nil {
		t.Fatal("RPS 0 built a limiter")
	}
	url := limitedGateway(t, RateLimitConfig{RPS: 0, Burst: 1, MaxCallers: 1})
	for i := range 200 {
		if r := call(t, "GET", url+leadPath, "tok"); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
}

// fakeClock drives a limiter's time in the tests below.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func clocked(cfg RateLimitConfig) (*rateLimiter, *fakeClock) {
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newRateLimiter(cfg)
	l.now = clock.now
	return l, clock
}

func keyOf(l *rateLimiter, token string) string {
	r := httptest.NewRequest("GET", leadPath, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	key, _ := l.callerKey(r)
	return key
}

func TestRetryAfterIsTheWaitForTheNextToken(t *testing.T) {
	l, clock := clocked(RateLimitConfig{RPS: 0.25, Burst: 1})
	k := keyOf(l, "secret-token")
	if strings.Contains(k, "secret-token") {
		t.Fatal("the raw token is kept as the key")
	}
	if _, ok := l.allow(k); !ok {
		t.Fatal("first request refused")
	}
	clock.advance(time.Second)
	wait, ok := l.allow(k)
	if ok || wait != 3*time.Second {
		t.Fatalf("second request: ok %v, wait %v; want refused, 3s", ok, wait)
	}
	// Refused requests do not use up tokens: waiting that long is enough,
	// however many times the caller knocked meanwhile.
	for range 10 {
		l.allow(k)
	}
	clock.advance(wait)
	if _, ok := l.allow(k); !ok {
		t.Fatal("refused after waiting Retry-After")
	}
	rec := httptest.NewRecorder()
	writeRateLimited(rec, 1500*time.Millisecond)
	wantLimited(t, reply{rec.Code, rec.Header(), rec.Body.Bytes()}, "2")
	rec = httptest.NewRecorder()
	writeRateLimited(rec, time.Millisecond)
	wantLimited(t, reply{rec.Code, rec.Header(), rec.Body.Bytes()}, "1")
}

func TestCallersStayBounded(t *testing.T) {
	l, clock := clocked(RateLimitConfig{RPS: 10, Burst: 5, MaxCallers: 50, IdleTTL: time.Minute})
	for i := range 5000 {
		if _, ok := l.allow(keyOf(l, fmt.Sprint("token-", i))); !ok {
			t.Fatalf("a new caller %d refused", i)
		}
		if n := l.size(); n > 50 || n != len(l.callers) || n != l.lru.Len() {
			t.Fatalf("after %d callers: %d tracked (map %d, list %d)", i+1, n, len(l.callers), l.lru.Len())
		}
	}
	// A recently seen caller survives the churn of others; its bucket too.
	busy := keyOf(l, "busy")
	for range 5 {
		l.allow(busy)
	}
	for i := range 40 {
		l.allow(keyOf(l, fmt.Sprint("other-", i)))
		l.allow(busy)
	}
	if _, ok := l.allow(busy); ok {
		t.Fatal("busy caller's bucket was reset")
	}
	// Idle callers are forgotten.
	clock.advance(2 * time.Minute)
	l.allow(keyOf(l, "newcomer"))
	if n := l.size(); n != 1 {
		t.Fatalf("%d callers tracked after every other one went idle, want 1", n)
	}
}

func TestIdleCallersAreKeptUntilTheirBucketIsFull(t *testing.T) {
	// 100 tokens at 0.1/s take 1000s to refill: forgetting the caller after
	// a minute would hand it a fresh burst.
	l, clock := clocked(RateLimitConfig{RPS: 0.1, Burst: 100, IdleTTL: time.Minute})
	k := keyOf(l, "slow")
	for range 100 {
		l.allow(k)
	}
	clock.advance(2 * time.Minute)
	l.allow(keyOf(l, "other"))
	for range 12 { // 12 tokens came back in 120s
		if _, ok := l.allow(k); !ok {
			t.Fatal("refilled token refused")
		}
	}
	if _, ok := l.allow(k); ok {
		t.Fatal("idle caller got a fresh bucket")
	}
}

// A client inventing a token for every request (the gateway does not
// verify them) gets a fresh caller bucket each time, but still shares its
// address's bucket; other addresses are not affected, and it recovers.
func TestInventedTokensStillShareTheirAddressBucket(t *testing.T) {
	gw := gatewayWith(t, Config{
		MaxBodyBytes: 1024, UpstreamTimeout: 5 * time.Second,
		RateLimit:        RateLimitConfig{RPS: 10, Burst: 3},
		AddressRateLimit: RateLimitConfig{RPS: 10, Burst: 5, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	}, &recordingLeads{})
	before := testutil.ToFloat64(rateLimitedTotal.WithLabelValues("address"))
	const client = "203.0.113.9"
	passed := 0
	var r reply
	for i := 0; i < 50; i++ {
		r = call(t, "GET", gw.URL+leadPath, fmt.Sprintf("made-up-%d", i), "X-Forwarded-For", client)
		if r.status != 200 {
			break
		}
		passed++
	}
	if passed < 5 || passed >= 50 {
		t.Fatalf("%d requests with fresh tokens passed before %d %s, want the address burst of 5 and a 429 soon after", passed, r.status, r.body)
	}
	wantLimited(t, r, "1")
	if got := testutil.ToFloat64(rateLimitedTotal.WithLabelValues("address")) - before; got != 1 {
		t.Errorf("crm_gateway_rate_limited_total{caller=address} went up by %v, want 1", got)
	}
	if r := call(t, "GET", gw.URL+leadPath, "someone-else", "X-Forwarded-For", "198.51.100.4"); r.status != 200 {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	time.Sleep(150 * time.Millisecond)
	if r := call(t, "GET", gw.URL+leadPath, "made-up-again", "X-Forwarded-For", client); r.status != 200 {
		t.Fatalf("after waiting: %d %s", r.status, r.body)
	}
}
