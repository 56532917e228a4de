// Package service is the runtime every service's main shares: configuration
// from the environment, logging, the Postgres pool and migrations, the NATS
// connection, the gRPC server with health, reflection and the interceptor
// chain, the outbox relay, metrics, and an orderly shutdown.
package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/logx"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/platform/tracing"
)

// Config is what every service reads from its environment.
type Config struct {
	Name            string
	GRPCAddr        string
	MetricsAddr     string
	DatabaseURL     string
	DBMaxConns      int
	NATSURL         string
	EventsNamespace string
	ShutdownTimeout time.Duration
	Reflection      bool
	PageTokenSecret string
	LogLevel        string
	LogFormat       string
	// Pprof serves /debug/pprof on the metrics address.
	Pprof bool
	// StreamReplicas of the service's JetStream stream (3 on a clustered
	// NATS in production).
	StreamReplicas int
	// ConsumerWorkers apply a consumer's events concurrently (one
	// aggregate's in order); each holds a database connection while it
	// applies one.
	ConsumerWorkers int
	// ConsumerBatch is how many queued events a consumer's worker applies
	// in one transaction.
	ConsumerBatch int
	// TimerPollInterval bounds how late a durable timer fires (its
	// engine also wakes at the next due time).
	TimerPollInterval time.Duration
	// TimerWorkers fire batches of due timers concurrently.
	TimerWorkers int
	// MaxConnectionAge after which a client's gRPC connection takes no
	// new calls (GOAWAY), so clients reconnect and new replicas get their
	// share; calls in flight on it run to their end. 0: 5 minutes.
	MaxConnectionAge time.Duration
	// DatabaseAdminURL, when set, provisions the service's role (the user
	// of DatabaseURL) and schema before the service connects (pg.Bootstrap).
	DatabaseAdminURL string
	// Auth is how calls are authenticated, both ways.
	Auth AuthConfig
	// Modules the installation runs (MODULES; the zero value: all). A
	// service runs whether listed or not; it calls and follows only the
	// listed others (Runtime.Peer, Runtime.Consume).
	Modules modules.Set
	// TracerProvider, when set, traces the service: gRPC calls both ways,
	// Postgres queries, outbox publishes and consumed events. Main sets it
	// from the OTEL_* environment (platform/tracing.Setup); tests may set
	// their own (an in-memory exporter). Nil: tracing off (no spans, trace
	// context passed on).
	TracerProvider trace.TracerProvider
}

// LoadConfig reads the environment; defaultGRPCPort and defaultMetricsPort
// give each service its own local ports for `make run`.
func LoadConfig(name string, defaultGRPCPort, defaultMetricsPort int) (Config, error) {
	var env config.Env
	c := Config{
		Name:              name,
		GRPCAddr:          env.String("GRPC_ADDR", fmt.Sprintf("127.0.0.1:%d", defaultGRPCPort)),
		MetricsAddr:       env.String("METRICS_ADDR", fmt.Sprintf("127.0.0.1:%d", defaultMetricsPort)),
		DatabaseURL:       env.Secret("DATABASE_URL", ""),
		DBMaxConns:        env.Int("DB_MAX_CONNS", 16),
		NATSURL:           env.String("NATS_URL", "nats://127.0.0.1:4222"),
		EventsNamespace:   env.String("EVENTS_NAMESPACE", ""),
		ShutdownTimeout:   env.Duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		Reflection:        env.Bool("GRPC_REFLECTION", false),
		PageTokenSecret:   env.Secret("PAGE_TOKEN_SECRET", ""),
		LogLevel:          env.String("LOG_LEVEL", "info"),
		LogFormat:         env.String("LOG_FORMAT", "json"),
		Pprof:             env.Bool("PPROF", false),
		StreamReplicas:    env.Int("NATS_STREAM_REPLICAS", 1),
		ConsumerWorkers:   env.Int("CONSUMER_WORKERS", 4),
		ConsumerBatch:     env.Int("CONSUMER_BATCH", 16),
		TimerPollInterval: env.Duration("TIMER_POLL_INTERVAL", time.Second),
		TimerWorkers:      env.Int("TIMER_WORKERS", 4),
		MaxConnectionAge:  env.Duration("GRPC_MAX_CONNECTION_AGE", 5*time.Minute),
		Auth: AuthConfig{
			Mode:             env.String("AUTH_MODE", AuthToken),
			Issuer:           env.String("AUTH_ISSUER", "crm"),
			Audience:         env.String("AUTH_AUDIENCE", "crm"),
			Algorithms:       splitList(env.String("AUTH_ALGORITHMS", "RS256,EdDSA")),
			HS256Secret:      env.Secret("AUTH_HS256_SECRET", ""),
			JWKSFile:         env.String("AUTH_JWKS_FILE", ""),
			ServiceTokenFile: env.String("AUTH_SERVICE_TOKEN_FILE", ""),
		},
	}
	c.DatabaseAdminURL = env.Secret("DATABASE_ADMIN_URL", "")
	env.Required("DATABASE_URL", c.DatabaseURL)
	var modeErr error
	if m := c.Auth.Mode; m != AuthToken && m != AuthDevHeader {
		modeErr = fmt.Errorf("AUTH_MODE %q: want %q or %q", m, AuthToken, AuthDevHeader)
	}
	var modulesErr error
	c.Modules, modulesErr = modules.Parse(env.String("MODULES", ""))
	return c, errors.Join(env.Err(), modeErr, modulesErr)
}

