package postgres

import (
	"context"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/recordmerge"
)

// Repoint implements app.Repository: one statement, whatever the number
// of opportunities; each moved one gets a new version (its etag changes)
// and an audit entry.
func (r *Repo) Repoint(ctx context.Context, m recordmerge.Merge) (int, error) {
	col, message := "account_id", func(name string, ref uuid.UUID) proto.Message {
		return &opportunityv1.Opportunity{Name: name, Account: "accounts/" + ref.String()}
	}
	if m.Kind == recordmerge.Contacts {
		col, message = "contact_id", func(name string, ref uuid.UUID) proto.Message {
			return &opportunityv1.Opportunity{Name: name, PrimaryContact: "contacts/" + ref.String()}
		}
	}
	return recordmerge.RepointTable(ctx, pg.Q(ctx, r.pool), "opportunities", col, "opportunities", m, message)
}
