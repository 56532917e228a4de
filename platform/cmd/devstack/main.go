// Command devstack runs the whole suite on one machine for development
// (`make run`): PostgreSQL and NATS JetStream, unless DATABASE_ADMIN_URL
// (or DATABASE_URL) and NATS_URL point at running ones, then every service
// and the gateway as separate processes, as they run in production. Data
// lives under DATA_DIR (default .data), so a restart keeps it. Ctrl-C stops
// everything.
//
// MODULES (default all) names the modules to run, e.g. account,workflow:
// devstack starts only their services, and tells them and the gateway
// which run (platform/modules).
//
// Each service gets a Postgres role of its own (crm_<name>, a random
// password kept in DATA_DIR): `<name> migrate` provisions it with the admin
// URL, as the Kubernetes init container does, then the service runs with
// its own role's URL only.
//
// Services authenticate every call with bearer tokens signed (HS256) by a
// random development key kept in DATA_DIR/dev-signing-key; bin/devtoken
// mints tokens with it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/localnats"
	"github.com/crmsuite/crm/platform/localpg"
	"github.com/crmsuite/crm/platform/modules"
	pgpkg "github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/procs"
)

// service is one suite process devstack starts, with its default local
// ports; <NAME>_GRPC_ADDR and <NAME>_METRICS_ADDR override them.
type service struct {
	name                  string
	grpcPort, metrics     int
	grpcAddr, metricsAddr string
	// publicURL: the service links to itself through the gateway
	// (PUBLIC_BASE_URL, the gateway's http URL).
	publicURL bool
}

