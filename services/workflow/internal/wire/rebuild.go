package wire

import (
	"context"
	"fmt"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	eventport "github.com/crmsuite/crm/services/workflow/internal/ports/events"
)

// RebuildProjection is `workflow rebuild-projection`: it replays the lead,
// account, opportunity and order streams from their first event into the
// projection of records. Every record is first marked as set by no event,
// so each event the streams hold applies again in order; an event the
// live consumers apply meanwhile is newer and wins, as always. Records
// whose events the streams no longer hold (older than their retention)
// keep what they had. Rules do not run again; activities carried over
// from the lead service are inserted by id (none twice). Safe to run
// while the service serves, and to run again.
var RebuildProjection = service.Command{
	Usage: "(replay the lead, account, opportunity and order streams into the projection of records)",
	Run: func(ctx context.Context, rt *service.Runtime, _ []string) error {
		repo := postgres.New(rt.Pool, rt.Outbox, rt.PageCodec())
		svc := app.New(repo, nil)
		if err := repo.ForgetRecordPositions(ctx); err != nil {
			return err
		}
		total := 0
		for _, stream := range []string{"lead", "account", "opportunity", "order"} {
			n, err := eventport.Replay(ctx, rt.JS, events.StreamName(rt.Config.EventsNamespace, stream), svc.ProjectEvent)
			if err != nil {
				return err
			}
			rt.Logger.Info("replayed", "stream", stream, "events", n)
			total += n
		}
		fmt.Printf("rebuilt the projection from %d events\n", total)
		return nil
	},
}
