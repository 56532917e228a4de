package events

import (
	"context"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/recordmerge"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
)

// MergesConsumer is the durable consumer of the account service's merge
// events (AccountsMerged, ContactsMerged).
const MergesConsumer = "opportunity-account-merges"

// Merges returns the consumer that re-points opportunities at the
// survivors of account and contact merges.
func Merges(ns string, svc *app.Service) *inbox.Consumer {
	return &inbox.Consumer{
		Name:     MergesConsumer,
		Stream:   events.StreamName(ns, "account"),
		Subjects: recordmerge.Subjects(ns),
		Handler: func(ctx context.Context, m inbox.Message) error {
			merge, err := recordmerge.Decode(m)
			if err != nil {
				return err
			}
			return svc.RecordsMerged(ctx, merge)
		},
	}
}
