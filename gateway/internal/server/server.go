// Package server is the REST gateway: grpc-gateway in front of every
// service, plus health, readiness, the OpenAPI document (JSON and YAML),
// metrics, request size limits, per-caller rate limits, access logs, and
// google.rpc.Status 404s for unknown paths.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/crmsuite/crm/gateway/internal/openapi"
	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/modules"
)

// Upstream is one service behind the gateway, by module name (see
// platform/modules).
type Upstream struct {
	Name string
	Conn grpc.ClientConnInterface
}

// Config of the HTTP side.
type Config struct {
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int64
	// UpstreamTimeout bounds each call to a service unless the client asks
	// for less (grpc-timeout header).
	UpstreamTimeout time.Duration
	// Pprof serves /debug/pprof (profiling; never on a public port).
	Pprof bool
	// CSVImport bounds CSV uploads (POST /v1/leads:importCsv).
	CSVImport CSVImportConfig
	// RateLimit limits each caller of /v1/... (a CSV import counts as one
	// request); over it, 429 with Retry-After. The zero value disables it.
	RateLimit RateLimitConfig
	// AddressRateLimit limits all /v1/... requests from one client
	// address together, whichever tokens they carry (a looser bound than
	// RateLimit's, against clients inventing tokens); TrustedProxies come
	// from RateLimit. The zero value disables it.
	AddressRateLimit RateLimitConfig
	// WebForm bounds public web-form submissions, which have their own
	// body size and rate limits.
	WebForm WebFormConfig
	// TracerProvider, when set, traces each request (a server span, child
	// of the client's traceparent, whose context the calls to the services
	// carry; their connections need otelgrpc's client handler, see
	// DialOptions). Nil: no spans; a client's traceparent is forwarded as
	// it came.
	TracerProvider trace.TracerProvider
}

