package service_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// slowService answers UnaryCall after a delay: an in-flight request at
// shutdown.
type slowService struct {
	testpb.UnimplementedTestServiceServer
	delay time.Duration
}

func (s slowService) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	select {
	case <-time.After(s.delay):
		return &testpb.SimpleResponse{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type running struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan error
}

func startService(t *testing.T, delay, shutdownTimeout time.Duration, with ...func(*service.Config)) *running {
	t.Helper()
	n := testkit.NewNATS(t)
	db := testkit.Database(t)
	cfg := service.Config{
		Name: "svc", GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DBMaxConns: 4,
		DatabaseURL: testkit.ServiceURL(db, "svc"), DatabaseAdminURL: db,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: shutdownTimeout, Auth: testAuth(),
	}
	for _, f := range with {
		f(&cfg)
	}
	ready := make(chan net.Addr, 1)
	spec := service.Spec{
		Schema:     "svc",
		Migrations: fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE t (id int);")}},
		Register: func(rt *service.Runtime) error {
			testpb.RegisterTestServiceServer(rt.GRPC, slowService{delay: delay})
			return nil
		},
		Rules: testRules(),
		Ready: func(a net.Addr) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- service.Run(ctx, cfg, slog.New(slog.DiscardHandler), spec) }()
	select {
	case addr := <-ready:
		conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		r.conn = conn
	case err := <-r.done:
		t.Fatalf("service did not start: %v", err)
	}
	resp, err := healthpb.NewHealthClient(r.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	return r
}

func TestShutdownLetsInFlightCallsFinish(t *testing.T) {
	t.Parallel()
	r := startService(t, 400*time.Millisecond, 5*time.Second)
	callErr := make(chan error, 1)
	go func() {
		_, err := testpb.NewTestServiceClient(r.conn).UnaryCall(testkit.As("alice"), &testpb.SimpleRequest{})
		callErr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	r.cancel()
	if err := <-callErr; err != nil {
		t.Fatalf("in-flight call failed during graceful shutdown: %v", err)
	}
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	// New calls are refused once it is down.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(r.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("health check answered after shutdown")
	}
}

func TestShutdownIsBoundedWhenCallsDoNotFinish(t *testing.T) {
	t.Parallel()
	r := startService(t, time.Minute, 300*time.Millisecond)
	callErr := make(chan error, 1)
	go func() {
		_, err := testpb.NewTestServiceClient(r.conn).UnaryCall(testkit.As("alice"), &testpb.SimpleRequest{})
		callErr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a 300ms bound", d)
	}
	if err := <-callErr; status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
		t.Fatalf("call cut by shutdown ended with %v", err)
	}
}

// A connection reaching its age takes no new calls, but a call in flight
// on it is not cut however long it runs: here 35 s, past the 30 s grace
// that used to close connections under long import streams.
func TestConnectionAgeDoesNotCutCallsInFlight(t *testing.T) {
	t.Parallel()
	r := startService(t, 35*time.Second, 5*time.Second, func(c *service.Config) { c.MaxConnectionAge = 200 * time.Millisecond })
	if _, err := testpb.NewTestServiceClient(r.conn).UnaryCall(testkit.As("alice"), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("call outliving its connection's age: %v", err)
	}
	// New calls go over a new connection.
	if _, err := healthpb.NewHealthClient(r.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health after the connection aged: %v", err)
	}
}

// The Kubernetes way: `<service> migrate` with the admin URL (an init
// container), then the service with its own role's URL only.
func TestMigrateProvisionsTheRoleAndTheServiceRunsWithItsOwnOnly(t *testing.T) {
	t.Parallel()
	db, n := testkit.Database(t), testkit.NewNATS(t)
	cfg := service.Config{Name: "svc", DatabaseURL: testkit.ServiceURL(db, "svc"), DatabaseAdminURL: db, DBMaxConns: 2}
	spec := service.Spec{Schema: "svc", Migrations: fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE t (id int);")}}}
	if err := service.Migrate(context.Background(), cfg, slog.New(slog.DiscardHandler), spec); err != nil {
		t.Fatal(err)
	}
	_, logs := runWhoami(t, "svc", db, n, func(c *service.Config) { c.DatabaseAdminURL = "" }, "")
	if w := logs.lines("connected to Postgres as a superuser"); len(w) > 0 {
		t.Fatalf("the service role is taken for a superuser: %v", w)
	}
}

func TestASuperuserConnectionIsWarnedAbout(t *testing.T) {
	t.Parallel()
	db, n := testkit.Database(t), testkit.NewNATS(t)
	_, logs := runWhoami(t, "svc", db, n, func(c *service.Config) { c.DatabaseURL, c.DatabaseAdminURL = db, "" }, "")
	if w := logs.lines("connected to Postgres as a superuser"); len(w) != 1 || w[0]["role"] != "postgres" {
		t.Fatalf("superuser warnings: %v, want one naming postgres", w)
	}
}