// NewLogger returns the structured logger the config asks for.
func NewLogger(c Config) *slog.Logger {
	return logx.New(c.Name, c.LogLevel, c.LogFormat)
}

// Runtime is what a service's Register function gets to wire itself up.
type Runtime struct {
	Config Config
	Logger *slog.Logger
	Pool   *pgxpool.Pool
	NATS   *nats.Conn
	JS     jetstream.JetStream
	GRPC   *grpc.Server
	// Relay publishes this service's outbox; call Relay.Kick after
	// committing events.
	Relay *outbox.Relay
	// Outbox builds outbox rows for this service's events.
	Outbox outbox.Writer

	// serviceTokens are this service's own, for its calls to others (nil
	// in dev-header mode, or when none is configured).
	serviceTokens authn.TokenSource
	devHeader     bool

	workers []func(context.Context) error
}

// Go runs fn for the life of the service (consumers, timers). fn must
// return when ctx ends.
func (rt *Runtime) Go(fn func(ctx context.Context) error) {
	rt.workers = append(rt.workers, fn)
}

// Consume runs c, a durable idempotent consumer of events, for the life of
// the service, on the service's database and NATS connection. The caller
// sets Name, Stream, Subjects and Handler (and OnDeadLetter, if any); the
// stream of another service is events.StreamName(ns, "<service>") and an
// event's subject events.Subject(ns, "<service>", &eventsv1.X{}), with ns =
// rt.Config.EventsNamespace. Events the handler writes to the outbox are
// relayed as soon as it commits.
//
// A consumer of the stream of a module the installation does not run is
// not started: nothing publishes there, and its events (if the module
// ran before) wait for it to come back.
func (rt *Runtime) Consume(c *inbox.Consumer) {
	for _, m := range rt.Config.Modules.Absent() {
		if m != rt.Config.Name && c.Stream == events.StreamName(rt.Config.EventsNamespace, m) {
			rt.Logger.Info("not following a module that does not run", "consumer", c.Name, "module", m)
			return
		}
	}
	c.Pool, c.JS, c.Logger, c.Namespace = rt.Pool, rt.JS, rt.Logger, rt.Config.EventsNamespace
	if c.Replicas == 0 {
		c.Replicas = rt.Config.StreamReplicas
	}
	if c.TracerProvider == nil {
		c.TracerProvider = rt.Config.TracerProvider
	}
	if c.Applied == nil {
		c.Applied = rt.Relay.Kick
	}
	if c.Workers == 0 {
		c.Workers = rt.Config.ConsumerWorkers
	}
	if c.Batch == 0 {
		c.Batch = rt.Config.ConsumerBatch
	}
	rt.Go(c.Run)
}

// Timers runs the durable-timer engine (platform/timer) on the service's
// schema for the life of the service, firing handlers by purpose (and
// batch handlers, if any); events the handlers write to the outbox are
// relayed as soon as a batch commits.
func (rt *Runtime) Timers(handlers map[string]timer.Handler, batches map[string]timer.BatchHandler) *timer.Engine {
	e := &timer.Engine{Pool: rt.Pool, Logger: rt.Logger, Handlers: handlers, Fired: rt.Relay.Kick,
		BatchHandlers: batches, PollInterval: rt.Config.TimerPollInterval, Workers: rt.Config.TimerWorkers}
	rt.Go(e.Run)
	return e
}

// Spec describes one service.
type Spec struct {
	// Schema the service owns in Postgres.
	Schema     string
	Migrations fs.FS
	// SharedMigrations are sets of shared plumbing the service uses
	// (processgate's), applied after the platform's, before its own.
	SharedMigrations []pg.MigrationSet
	// Extensions the migrations need, installed by the bootstrap.
	Extensions []string
	// Register wires handlers onto rt.GRPC and background work via rt.Go.
	Register func(rt *Runtime) error
	// Rules say who may call each RPC Register registers, by full method
	// name (the generated <Service>_<Method>_FullMethodName constants):
	// deny by default, so a call of a method without a rule is refused,
	// and Run refuses to start when a registered method has none.
	Rules map[string]authz.Rule
	// Ready, if set, is called once the gRPC listener is up (tests).
	Ready func(addr net.Addr)
	// Commands are the service's one-off tasks, run as `<service> <name>
	// [args]` (a migration, a rebuild) instead of serving.
	Commands map[string]Command
}

