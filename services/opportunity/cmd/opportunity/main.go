// Command opportunity runs the opportunity service: pipelines,
// opportunities and their stage history, loss reasons, the forecast and
// sales performance, over gRPC, with every change published on NATS, and
// the opportunities of converted leads.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crmsuite/crm/platform/logx"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/opportunity/internal/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx)
	logx.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, "opportunity:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := service.LoadConfig("opportunity", 9103, 9203)
	if err != nil {
		return err
	}
	return service.Run(ctx, cfg, service.NewLogger(cfg), wire.Spec())
}
