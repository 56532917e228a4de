// Package conversion is the services' shared side of a lead conversion:
// the lead service commits LeadQualified and every service that applies
// a part of it (account, opportunity, order) tells the lead service when
// it cannot, with LeadConversionRejected on its own stream.
package conversion

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
)

// RejectionHook returns the OnDeadLetter hook of a consumer of
// LeadQualified events: for a dead-lettered event it writes
// LeadConversionRejected to this service's outbox, so the lead service
// marks the conversion FAILED with the reason instead of leaving it
// PENDING. The reason's code is the dead-letter reason up to its first
// colon when that is an UPPER_SNAKE code ("ACCOUNT_NOT_FOUND: ..."), else
// CONVERSION_FAILED. The event's id derives from the LeadQualified's and
// is recorded in the inbox under marker, so a repeated hook publishes
// nothing twice.
func RejectionHook(pool *pgxpool.Pool, ow outbox.Writer, marker string) func(ctx context.Context, m inbox.Message, reason string) error {
	return func(ctx context.Context, m inbox.Message, reason string) error {
		var ev eventsv1.LeadQualified
		if proto.Unmarshal(m.Data, &ev) != nil || ev.GetLeadId() == "" {
			return nil // nothing to tell whom
		}
		code, _, ok := strings.Cut(reason, ":")
		if !ok || code == "" || strings.ToUpper(code) != code || strings.ContainsAny(code, " \t") {
			code = "CONVERSION_FAILED"
		}
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(m.EventID+"rejected"))
		return pg.InTx(ctx, pool, func(ctx context.Context) error {
			q := pg.Q(ctx, pool)
			tag, err := q.Exec(ctx, `INSERT INTO inbox (consumer, event_id, subject) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				marker, id, "lead_conversion_rejected")
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			actor := ev.GetMeta().GetActor()
			if actor == "" {
				actor = auth.Anonymous
			}
			ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
			meta := events.NewMeta(ctx, m.EventID, ev.GetMeta().GetOccurTime().AsTime())
			meta.EventId, meta.OccurTime = id.String(), timestamppb.Now()
			msg, err := ow.Message(ctx, ev.GetLeadId(), &eventsv1.LeadConversionRejected{
				Meta: meta, LeadId: ev.GetLeadId(), Reason: code, Message: reason, QualifiedEventId: m.EventID,
			})
			if err != nil {
				return err
			}
			return outbox.Append(ctx, q, msg)
		})
	}
}
