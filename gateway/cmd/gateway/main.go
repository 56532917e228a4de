// Command gateway is the REST/JSON entry point of the CRM suite: it
// translates HTTP calls into gRPC calls to the services (grpc-gateway) and
// serves the OpenAPI document, health and readiness.
package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crmsuite/crm/gateway/internal/server"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/logx"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/platform/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx)
	logx.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var env config.Env
	addr := env.String("HTTP_ADDR", "127.0.0.1:8080")
	// Only the modules that run are upstreams (dialled, checked for
	// readiness); the others' routes answer 501 MODULE_DISABLED, and their
	// addresses, if set, are not used.
	mods, modsErr := modules.Parse(env.String("MODULES", ""))
	defaultAddrs := map[string]string{"lead": "127.0.0.1:9101", "account": "127.0.0.1:9102",
		"opportunity": "127.0.0.1:9103", "order": "127.0.0.1:9104", "workflow": "127.0.0.1:9105"}
	upstreamAddrs := map[string]string{}
	for _, name := range mods.List() {
		upstreamAddrs[name] = env.String(strings.ToUpper(name)+"_GRPC_ADDR", defaultAddrs[name])
	}
	cfg := server.Config{
		MaxBodyBytes:    int64(env.Int("MAX_BODY_BYTES", 1<<20)),
		UpstreamTimeout: env.Duration("UPSTREAM_TIMEOUT", 10*time.Second),
		Pprof:           env.Bool("PPROF", false),
		CSVImport: server.CSVImportConfig{
			MaxBodyBytes: int64(env.Int("IMPORT_MAX_BODY_BYTES", 1<<30)),
			MaxRowBytes:  int64(env.Int("IMPORT_MAX_ROW_BYTES", 1<<20)),
		},
		// Per caller (bearer token, else client IP); RATE_LIMIT_RPS=0
		// disables. See server.RateLimitConfig.
		RateLimit: server.RateLimitConfig{
			Burst:      env.Int("RATE_LIMIT_BURST", 100),
			MaxCallers: env.Int("RATE_LIMIT_CALLERS", 100000),
		},
		// All requests from one client address, whatever their tokens.
		AddressRateLimit: server.RateLimitConfig{
			Burst:      env.Int("RATE_LIMIT_ADDRESS_BURST", 1000),
			MaxCallers: env.Int("RATE_LIMIT_CALLERS", 100000),
		},
		// Public web-form submissions: per form and client IP. See
		// server.WebFormConfig.
		WebForm: server.WebFormConfig{
			MaxBodyBytes: int64(env.Int("WEBFORM_MAX_BODY_BYTES", 64<<10)),
			RateLimit: server.RateLimitConfig{
				Burst:      env.Int("WEBFORM_RATE_LIMIT_BURST", 5),
				MaxCallers: env.Int("RATE_LIMIT_CALLERS", 100000),
			},
			FormRateLimit: server.RateLimitConfig{
				Burst:      env.Int("WEBFORM_FORM_RATE_LIMIT_BURST", 30),
				MaxCallers: env.Int("RATE_LIMIT_CALLERS", 100000),
			},
		},
	}
	cfgErrs := []error{modsErr}
	rate := func(name, def string, burst int) float64 {
		rps, err := strconv.ParseFloat(env.String(name, def), 64)
		switch {
		case err != nil:
			cfgErrs = append(cfgErrs, fmt.Errorf("%s: %q is not a number", name, os.Getenv(name)))
		case rps < 0 || math.IsNaN(rps) || math.IsInf(rps, 0):
			cfgErrs = append(cfgErrs, fmt.Errorf("%s: %v is not a rate (0 disables)", name, rps))
		case rps > 0 && burst < 1:
			cfgErrs = append(cfgErrs, fmt.Errorf("%s_BURST: %d, must be at least 1", strings.TrimSuffix(name, "_RPS"), burst))
		}
		return rps
	}
	cfg.RateLimit.RPS = rate("RATE_LIMIT_RPS", "50", cfg.RateLimit.Burst)
	cfg.AddressRateLimit.RPS = rate("RATE_LIMIT_ADDRESS_RPS", "500", cfg.AddressRateLimit.Burst)
	cfg.WebForm.RateLimit.RPS = rate("WEBFORM_RATE_LIMIT_RPS", "0.1", cfg.WebForm.RateLimit.Burst)
	cfg.WebForm.FormRateLimit.RPS = rate("WEBFORM_FORM_RATE_LIMIT_RPS", "1", cfg.WebForm.FormRateLimit.Burst)
	var err error
	if cfg.RateLimit.MaxCallers < 1 {
		cfgErrs = append(cfgErrs, fmt.Errorf("RATE_LIMIT_CALLERS: %d, must be at least 1", cfg.RateLimit.MaxCallers))
	}
	if cfg.RateLimit.TrustedProxies, err = server.ParseTrustedProxies(env.String("TRUSTED_PROXIES", "")); err != nil {
		cfgErrs = append(cfgErrs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	shutdownTimeout := env.Duration("SHUTDOWN_TIMEOUT", 20*time.Second)
	level, format := env.String("LOG_LEVEL", "info"), env.String("LOG_FORMAT", "json")
	if err := errors.Join(append([]error{env.Err()}, cfgErrs...)...); err != nil {
		return err
	}
	log := logx.New("gateway", level, format)
	tp, shutdownTracing, err := tracing.Setup(ctx, "gateway", log)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(ctx); err != nil {
			log.Warn("tracing shutdown", "error", err)
		}
	}()
	cfg.TracerProvider = tp

	var upstreams []server.Upstream
	for name, target := range upstreamAddrs {
		conn, err := grpc.NewClient(target, append([]grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			// Spread calls over every replica the name resolves to.
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		}, server.DialOptions(tp)...)...)
		if err != nil {
			return fmt.Errorf("dial %s at %s: %w", name, target, err)
		}
		defer conn.Close()
		upstreams = append(upstreams, server.Upstream{Name: name, Conn: conn})
	}
	handler, err := server.New(ctx, cfg, log, upstreams)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("serving", "http", lis.Addr().String(), "upstreams", upstreamAddrs, "modules_disabled", mods.Absent(),
		"rate_limit_rps", cfg.RateLimit.RPS, "rate_limit_burst", cfg.RateLimit.Burst,
		"webform_rate_limit_rps", cfg.WebForm.RateLimit.RPS, "webform_rate_limit_burst", cfg.WebForm.RateLimit.Burst)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
