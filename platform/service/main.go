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
// reason on stderr when the service fails.
func Main(name string, grpcPort, metricsPort int, spec Spec) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := func() error {
		cfg, err := LoadConfig(name, grpcPort, metricsPort)
		if err != nil {
			return err
		}
		return Run(ctx, cfg, NewLogger(cfg), spec)
	}()
	stop()
	logx.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
