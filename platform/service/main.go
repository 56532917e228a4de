package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/crmsuite/crm/platform/logx"
	"github.com/crmsuite/crm/platform/tracing"
)

// Main is a service process's whole main: configuration from the
// environment (local default ports grpcPort and metricsPort), a graceful
// shutdown on SIGINT or SIGTERM, logs flushed, exit status 1 with the
// reason on stderr when the service fails. `<name> migrate` prepares the
// database (Migrate) and exits instead of serving; `<name> <command>`
// runs one of spec.Commands.
func Main(name string, grpcPort, metricsPort int, spec Spec) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := func() error {
		run := Run
		switch args := os.Args[1:]; {
		case len(args) == 1 && args[0] == "migrate":
			run = Migrate
		case len(args) > 0 && spec.Commands[args[0]].Run != nil:
			run = func(ctx context.Context, c Config, log *slog.Logger, spec Spec) error {
				return RunCommand(ctx, c, log, spec, args[0], args[1:])
			}
		case len(args) > 0:
			return fmt.Errorf("usage: %s [%s]", name, strings.Join(usage(spec), " | "))
		}
		cfg, err := LoadConfig(name, grpcPort, metricsPort)
		if err != nil {
			return err
		}
		log := NewLogger(cfg)
		tp, shutdown, err := tracing.Setup(ctx, name, log)
		if err != nil {
			return err
		}
		cfg.TracerProvider = tp
		defer func() {
			// Flush the spans still queued, briefly: a collector that is
			// away must not hold up the exit.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				log.Warn("tracing shutdown", "error", err)
			}
		}()
		return run(ctx, cfg, log, spec)
	}()
	stop()
	logx.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// usage lists the commands Main takes.
func usage(spec Spec) []string {
	out := []string{"migrate"}
	names := make([]string, 0, len(spec.Commands))
	for n := range spec.Commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, n+" "+spec.Commands[n].Usage)
	}
	return out
}
