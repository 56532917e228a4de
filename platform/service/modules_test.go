package service_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestLoadConfigReadsModulesAndRefusesUnknownOnes(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x@localhost/x")
	t.Setenv("MODULES", "")
	c, err := service.LoadConfig("lead", 1, 2)
	if err != nil || !c.Modules.IsAll() {
		t.Fatalf("MODULES unset: %v, %v", c.Modules, err)
	}
	t.Setenv("MODULES", "account, workflow")
	if c, err = service.LoadConfig("lead", 1, 2); err != nil || c.Modules.String() != "account,workflow" {
		t.Fatalf("MODULES=account, workflow: %v, %v", c.Modules, err)
	}
	t.Setenv("MODULES", "customers,workflow")
	_, err = service.LoadConfig("lead", 1, 2)
	if err == nil || !strings.Contains(err.Error(), `unknown module "customers"`) || !strings.Contains(err.Error(), "account (customers") {
		t.Fatalf("MODULES=customers,workflow: %v, want the unknown name and the modules", err)
	}
}

// A service left out of MODULES still runs (with a warning); it calls and
// follows only the modules listed.
func TestAServiceCallsAndFollowsOnlyTheModulesThatRun(t *testing.T) {
	t.Parallel()
	db, n := testkit.Database(t), testkit.NewNATS(t)
	cfg := service.Config{
		Name: "lead", GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DBMaxConns: 4,
		DatabaseURL: testkit.ServiceURL(db, "lead"), DatabaseAdminURL: db,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: 2e9, Auth: testAuth(),
		Modules: modules.MustParse("account,workflow"),
	}
	var order, account grpc.ClientConnInterface
	var self bool
	follow := func(module string) *inbox.Consumer {
		return &inbox.Consumer{Name: "lead-follows-" + module, Stream: events.StreamName(n.Namespace, module),
			Subjects: events.StreamSubjects(n.Namespace, module), Handler: func(context.Context, inbox.Message) error { return nil }}
	}
	logs := &logBuffer{}
	ready := make(chan net.Addr, 1)
	spec := service.Spec{
		Schema:     "lead",
		Migrations: fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE t (id int);")}},
		Register: func(rt *service.Runtime) error {
			var err error
			if order, err = rt.Peer("order", "127.0.0.1:1"); err != nil {
				return err
			}
			if account, err = rt.Peer("account", "127.0.0.1:1"); err != nil {
				return err
			}
			self = rt.Module("lead")
			rt.Consume(follow("order"))
			rt.Consume(follow("account"))
			return nil
		},
		Ready: func(a net.Addr) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)), spec) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("a service left out of MODULES did not start: %v", err)
	}
	if resp, err := healthpb.NewHealthClient(testkit.Dial(t, addr.String())).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	if w := logs.lines("this service is not in MODULES: it runs, but the gateway and the other services treat it as absent"); len(w) != 1 {
		t.Errorf("warnings about running outside MODULES: %v, want one", w)
	}
	if !self {
		t.Error("rt.Module(own name) = false")
	}
	// The absent module's stand-in answers at once, MODULE_DISABLED.
	_, err := healthpb.NewHealthClient(order).Check(ctx, &healthpb.HealthCheckRequest{})
	if m, ok := modules.IsDisabled(grpcx.PeerError(ctx, "order", err)); !ok || m != "order" {
		t.Errorf("a call to the absent order module: %v", err)
	}
	if _, ok := account.(*grpc.ClientConn); !ok {
		t.Errorf("the account module runs, but its connection is a %T", account)
	}
	skipped := logs.lines("not following a module that does not run")
	if len(skipped) != 1 || skipped[0]["module"] != "order" || skipped[0]["consumer"] != "lead-follows-order" {
		t.Errorf("consumers not started: %v, want only the order one", skipped)
	}
}
