package server

import (
	"container/list"
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/crmsuite/crm/platform/grpcx"
)

// RateLimitConfig limits each caller of the API (/v1/...) with a token
// bucket: RPS tokens a second, at most Burst at once. Health, readiness,
// metrics and the OpenAPI document are never limited.
//
// The caller is the bearer token when the request has one
// ("Authorization: Bearer ..."), keyed on its SHA-256 so raw tokens are
// never kept, otherwise the client IP (IPv6 by /64, as one host usually
// has the whole /64). The token, not its "sub" claim: the gateway does not
// verify tokens (the services do), so keying on an unverified claim would
// let anyone forge someone else's sub and drain their bucket, whereas a
// token's own bucket can only be drained by whoever holds the token. A
// client inventing tokens gets a bucket per token, so the gateway limits
// each client address as a whole too (Config.AddressRateLimit).
type RateLimitConfig struct {
	// RPS is each caller's sustained rate in requests a second
	// (RATE_LIMIT_RPS, default 50); 0 disables rate limiting.
	RPS float64
	// Burst is how many requests a caller may make at once
	// (RATE_LIMIT_BURST, default 100); when 0, max(1, ceil(RPS)).
	Burst int
	// MaxCallers bounds how many callers are tracked (RATE_LIMIT_CALLERS,
	// default 100000): past it the least recently seen caller is forgotten
	// (its bucket starts full again), so cycling identities cannot exhaust
	// memory.
	MaxCallers int
	// IdleTTL forgets callers unseen for that long (default 5m, and never
	// less than the time a bucket takes to refill, so forgetting an idle
	// caller gives it nothing it would not have had anyway).
	IdleTTL time.Duration
	// TrustedProxies (TRUSTED_PROXIES, comma-separated CIDRs or addresses)
	// are peers whose X-Forwarded-For is believed: the client is then the
	// rightmost address in it that is not itself a trusted proxy. From any
	// other peer X-Forwarded-For is ignored, as anyone can send it.
	TrustedProxies []netip.Prefix
}

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses ("10.0.0.0/8, 192.168.1.7").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

var rateLimitedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "crm_gateway_rate_limited_total",
	Help: "API requests refused with 429 because their caller was over its rate limit, by kind of caller (token, ip, address: all requests from one client address, webform: a form and client address, or webform_all: a form from every address).",
}, []string{"caller"})

// rateLimiter holds one token bucket per caller in an LRU of bounded size.
type rateLimiter struct {
	limit   rate.Limit
	burst   int
	max     int
	idle    time.Duration
	proxies []netip.Prefix
	now     func() time.Time

	mu      sync.Mutex
	callers map[string]*list.Element // of *callerBucket
	lru     list.List                // front: most recently seen
}

type callerBucket struct {
	key      string
	lim      *rate.Limiter
	lastSeen time.Time
}

// newRateLimiter returns nil when cfg disables rate limiting.
func newRateLimiter(cfg RateLimitConfig) *rateLimiter {
	if cfg.RPS <= 0 || math.IsNaN(cfg.RPS) {
		return nil
	}
	burst := cfg.Burst
	if burst <= 0 {
		burst = max(1, int(math.Min(math.Ceil(cfg.RPS), math.MaxInt32)))
	}
	maxCallers := cfg.MaxCallers
	if maxCallers <= 0 {
		maxCallers = 100000
	}
	idle := cfg.IdleTTL
	if idle <= 0 {
		idle = 5 * time.Minute
	}
	if refill := float64(burst) / cfg.RPS * float64(time.Second); refill > float64(idle) {
		idle = time.Duration(math.Min(refill, float64(math.MaxInt64)))
	}
	return &rateLimiter{
		limit: rate.Limit(cfg.RPS), burst: burst, max: maxCallers, idle: idle,
		proxies: cfg.TrustedProxies, now: time.Now,
		callers: map[string]*list.Element{},
	}
}

// wrap limits next by caller (callerKey); a nil limiter does not.
func (l *rateLimiter) wrap(next http.Handler) http.Handler {
	return l.limitBy(l.callerKey, next)
}

