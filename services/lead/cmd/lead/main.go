// Command lead runs the lead service: leads, their lifecycle and their
// communication history, over gRPC, with every change published on NATS.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crmsuite/crm/platform/logx"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx)
	logx.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lead:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := service.LoadConfig("lead", 9101, 9201)
	if err != nil {
		return err
	}
	return service.Run(ctx, cfg, service.NewLogger(cfg), wire.Spec())
}
