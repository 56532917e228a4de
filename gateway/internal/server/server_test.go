package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/tracing"
)

// recordingLeads answers GetLead and remembers the metadata it got: the
// test is about what the gateway forwards, not about leads.
type recordingLeads struct {
	leadv1.UnimplementedLeadServiceServer
	mu sync.Mutex
	md metadata.MD
}

func (r *recordingLeads) GetLead(ctx context.Context, req *leadv1.GetLeadRequest) (*leadv1.Lead, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	r.md = md
	r.mu.Unlock()
	return &leadv1.Lead{Name: req.Name, Company: "Acme"}, nil
}

func gateway(t *testing.T, leads leadv1.LeadServiceServer) *httptest.Server {
	t.Helper()
	return gatewayWith(t, Config{MaxBodyBytes: 1024, UpstreamTimeout: 5e9}, leads)
}

// gatewayWith is the gateway with cfg in front of leads (and a health
// service, and whatever more registers), on a test HTTP server.
func gatewayWith(t *testing.T, cfg Config, leads leadv1.LeadServiceServer, more ...func(*grpc.Server)) *httptest.Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	leadv1.RegisterLeadServiceServer(srv, leads)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	for _, register := range more {
		register(srv)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		DialOptions(cfg.TracerProvider)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	h, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), []Upstream{{Name: "lead", Conn: conn}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func TestForwardsAuthorizationIdentityAndTraceButNotArbitraryHeaders(t *testing.T) {
	leads := &recordingLeads{}
	ts := gateway(t, leads)
	req, _ := http.NewRequest("GET", ts.URL+"/v1/leads/0199aaaa-0000-7000-8000-000000000000", nil)
	req.Header.Set("Authorization", "Bearer abc.def.ghi")
	req.Header.Set("X-Actor", "alice")
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("X-Internal-Secret", "must-not-pass")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Acme") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	leads.mu.Lock()
	md := leads.md
	leads.mu.Unlock()
	for key, want := range map[string]string{
		"authorization": "Bearer abc.def.ghi",
		"x-actor":       "alice",
		"traceparent":   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	} {
		if got := md.Get(key); len(got) != 1 || got[0] != want {
			t.Errorf("metadata %s = %v, want %q", key, got, want)
		}
	}
	if got := md.Get("x-internal-secret"); len(got) != 0 {
		t.Errorf("arbitrary header forwarded: %v", got)
	}
}

// With tracing on, a request is a server span continuing the client's
// trace, the call to the service a client span under it, and the service
// gets the client span's context; probes make no spans.
func TestTracedRequestContinuesTheClientsTrace(t *testing.T) {
	otel.SetTextMapPropagator(tracing.Propagator())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	leads := &recordingLeads{}
	ts := gatewayWith(t, Config{MaxBodyBytes: 1024, UpstreamTimeout: 5e9, TracerProvider: tp}, leads)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", ts.URL+"/v1/leads/0199aaaa-0000-7000-8000-000000000000", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/calendars/secret-feed-token.ics"} {
		if resp, err := http.Get(ts.URL + path); err == nil {
			resp.Body.Close()
		}
	}
	spans := rec.Ended()
	for _, sp := range spans {
		for _, a := range sp.Attributes() {
			if strings.Contains(a.Value.Emit(), "secret-feed-token") {
				t.Errorf("span %s keeps a calendar feed's token: %v", sp.Name(), a)
			}
		}
	}
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the request's and its call's", len(spans))
	}
	call, server := spans[0], spans[1]
	if server.SpanKind() != trace.SpanKindServer || server.Parent().SpanID().String() != "00f067aa0ba902b7" ||
		server.SpanContext().TraceID().String() != traceID {
		t.Errorf("server span %s: parent %v", server.Name(), server.Parent())
	}
	if call.SpanKind() != trace.SpanKindClient || call.Name() != "crm.lead.v1.LeadService/GetLead" || call.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("call span %s (%v): parent %v", call.Name(), call.SpanKind(), call.Parent())
	}
	leads.mu.Lock()
	md := leads.md
	leads.mu.Unlock()
	if got, want := md.Get("traceparent"), "00-"+traceID+"-"+call.SpanContext().SpanID().String()+"-01"; len(got) != 1 || got[0] != want {
		t.Errorf("service got traceparent %v, want %q", got, want)
	}
}

func TestUnimplementedAndUnknownRoutesAreNotServerErrors(t *testing.T) {
	ts := gateway(t, &recordingLeads{})
	for path, want := range map[string]int{
		"/v1/leads":       http.StatusNotImplemented, // ListLeads is not implemented by the recorder
		"/v1/nowhere":     http.StatusNotFound,
		"/definitely/not": http.StatusNotFound, // a google.rpc.Status too, not a text page
		"/readyz":         http.StatusOK,
		"/healthz":        http.StatusOK,
		"/openapi.json":   http.StatusOK,
		"/openapi.yaml":   http.StatusOK,
		"/metrics":        http.StatusOK,
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