// Command is a one-off task of a service. It runs on the service's
// migrated database and NATS connection (rt has no gRPC server and runs
// no background work: Run relays what it writes to the outbox itself, or
// leaves it to the serving replicas' relay) and returns when done.
type Command struct {
	// Usage is a line of help: its arguments and what it does.
	Usage string
	Run   func(ctx context.Context, rt *Runtime, args []string) error
}

// RunCommand runs spec's command name with args.
func RunCommand(ctx context.Context, c Config, log *slog.Logger, spec Spec, name string, args []string) error {
	cmd, ok := spec.Commands[name]
	if !ok {
		return fmt.Errorf("unknown command %q", name)
	}
	pool, err := openDatabase(ctx, c, log, spec)
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, js, err := natsx.Connect(c.NATSURL, c.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	rt := &Runtime{Config: c, Logger: log, Pool: pool, NATS: nc, JS: js,
		Outbox: outbox.Writer{Service: c.Name, Namespace: c.EventsNamespace}, Relay: newRelay(c, pool, js, log)}
	if err := cmd.Run(ctx, rt, args); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nc.Drain()
}

// newRelay is the relay publishing the service's outbox to its stream.
func newRelay(c Config, pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger) *outbox.Relay {
	ns := c.EventsNamespace
	return &outbox.Relay{
		Pool: pool, JS: js, Logger: log, TracerProvider: c.TracerProvider,
		Stream: jetstream.StreamConfig{
			Name:       events.StreamName(ns, c.Name),
			Subjects:   events.StreamSubjects(ns, c.Name),
			Storage:    jetstream.FileStorage,
			MaxAge:     30 * 24 * time.Hour,
			Duplicates: 10 * time.Minute,
			Replicas:   c.StreamReplicas,
		},
	}
}

// Run starts the service and blocks until ctx ends, then shuts down: health
// goes NOT_SERVING so load balancers stop sending, in-flight calls finish
// (bounded by ShutdownTimeout), background work stops, connections close.
func Run(ctx context.Context, c Config, log *slog.Logger, spec Spec) error {
	otel.SetTextMapPropagator(tracing.Propagator())

	authenticator, serviceTokens, err := authentication(c.Name, c.Auth, log)
	if err != nil {
		return err
	}

	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pool, err := openDatabase(startCtx, c, log, spec)
	if err != nil {
		return err
	}
	defer pool.Close()

	nc, js, err := natsx.Connect(c.NATSURL, c.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	validator, err := protovalidate.New()
	if err != nil {
		return fmt.Errorf("protovalidate: %w", err)
	}
	devHeader := c.Auth.withDefaults().Mode == AuthDevHeader
	policy := authz.Policy{
		Rules: spec.Rules, Logger: log,
		// Callers in dev-header mode have no roles (x-actor names a
		// subject only): that mode keeps working without role checks, as
		// before; methods without a rule are refused all the same.
		SkipRoles: devHeader,
	}
	chain := grpcx.Chain{Logger: log, Validator: validator, Authenticator: authenticator, Authorizer: policy, Public: policy.IsPublic,
		TracerProvider: c.TracerProvider}
	srv := grpc.NewServer(append(chain.ServerOptions(),
		grpc.MaxRecvMsgSize(8<<20),
		// Clients reconnect now and then, so new replicas get their share
		// of long-lived connections (the gateway's, other services'). At
		// that age the connection only stops taking new calls: no grace
		// bound (MaxConnectionAgeGrace unset is infinite) closes it under
		// the calls in flight, since a long stream (an ImportLeads of a
		// million rows, a CSV upload through the gateway) cannot be
		// resumed by the client and may well outlast any grace.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: cmp.Or(c.MaxConnectionAge, 5*time.Minute)}),
	)...)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	if c.Reflection {
		reflection.Register(srv)
	}

	ns := c.EventsNamespace
	rt := &Runtime{
		Config: c, Logger: log, Pool: pool, NATS: nc, JS: js, GRPC: srv,
		Outbox:        outbox.Writer{Service: c.Name, Namespace: ns},
		serviceTokens: serviceTokens, devHeader: devHeader,
		Relay: newRelay(c, pool, js, log),
	}
	if slices.Contains(modules.Names, c.Name) && !c.Modules.Has(c.Name) {
		log.Warn("this service is not in MODULES: it runs, but the gateway and the other services treat it as absent",
			"modules", c.Modules.String())
	}
	if err := spec.Register(rt); err != nil {
		return err
	}
	if missing := authz.Uncovered(spec.Rules, srv.GetServiceInfo(), grpcx.IsPublic); len(missing) > 0 {
		return fmt.Errorf("no authorization rule for %s: every registered RPC needs one in the service's Spec.Rules", strings.Join(missing, ", "))
	}
	rt.Go(rt.Relay.Run)
	rt.Go(func(ctx context.Context) error { return pruneIdempotencyKeys(ctx, pool, log) })

	lis, err := net.Listen("tcp", c.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.GRPCAddr, err)
	}
	metrics := startMetrics(c.MetricsAddr, c.Pprof, log)
	defer metrics.Close()

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for _, w := range rt.workers {
		workers.Go(func() {
			if err := w(workCtx); err != nil {
				log.Error("background worker stopped", "error", err)
			}
		})
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	healthSrv.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	log.Info("serving", "grpc", lis.Addr().String(), "metrics", c.MetricsAddr, "modules", c.Modules.String())
	if spec.Ready != nil {
		spec.Ready(lis.Addr())
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopWork()
		workers.Wait()
		return fmt.Errorf("grpc server: %w", err)
	}
	log.Info("shutting down")
	healthSrv.Shutdown()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(c.ShutdownTimeout):
		log.Warn("graceful stop timed out; closing remaining calls")
		srv.Stop()
	}
	stopWork()
	workers.Wait()
	// One last pass so events committed by the final requests go out now
	// rather than at the next start.
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelFlush()
	_, _ = rt.Relay.RelayOnce(flushCtx, 1000)
	_ = nc.Drain()
	return nil
}

// Migrate prepares the service's database and returns: with
// DatabaseAdminURL set, it provisions the role and schema, then it applies
// the migrations as the service's role (the `<service> migrate` command,
// run before the service starts, e.g. as a Kubernetes init container that
// alone holds the admin credentials).
func Migrate(ctx context.Context, c Config, log *slog.Logger, spec Spec) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pool, err := openDatabase(ctx, c, log, spec)
	if err != nil {
		return err
	}
	pool.Close()
	log.Info("database ready", "schema", spec.Schema)
	return nil
}

