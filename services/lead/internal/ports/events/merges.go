package events

import (
	"context"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/recordmerge"
	"github.com/crmsuite/crm/services/lead/internal/app"
)

// Merges returns the durable consumer that re-points converted leads'
// back-links at the survivors of account and contact merges.
func Merges(ns string, svc *app.Service) *inbox.Consumer {
	return &inbox.Consumer{
		Name:     "lead-account-merges",
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
