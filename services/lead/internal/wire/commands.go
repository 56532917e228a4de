package wire

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/lead/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/lead/internal/app"
)

// Commands are the lead service's one-off tasks (`lead <command>`).
var Commands = map[string]service.Command{
	"export-activities": {
		Usage: "[-page-size 1000] [-all] (carry the lead activities over to the workflow service; safe to run again)",
		Run:   exportActivities,
	},
}

// exportActivities carries the activities the lead service kept over to
// the workflow service (app.Service.ExportActivities), publishing them
// itself, so it completes with no serving replica.
func exportActivities(ctx context.Context, rt *service.Runtime, args []string) error {
	flags := flag.NewFlagSet("export-activities", flag.ContinueOnError)
	pageSize := flags.Int("page-size", 1000, "activities exported per transaction, 1 to 10000")
	all := flags.Bool("all", false, "export the activities exported before too (with the same event ids)")
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
	n, err := app.New(repo).ExportActivities(ctx, app.ExportOptions{
		PageSize: *pageSize, All: *all,
		Publish:  func(ctx context.Context) error { return publishExported(ctx, rt, repo) },
		Progress: func(total int) { rt.Logger.Info("exporting activities", "exported", total) },
	})
	if err != nil {
		rt.Logger.Error("activity export broke off: run it again to go on", "exported", n, "error", err)
		return err
	}
	rt.Logger.Info("activities exported", "exported", n, "all", *all, "elapsed", time.Since(started).Round(time.Millisecond))
	return nil
}

// publishExported relays the outbox until no exported activity waits in
// it. A serving replica's relay may hold the outbox meanwhile and publish
// them itself; NATS failing several times in a row stops the export (the
// events wait in the outbox for the next run or relay).
func publishExported(ctx context.Context, rt *service.Runtime, repo *postgres.Repo) error {
	backoff, failures := 100*time.Millisecond, 0
	for {
		n, err := rt.Relay.RelayOnce(ctx, 1000)
		switch {
		case err != nil:
			if failures++; failures == 5 {
				return fmt.Errorf("publish exported activities: %w", err)
			}
			rt.Logger.Warn("publish exported activities: will retry", "error", err, "retry_in", backoff)
		case n > 0:
			backoff, failures = 100*time.Millisecond, 0
			continue
		default:
			pending, err := repo.ActivityEventsPending(ctx)
			if err != nil || !pending {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