// openDatabase bootstraps the role and schema when it has the admin URL,
// connects as the service's role and migrates.
func openDatabase(ctx context.Context, c Config, log *slog.Logger, spec Spec) (*pgxpool.Pool, error) {
	if c.DatabaseAdminURL != "" {
		if err := pg.Bootstrap(ctx, c.DatabaseAdminURL, c.DatabaseURL, spec.Schema, spec.Extensions...); err != nil {
			return nil, err
		}
	}
	pcfg := pg.PoolConfig{URL: c.DatabaseURL, Schema: spec.Schema, MaxConns: int32(c.DBMaxConns), ApplicationName: c.Name}
	if c.TracerProvider != nil {
		// Queries are traced only inside a recording span (a call, an
		// event, a publish): the relay's and timers' polling makes none.
		// Pool waits show as the gap before a query, not as spans of
		// their own; the connection's details (address, database, role)
		// are the service's configuration, not repeated on every span.
		pcfg.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(c.TracerProvider),
			otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()), otelpgx.WithDisableAcquireTracer(),
			otelpgx.WithDisableConnectionDetailsInAttributes())
	}
	pool, err := pg.Connect(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	var role string
	var super bool
	if err := pool.QueryRow(ctx, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&role, &super); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pg: who am I: %w", err)
	}
	if super {
		log.Warn("connected to Postgres as a superuser", "role", role,
			"hint", "the service can read and change every schema: give it a role of its own (DATABASE_ADMIN_URL provisions one)")
	}
	sets := append(append([]pg.MigrationSet{pg.PlatformMigrations()}, spec.SharedMigrations...),
		pg.MigrationSet{Name: spec.Schema, FS: spec.Migrations, Extensions: spec.Extensions})
	if err := pg.Migrate(ctx, pool, spec.Schema, sets...); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func startMetrics(addr string, pprofOn bool, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if addr == "" || addr == "off" {
		return srv
	}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "error", err)
		}
	}()
	return srv
}

// pruneIdempotencyKeys forgets request ids after a week: a client retrying
// later than that is not retrying.
func pruneIdempotencyKeys(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - interval '7 days'`); err != nil && ctx.Err() == nil {
				log.Warn("prune idempotency keys", "error", err)
			}
		}
	}
}