// New returns the gateway's HTTP handler. Each upstream's API is
// registered by name ("lead", ...); the API of every module without an
// upstream answers 501 MODULE_DISABLED, and readiness does not wait for
// it.
func New(ctx context.Context, cfg Config, log *slog.Logger, upstreams []Upstream) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: false},
			// Unknown fields are a client mistake worth a clear 400.
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithIncomingHeaderMatcher(forwardHeader),
		runtime.WithErrorHandler(errorHandler),
	)
	if cfg.AddressRateLimit.TrustedProxies == nil {
		cfg.AddressRateLimit.TrustedProxies = cfg.RateLimit.TrustedProxies
	}
	callers, addresses := newRateLimiter(cfg.RateLimit), newRateLimiter(cfg.AddressRateLimit)
	// Callers first: a request its caller may not make takes nothing from
	// its address.
	limit := func(h http.Handler) http.Handler { return callers.wrap(addresses.wrapAddresses(h)) }
	// Only the API is rate limited: probes, scrapes and the OpenAPI document
	// must keep answering while a caller is over its limit.
	api := limit(limitBody(cfg.MaxBodyBytes, withTimeout(cfg.UpstreamTimeout, mux)))
	root := http.NewServeMux()
	conns := map[string]grpc.ClientConnInterface{}
	for _, u := range upstreams {
		if !slices.Contains(modules.Names, u.Name) {
			return nil, fmt.Errorf("gateway: unknown upstream %q", u.Name)
		}
		conns[u.Name] = u.Conn
	}
	// A module without an upstream does not run here: its routes stay, and
	// answer 501 MODULE_DISABLED naming it, rather than 404 (the path is
	// right) or 503 (nothing will come back).
	var absent []string
	for _, name := range modules.Names {
		if conns[name] == nil {
			conns[name] = grpcx.DisabledConn(name, codes.Unimplemented)
			absent = append(absent, name)
		}
	}
	leads := leadv1.NewLeadServiceClient(conns["lead"])
	if err := leadv1.RegisterLeadServiceHandlerClient(ctx, mux, leads); err != nil {
		return nil, err
	}
	forms := leadv1.NewWebFormServiceClient(conns["lead"])
	if err := leadv1.RegisterWebFormServiceHandlerClient(ctx, mux, forms); err != nil {
		return nil, err
	}
	wf := webFormHandler(cfg, api, mux, forms)
	root.Handle("POST /v1/webForms/{form}", wf)
	root.Handle("OPTIONS /v1/webForms/{form}", wf)
	csvCfg := cfg.CSVImport
	if csvCfg.MaxBodyBytes <= 0 {
		csvCfg.MaxBodyBytes = 1 << 30
	}
	if csvCfg.MaxRowBytes <= 0 {
		csvCfg.MaxRowBytes = 1 << 20
	}
	if csvCfg.RowsPerMessage <= 0 {
		csvCfg.RowsPerMessage = 1000
	}
	root.Handle("POST /v1/leads:importCsv", limit(&csvImporter{leads: leads, cfg: csvCfg}))
	if err := accountv1.RegisterAccountServiceHandlerClient(ctx, mux, accountv1.NewAccountServiceClient(conns["account"])); err != nil {
		return nil, err
	}
	if err := opportunityv1.RegisterOpportunityServiceHandlerClient(ctx, mux, opportunityv1.NewOpportunityServiceClient(conns["opportunity"])); err != nil {
		return nil, err
	}
	if err := orderv1.RegisterOrderServiceHandlerClient(ctx, mux, orderv1.NewOrderServiceClient(conns["order"])); err != nil {
		return nil, err
	}
	if err := orderv1.RegisterExchangeRateServiceHandlerClient(ctx, mux, orderv1.NewExchangeRateServiceClient(conns["order"])); err != nil {
		return nil, err
	}
	if err := workflowv1.RegisterWorkflowServiceHandlerClient(ctx, mux, workflowv1.NewWorkflowServiceClient(conns["workflow"])); err != nil {
		return nil, err
	}
	if err := workflowv1.RegisterProcessServiceHandlerClient(ctx, mux, workflowv1.NewProcessServiceClient(conns["workflow"])); err != nil {
		return nil, err
	}
	if err := workflowv1.RegisterSlaServiceHandlerClient(ctx, mux, workflowv1.NewSlaServiceClient(conns["workflow"])); err != nil {
		return nil, err
	}
	if err := workflowv1.RegisterDirectoryServiceHandlerClient(ctx, mux, workflowv1.NewDirectoryServiceClient(conns["workflow"])); err != nil {
		return nil, err
	}
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", readyz(upstreams, absent))
	root.HandleFunc("GET /openapi.json", serveDoc("application/json", openapi.JSON))
	root.HandleFunc("GET /openapi.yaml", serveDoc("application/yaml", openapi.YAML))
	root.Handle("GET /metrics", promhttp.Handler())
	if cfg.Pprof {
		root.HandleFunc("/debug/pprof/", pprof.Index)
		root.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	root.Handle("/v1/", api)
	// Anything else is a 404 in the API's error shape, not a text page.
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, status.New(codes.NotFound, "no such path: "+r.URL.Path), http.StatusNotFound)
	})
	h := accessLog(log, root)
	if cfg.TracerProvider != nil {
		h = otelhttp.NewHandler(h, "gateway",
			otelhttp.WithTracerProvider(cfg.TracerProvider),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			// Probes and scrapes are not worth a trace each, and a
			// calendar feed's path is its secret token (see loggedPath),
			// which a span's url.path would keep.
			otelhttp.WithFilter(func(r *http.Request) bool {
				p := r.URL.Path
				return p != "/healthz" && p != "/readyz" && p != "/metrics" && loggedPath(p) == p
			}))
	}
	return h, nil
}

// DialOptions are the options of the gateway's connections to the
// services beyond transport and balancing: with tracing on (tp set),
// otelgrpc's client handler, so each call is a client span whose context
// the service continues.
func DialOptions(tp trace.TracerProvider) []grpc.DialOption {
	if tp == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(tp), otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(func(i *stats.RPCTagInfo) bool { return !grpcx.IsPublic(i.FullMethodName) }),
	))}
}

// serveDoc serves a document the gateway embeds; browsers' tools (Swagger
// UI, Redoc on another origin) may fetch it.
func serveDoc(contentType string, doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write(doc)
	}
}

// forwardHeader passes on what services need: Authorization (grpc-gateway
// forwards it itself), the development identity header, trace context, the
// caller's request id and a browser's Origin (web forms check it).
func forwardHeader(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case "x-actor", "traceparent", "tracestate", "x-request-id", "origin":
		return k, true
	}
	return runtime.DefaultHeaderMatcher(key)
}

