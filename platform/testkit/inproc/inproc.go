// Package inproc runs a service in the test's own process, the way its
// main would (platform/service.Run with the service's Spec), against the
// test's database and NATS, and dials it.
//
// It is a package of its own, not part of testkit, because platform/service
// pulls in the outbox, whose tests use testkit.
package inproc

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
)

// Config returns the configuration of a test instance of service name on
// the database at dbURL (testkit.Database), which it provisions and then
// connects to as the service's own role (testkit.ServiceURL), and on n:
// any free gRPC port, no metrics listener,
// reflection on, a fixed page-token secret, a short shutdown timeout, and
// token authentication with HS256 and testkit.AuthSecret (testkit.As).
func Config(name, dbURL string, n *testkit.NATS) service.Config {
	return service.Config{
		Name: name, GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DBMaxConns: 8, ConsumerBatch: 8,
		DatabaseURL: testkit.ServiceURL(dbURL, name), DatabaseAdminURL: dbURL,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: 5 * time.Second, Reflection: true,
		PageTokenSecret: "test-secret",
		Auth: service.AuthConfig{
			Mode: service.AuthToken, Issuer: testkit.AuthIssuer, Audience: testkit.AuthAudience,
			Algorithms: []string{"HS256"}, HS256Secret: testkit.AuthSecret,
		},
	}
}

// Service is a service Start runs.
type Service struct {
	// Addr is the address its gRPC listener is on.
	Addr string
	// Conn is a client connection to it.
	Conn *grpc.ClientConn
	stop func()
}

// Start runs spec with cfg until the test ends (or Stop), waits up to 60s
// for its gRPC listener, and dials it. It logs errors only, to stderr. It
// sets spec.Ready. A service that does not start, or stops with an error,
// fails the test.
func Start(t testing.TB, cfg service.Config, spec service.Spec) *Service {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ready := make(chan net.Addr, 1)
	spec.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, cfg, log, spec) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("service did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("service did not start within 60s")
	}
	conn := testkit.Dial(t, addr.String())
	s := &Service{Addr: addr.String(), Conn: conn}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = conn.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service stopped with error: %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// Stop shuts the service down and waits until it has; later calls do
// nothing.
func (s *Service) Stop() { s.stop() }
