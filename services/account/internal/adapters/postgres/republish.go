package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/account/internal/domain"
	"github.com/crmsuite/crm/services/account/internal/protomap"
)

// RepublishPage writes, in one transaction, an AccountSnapshot (collection
// "accounts") or ContactSnapshot ("contacts") outbox row for each of the
// next limit records after id after (in id order), and returns how many
// and the last id; 0 when none is left.
func (r *Repo) RepublishPage(ctx context.Context, collection string, after uuid.UUID, limit int) (int, uuid.UUID, error) {
	last := after
	var msgs []outbox.Message
	err := r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		var rows pgx.Rows
		var err error
		if collection == "accounts" {
			rows, err = q.Query(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id > $1 ORDER BY a.id LIMIT $2`, after, limit)
		} else {
			rows, err = q.Query(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
		}
		if err != nil {
			return fmt.Errorf("republish %s: %w", collection, err)
		}
		defer rows.Close()
		now := time.Now().UTC()
		for rows.Next() {
			var id uuid.UUID
			var m proto.Message
			if collection == "accounts" {
				a, err := scanAccount(rows)
				if err != nil {
					return err
				}
				id = a.ID
				m, err = protomap.AccountEvent(events.NewMeta(ctx, "", now), a, domain.AccountSnapshotted{})
				if err != nil {
					return err
				}
			} else {
				c, err := scanContact(rows)
				if err != nil {
					return err
				}
				id = c.ID
				m, err = protomap.ContactEvent(events.NewMeta(ctx, "", now), c, domain.ContactSnapshotted{})
				if err != nil {
					return err
				}
			}
			msg, err := r.outbox.Message(ctx, id.String(), m)
			if err != nil {
				return err
			}
			msgs, last = append(msgs, msg), id
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return outbox.Append(ctx, q, msgs...)
	})
	if err != nil {
		return 0, after, err
	}
	return len(msgs), last, nil
}