type bodyTooLarge struct{}

// limitBody refuses bodies over max with 413, whether announced by
// Content-Length or found while reading.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeStatus(w, status.New(codes.ResourceExhausted, fmt.Sprintf("request body larger than %d bytes", max)), http.StatusRequestEntityTooLarge)
			return
		}
		flag := new(atomic.Bool)
		r.Body = &maxBody{ReadCloser: http.MaxBytesReader(w, r.Body, max), exceeded: flag}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyTooLarge{}, flag)))
	})
}

type maxBody struct {
	io.ReadCloser
	exceeded *atomic.Bool
}

func (b *maxBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.exceeded.Store(true)
	}
	return n, err
}

func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// errorHandler writes errors as JSON google.rpc.Status with details, with
// the status code grpc-gateway maps, except that an oversized body is 413.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if flag, ok := r.Context().Value(bodyTooLarge{}).(*atomic.Bool); ok && flag.Load() {
		writeStatus(w, status.New(codes.ResourceExhausted, "request body too large"), http.StatusRequestEntityTooLarge)
		return
	}
	st, _ := status.FromError(err)
	switch {
	case st.Code() == codes.Unknown:
		// Transport-level failures must not surface as UNKNOWN/500.
		st = status.New(codes.Unavailable, "service unavailable")
	case st.Code() == codes.InvalidArgument && len(st.Details()) == 0:
		// The gateway itself could not decode the request (malformed JSON,
		// a query parameter of the wrong type): say which part.
		st = malformedRequest(st.Message())
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, st.Err())
}

var paramName = regexp.MustCompile(`(?:parameter: |parsing field ")([A-Za-z0-9_.]+)`)

func malformedRequest(msg string) *status.Status {
	field := "body"
	if m := paramName.FindStringSubmatch(msg); m != nil {
		field = m[1]
	}
	st, err := status.New(codes.InvalidArgument, "malformed request: "+msg).WithDetails(
		&errdetails.ErrorInfo{Reason: "MALFORMED_REQUEST", Domain: grpcx.ErrorDomain},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}},
	)
	if err != nil {
		return status.New(codes.InvalidArgument, msg)
	}
	return st
}

func writeStatus(w http.ResponseWriter, st *status.Status, code int) {
	b, _ := protojson.Marshal(st.Proto())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// readyz is ready when every upstream reports SERVING on grpc.health.v1.
// Modules that do not run are listed as MODULE_DISABLED and not waited
// for.
func readyz(upstreams []Upstream, absent []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		result := map[string]string{}
		for _, name := range absent {
			result[name] = modules.Reason
		}
		ready := true
		for _, u := range upstreams {
			resp, err := healthpb.NewHealthClient(u.Conn).Check(ctx, &healthpb.HealthCheckRequest{})
			switch {
			case err != nil:
				result[u.Name] = status.Code(err).String()
				ready = false
			case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
				result[u.Name] = resp.GetStatus().String()
				ready = false
			default:
				result[u.Name] = "SERVING"
			}
		}
		code := http.StatusOK
		if !ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, result)
	}
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (full duplex
// for CSV imports).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			return
		}
		// Services log every call; the gateway logs failures at info and
		// error, and successful requests only at debug. Rate-limited
		// requests are debug too (crm_gateway_rate_limited_total counts
		// them): a flood must not turn into as many log lines.
		level := slog.LevelDebug
		switch {
		case rec.status == http.StatusTooManyRequests:
		case rec.status >= 500:
			level = slog.LevelError
		case rec.status >= 400:
			level = slog.LevelInfo
		}
		log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("path", loggedPath(r.URL.Path)),
			slog.Int("status", rec.status), slog.Int("bytes", rec.bytes),
			slog.String("duration", strconv.FormatFloat(time.Since(start).Seconds()*1000, 'f', 2, 64)+"ms"))
	})
}

// loggedPath is a request's path as logs may keep it: a calendar feed's
// path is its secret token.
func loggedPath(p string) string {
	if strings.HasPrefix(p, "/v1/calendars/") {
		return "/v1/calendars/{token}"
	}
	return p
}
