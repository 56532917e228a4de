package wire

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/account/internal/adapters/postgres"
)

// Commands are the account service's one-off tasks (`account <command>`).
var Commands = map[string]service.Command{
	"republish-customers": {
		Usage: "[-page-size 1000] (publish every account and contact as it is, AccountSnapshot and ContactSnapshot, " +
			"for projections started after their last change, e.g. the lead service's duplicate keys; safe to run again)",
		Run: republishCustomers,
	},
}

// republishCustomers writes a snapshot event of every account, then every
// contact, into the outbox a page per transaction, and relays each page
// itself, so it completes with no serving replica. Consumers keyed by the
// records' versions (the lead service's) change nothing for what they know.
func republishCustomers(ctx context.Context, rt *service.Runtime, args []string) error {
	flags := flag.NewFlagSet("republish-customers", flag.ContinueOnError)
	pageSize := flags.Int("page-size", 1000, "records per transaction, 1 to 10000")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	if *pageSize < 1 || *pageSize > 10000 {
		return fmt.Errorf("-page-size %d: want 1 to 10000", *pageSize)
	}
	repo := postgres.New(rt.Pool, rt.Outbox, paging.NewCodec([]byte(rt.Config.PageTokenSecret)), "")
	started := time.Now()
	total := 0
	for _, collection := range []string{"accounts", "contacts"} {
		after := uuid.Nil
		for {
			n, last, err := repo.RepublishPage(ctx, collection, after, *pageSize)
			if err != nil {
				rt.Logger.Error("republishing broke off: run it again", "collection", collection, "republished", total, "error", err)
				return err
			}
			if n == 0 {
				break
			}
			if err := relayAll(ctx, rt); err != nil {
				return err
			}
			total, after = total+n, last
			rt.Logger.Info("republishing customers", "collection", collection, "republished", total)
		}
	}
	rt.Logger.Info("customers republished", "republished", total, "elapsed", time.Since(started).Round(time.Millisecond))
	return nil
}

// relayAll publishes the outbox until it is empty; NATS failing five times
// in a row stops the command (the events wait for the next run or relay).
func relayAll(ctx context.Context, rt *service.Runtime) error {
	backoff, failures := 100*time.Millisecond, 0
	for {
		n, err := rt.Relay.RelayOnce(ctx, 1000)
		switch {
		case err != nil:
			if failures++; failures == 5 {
				return fmt.Errorf("publish snapshots: %w", err)
			}
			rt.Logger.Warn("publish snapshots: will retry", "error", err, "retry_in", backoff)
		case n > 0:
			backoff, failures = 100*time.Millisecond, 0
			continue
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
