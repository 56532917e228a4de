package service_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
)

// querying answers UnaryCall after a query on the service's pool.
type querying struct {
	testpb.UnimplementedTestServiceServer
	rt *service.Runtime
}

func (q querying) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	var n int
	if err := q.rt.Pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{}, nil
}

// A service given a TracerProvider (as tests inject an in-memory one, and
// Main the one the OTEL_* environment configures) traces its calls and
// their queries; health checks and its background polling (relay, timers)
// make no spans.
func TestConfiguredTracerProviderTracesCallsAndTheirQueries(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	n := testkit.NewNATS(t)
	db := testkit.Database(t)
	cfg := service.Config{
		Name: "svc", GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DBMaxConns: 4,
		DatabaseURL: testkit.ServiceURL(db, "svc"), DatabaseAdminURL: db,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: time.Second, Auth: testAuth(),
		TracerProvider: tp,
	}
	ready := make(chan net.Addr, 1)
	spec := service.Spec{
		Schema:     "svc",
		Migrations: fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE t (id int);")}},
		Register: func(rt *service.Runtime) error {
			testpb.RegisterTestServiceServer(rt.GRPC, querying{rt: rt})
			return nil
		},
		Rules: testRules(),
		Ready: func(a net.Addr) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, cfg, slog.New(slog.DiscardHandler), spec) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("service did not start: %v", err)
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := testpb.NewTestServiceClient(conn).UnaryCall(testkit.As("alice"), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the relay polls meanwhile

	var call sdktrace.ReadOnlySpan
	var others []string
	for _, s := range rec.Ended() {
		if s.Name() == "grpc.testing.TestService/UnaryCall" && s.SpanKind() == trace.SpanKindServer {
			call = s
		}
	}
	if call == nil {
		t.Fatal("no server span for the call")
	}
	var query bool
	for _, s := range rec.Ended() {
		switch {
		case s == call:
		case s.Parent().SpanID() == call.SpanContext().SpanID() && strings.Contains(attr(s, "db.query.text"), "FROM t"):
			query = true
		case s.SpanContext().TraceID() != call.SpanContext().TraceID():
			others = append(others, s.Name())
		}
	}
	if !query {
		t.Error("no query span under the call")
	}
	if len(others) > 0 {
		t.Errorf("spans outside the call's trace (health checks, polling): %v", others)
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}
