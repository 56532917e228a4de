// Command account runs the account service: customer accounts, their
// addresses and contacts, over gRPC, with every change published on NATS,
// and the accounts and contacts of converted leads.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crmsuite/crm/platform/logx"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/account/internal/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx)
	logx.Flush()
	if err != nil {
		fmt.Fprintln(os.Stderr, "account:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := service.LoadConfig("account", 9102, 9202)
	if err != nil {
		return err
	}
	return service.Run(ctx, cfg, service.NewLogger(cfg), wire.Spec())
}
