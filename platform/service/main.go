package service

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crmsuite/crm/platform/logx"
)

// Main is a service process's whole main: configuration from the
// environment (local default ports grpcPort and metricsPort), a graceful
// shutdown on SIGINT or SIGTERM, logs flushed, exit status 1 with the
// reason on stderr when the service fails. `<name> migrate` prepares the
// database (Migrate) and exits instead of serving.
func Main(name string, grpcPort, metricsPort int, spec Spec) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := func() error {
		run := Run
		switch args := os.Args[1:]; {
		case len(args) == 1 && args[0] == "migrate":
			run = Migrate
		case len(args) > 0:
			return fmt.Errorf("usage: %s [migrate]", name)
		}
		cfg, err := LoadConfig(name, grpcPort, metricsPort)
		if err != nil {
			return err
		}
		return run(ctx, cfg, NewLogger(cfg), spec)
	}()
	stop()
	logx.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