// wrapAddresses limits next by client address alone, whatever token a
// request carries: the gateway does not verify tokens, so a client making
// up a new one for each request gets a fresh caller bucket each time, but
// not a fresh address. A nil limiter does not limit.
func (l *rateLimiter) wrapAddresses(next http.Handler) http.Handler {
	return l.limitBy(func(r *http.Request) (string, string) { return "a:" + l.clientIP(r), "address" }, next)
}

func (l *rateLimiter) limitBy(keyOf func(r *http.Request) (key, kind string), next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, kind := keyOf(r)
		if wait, ok := l.allow(key); !ok {
			rateLimitedTotal.WithLabelValues(kind).Inc()
			writeRateLimited(w, wait)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allow takes a token from key's bucket, or says how long until one is
// there.
func (l *rateLimiter) allow(key string) (time.Duration, bool) {
	now := l.now()
	lim := l.bucket(key, now)
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		// Refused: give the token back, so a caller hammering while over
		// the limit recovers as soon as one who stopped would.
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// bucket returns key's limiter, creating it, and forgets callers idle for
// too long or, past the cap, the least recently seen.
func (l *rateLimiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		cb := e.Value.(*callerBucket)
		if now.Sub(cb.lastSeen) < l.idle {
			break
		}
		l.lru.Remove(e)
		delete(l.callers, cb.key)
	}
	if e, ok := l.callers[key]; ok {
		cb := e.Value.(*callerBucket)
		if now.After(cb.lastSeen) {
			cb.lastSeen = now
		}
		l.lru.MoveToFront(e)
		return cb.lim
	}
	for l.lru.Len() >= l.max {
		e := l.lru.Back()
		l.lru.Remove(e)
		delete(l.callers, e.Value.(*callerBucket).key)
	}
	cb := &callerBucket{key: key, lim: rate.NewLimiter(l.limit, l.burst), lastSeen: now}
	l.callers[key] = l.lru.PushFront(cb)
	return cb.lim
}

func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.callers)
}

// callerKey is "t:" and the SHA-256 of the bearer token, or "ip:" and the
// client address; kind is "token" or "ip".
func (l *rateLimiter) callerKey(r *http.Request) (key, kind string) {
	if tok := bearerToken(r.Header.Get("Authorization")); tok != "" {
		sum := sha256.Sum256([]byte(tok))
		return "t:" + string(sum[:]), "token"
	}
	return "ip:" + l.clientIP(r), "ip"
}

func bearerToken(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// clientIP is the peer's address, or with a trusted proxy as the peer, the
// rightmost X-Forwarded-For address that is not a trusted proxy. IPv6
// addresses are reduced to their /64.
func (l *rateLimiter) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	client := peer.Unmap()
	if l.trusted(client) {
		client = l.forwardedFor(r.Header.Values("X-Forwarded-For"), client)
	}
	if client.Is6() {
		p, _ := client.Prefix(64)
		return p.String()
	}
	return client.String()
}

// forwardedFor walks X-Forwarded-For from the right (the hop nearest the
// gateway) past trusted proxies; an unreadable entry stops the walk at the
// last trusted hop, since everything left of it may be made up.
func (l *rateLimiter) forwardedFor(values []string, peer netip.Addr) netip.Addr {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client
		}
		client = a.Unmap()
		if !l.trusted(client) {
			return client
		}
	}
	return client
}

func (l *rateLimiter) trusted(a netip.Addr) bool {
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// writeRateLimited answers 429 with Retry-After in whole seconds (at least
// 1) and the gateway's usual google.rpc.Status body: RESOURCE_EXHAUSTED
// with ErrorInfo RATE_LIMITED and RetryInfo.
func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	retry := strconv.FormatInt(secs, 10)
	msg := "rate limit exceeded; retry after " + retry + "s"
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: grpcx.ErrorDomain, Metadata: map[string]string{"retry_after_seconds": retry}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)},
	)
	if err != nil {
		st = status.New(codes.ResourceExhausted, msg)
	}
	w.Header().Set("Retry-After", retry)
	writeStatus(w, st, http.StatusTooManyRequests)
}