// allServices of the suite, one per module, with their local ports,
// started in this order (each once its gRPC port listens) and stopped in
// the reverse one: a service after those it calls. Each tolerates the
// others being down.
var allServices = []service{
	{name: "lead", grpcPort: 9101, metrics: 9201},
	{name: "account", grpcPort: 9102, metrics: 9202},
	{name: "opportunity", grpcPort: 9103, metrics: 9203},
	{name: "order", grpcPort: 9104, metrics: 9204},
	// Calls all four above (reads the records activities regard, updates
	// those its rules change) and links calendar items to the gateway.
	{name: "workflow", grpcPort: 9105, metrics: 9205, publicURL: true},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

// selectServices returns the services of the modules MODULES (value)
// names, in start order, and the modules.
func selectServices(value string) ([]service, modules.Set, error) {
	mods, err := modules.Parse(value)
	if err != nil {
		return nil, mods, err
	}
	var out []service
	for _, s := range allServices {
		if mods.Has(s.name) {
			out = append(out, s)
		}
	}
	return out, mods, nil
}

func run(ctx context.Context) error {
	var env config.Env
	services, mods, err := selectServices(env.String("MODULES", ""))
	if err != nil {
		return err
	}
	dataDir := env.String("DATA_DIR", ".data")
	binDir := env.String("BIN_DIR", "bin")
	host := env.String("HOST", "127.0.0.1")
	httpAddr := env.String("HTTP_ADDR", host+":8080")
	pgPort := env.Int("PG_PORT", 55432)
	natsPort := env.Int("NATS_PORT", 4222)
	adminURL := env.Secret("DATABASE_ADMIN_URL", env.Secret("DATABASE_URL", ""))
	natsURL := env.String("NATS_URL", "")
	if err := env.Err(); err != nil {
		return err
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	out := os.Stdout

	if adminURL == "" {
		fmt.Fprintf(out, "devstack| starting PostgreSQL on 127.0.0.1:%d (data in %s)\n", pgPort, filepath.Join(dataDir, "postgres"))
		pg, err := localpg.Start(ctx, localpg.Options{DataDir: filepath.Join(dataDir, "postgres"), Port: pgPort})
		if err != nil {
			return err
		}
		defer pg.Stop() //nolint:errcheck
		if adminURL, err = ensureDatabase(ctx, pg.URL, "crm"); err != nil {
			return err
		}
	}
	if natsURL == "" {
		fmt.Fprintf(out, "devstack| starting NATS JetStream on 127.0.0.1:%d (data in %s)\n", natsPort, filepath.Join(dataDir, "nats"))
		ns, err := localnats.Start(localnats.Options{StoreDir: filepath.Join(dataDir, "nats"), Port: natsPort})
		if err != nil {
			return err
		}
		defer ns.Stop()
		natsURL = ns.URL
	}

	keyFile, err := devSigningKey(dataDir)
	if err != nil {
		return err
	}

	var running []*procs.Proc
	defer func() {
		// Gateway first, then services: the reverse of start order.
		for i := len(running) - 1; i >= 0; i-- {
			if err := running[i].Stop(25 * time.Second); err != nil {
				fmt.Fprintf(out, "devstack| %s: %v\n", running[i].Name, err)
			}
		}
	}()
	// Every service and the gateway learn which modules run and where
	// their services listen (<NAME>_GRPC_ADDR), since services call each
	// other too.
	upstreamEnv := []string{"MODULES=" + mods.String()}
	for i, s := range services {
		name := strings.ToUpper(s.name)
		services[i].grpcAddr = env.String(name+"_GRPC_ADDR", host+":"+strconv.Itoa(s.grpcPort))
		services[i].metricsAddr = env.String(name+"_METRICS_ADDR", host+":"+strconv.Itoa(s.metrics))
		upstreamEnv = append(upstreamEnv, name+"_GRPC_ADDR="+services[i].grpcAddr)
	}
	for _, s := range services {
		bin := filepath.Join(binDir, s.name)
		databaseURL, err := pgpkg.WithUser(adminURL, pgpkg.ServiceRole(s.name), localSecret(dataDir, "db-password-"+pgpkg.ServiceRole(s.name)))
		if err != nil {
			return err
		}
		migrate, err := procs.Start(s.name, bin, []string{"DATABASE_ADMIN_URL=" + adminURL, "DATABASE_URL=" + databaseURL,
			"LOG_FORMAT=" + env.String("LOG_FORMAT", "text")}, out, "migrate")
		if err != nil {
			return err
		}
		if <-migrate.Done(); migrate.Err() != nil {
			return fmt.Errorf("%s migrate: %v", s.name, migrate.Err())
		}
		procEnv := append([]string{
			"GRPC_ADDR=" + s.grpcAddr,
			"METRICS_ADDR=" + s.metricsAddr,
			"DATABASE_ADMIN_URL=",
			"DATABASE_URL=" + databaseURL,
			"NATS_URL=" + natsURL,
			"LOG_FORMAT=" + env.String("LOG_FORMAT", "text"),
			"GRPC_REFLECTION=true",
			"AUTH_MODE=token",
			"AUTH_ALGORITHMS=HS256",
			"AUTH_HS256_SECRET_FILE=" + keyFile,
			"PAGE_TOKEN_SECRET=" + pageTokenSecret(dataDir),
		}, upstreamEnv...)
		if s.publicURL {
			procEnv = append(procEnv, "PUBLIC_BASE_URL=http://"+httpAddr)
		}
		p, err := procs.Start(s.name, bin, procEnv, out)
		if err != nil {
			return err
		}
		running = append(running, p)
		if err := p.WaitTCP(s.grpcAddr, 2*time.Minute); err != nil {
			return err
		}
	}
	gw, err := procs.Start("gateway", filepath.Join(binDir, "gateway"),
		append(upstreamEnv, "HTTP_ADDR="+httpAddr, "LOG_FORMAT="+env.String("LOG_FORMAT", "text")), out)
	if err != nil {
		return err
	}
	running = append(running, gw)
	if err := waitReady(ctx, "http://"+httpAddr+"/readyz", gw); err != nil {
		return err
	}

	fmt.Fprintf(out, "\ndevstack| the CRM suite is up. Ctrl-C stops it.\n")
	if absent := mods.Absent(); len(absent) > 0 {
		fmt.Fprintf(out, "devstack|   MODULES=%s: not running %s (their routes answer 501 MODULE_DISABLED)\n", mods, strings.Join(absent, ", "))
	}
	fmt.Fprintf(out, "devstack|   REST gateway   http://%s   (OpenAPI: http://%s/openapi.json)\n", httpAddr, httpAddr)
	for _, s := range services {
		fmt.Fprintf(out, "devstack|   %-14s grpc %s   metrics http://%s/metrics\n", s.name, s.grpcAddr, s.metricsAddr)
	}
	fmt.Fprintf(out, "devstack|   PostgreSQL     %s (services as crm_<name>, passwords in %s/db-password-*)\n", redact(adminURL), dataDir)
	fmt.Fprintf(out, "devstack|   NATS           %s\n", natsURL)
	fmt.Fprintf(out, "devstack| every call needs a bearer token (roles: admin, manager, sales, ops):\n")
	fmt.Fprintf(out, "devstack|   TOKEN=$(%s -sub alice -roles sales%s)\n", filepath.Join(binDir, "devtoken"), secretFlag(keyFile))
	fmt.Fprintf(out, "devstack|   curl -H \"Authorization: Bearer $TOKEN\" http://%s/v1/leads\n\n", httpAddr)

	exited := make(chan *procs.Proc, len(running))
	for _, p := range running {
		go func() { <-p.Done(); exited <- p }()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "devstack| stopping")
		return nil
	case p := <-exited:
		return fmt.Errorf("%s exited: %v", p.Name, p.Err())
	}
}

func ensureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", err
		}
	}
	cfg := conn.Config()
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name), nil
}

// pageTokenSecret keeps one random secret per data dir, so page tokens
// survive restarts of `make run`.
func pageTokenSecret(dataDir string) string { return localSecret(dataDir, "page-token-secret") }

// localSecret returns the random secret kept in dataDir/name, made on
// first use.
func localSecret(dataDir, name string) string {
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return string(b)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret := hex.EncodeToString(b)
	_ = os.MkdirAll(dataDir, 0o700)
	_ = os.WriteFile(path, []byte(secret), 0o600)
	return secret
}

// devSigningKey returns the file of the development token signing key,
// writing a random one on first start.
func devSigningKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "dev-signing-key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return path, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev signing key: %w", err)
	}
	return path, nil
}

// secretFlag is the -secret-file flag devtoken needs for keyFile, or ""
// when its default (.data/dev-signing-key from here) finds it.
func secretFlag(keyFile string) string {
	if def, err := filepath.Abs(filepath.Join(".data", "dev-signing-key")); err == nil && def == keyFile {
		return ""
	}
	return " -secret-file " + keyFile
}

func waitReady(ctx context.Context, url string, gw *procs.Proc) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-gw.Done():
			return fmt.Errorf("gateway exited: %v", gw.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("gateway not ready after 2 minutes")
}

func redact(url string) string {
	if u, err := pgx.ParseConfig(url); err == nil {
		return fmt.Sprintf("postgres://%s@%s:%d/%s", u.User, u.Host, u.Port, u.Database)
	}
	return "(set)"
}
