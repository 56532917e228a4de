package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

// errMergedMeanwhile: a lead of the page was merged between finding the
// leads the page's activities belong to and locking them.
var errMergedMeanwhile = errors.New("a lead was merged during the export of its activities")

// maxMergeDepth bounds how far an activity's lead is followed into the
// leads it was merged into (a primary can be merged into another later).
const maxMergeDepth = 32

// ExportActivities implements app.Repository.
func (r *Repo) ExportActivities(ctx context.Context, after uuid.UUID, limit int, all bool) (int, uuid.UUID, error) {
	for attempt := 1; ; attempt++ {
		n, last, err := r.exportActivities(ctx, after, limit, all)
		if errors.Is(err, errMergedMeanwhile) && attempt < 5 {
			continue
		}
		return n, last, err
	}
}

func (r *Repo) exportActivities(ctx context.Context, after uuid.UUID, limit int, all bool) (n int, last uuid.UUID, err error) {
	err = pg.InTx(ctx, r.pool, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		// One export at a time, so that two runs never send a page twice.
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('export-activities:' || current_schema()))`); err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT id, lead_id FROM activities
			WHERE id > $1 AND ($3 OR exported_at IS NULL) ORDER BY id LIMIT $2`, after, limit, all)
		if err != nil {
			return fmt.Errorf("export activities: %w", err)
		}
		var ids, leadIDs []uuid.UUID
		for rows.Next() {
			var id, lead uuid.UUID
			if err := rows.Scan(&id, &lead); err != nil {
				rows.Close()
				return err
			}
			ids, leadIDs = append(ids, id), append(leadIDs, lead)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		last = ids[len(ids)-1]
		// Find the leads (and those they were merged into), then lock them
		// all at once, in id order like every multi-lead write, so that no
		// write of them commits between reading them and publishing their
		// state: per lead, the outbox keeps the commit order.
		found, err := leadsAndPrimaries(ctx, q, leadIDs)
		if err != nil {
			return err
		}
		leads, err := readLeads(ctx, q, slices.Collect(maps.Keys(found)), " FOR SHARE")
		if err != nil {
			return err
		}
		for _, l := range leads {
			if l.Status == domain.StatusMerged && leads[l.MergedInto] == nil {
				return errMergedMeanwhile
			}
		}
		// Activities whose lead was deleted meanwhile are gone (the
		// locks keep the rest).
		acts, err := q.Query(ctx, `WITH exported AS (UPDATE activities SET exported_at = coalesce(exported_at, now())
			WHERE id = ANY($1) RETURNING `+activityColumns+`) SELECT * FROM exported ORDER BY id`, ids)
		if err != nil {
			return fmt.Errorf("export activities: %w", err)
		}
		var page []domain.Activity
		for acts.Next() {
			a, err := scanActivity(acts)
			if err != nil {
				acts.Close()
				return err
			}
			page = append(page, a)
		}
		acts.Close()
		if err := acts.Err(); err != nil {
			return err
		}
		msgs := make([]outbox.Message, 0, len(page))
		for _, a := range page {
			l := survivor(leads, a.LeadID)
			if l == nil {
				return fmt.Errorf("export activities: lead %s of activity %s not found", a.LeadID, a.ID)
			}
			a.LeadID = l.ID
			// The same id, time and actor on every export: exporting
			// again publishes nothing new.
			meta := &eventsv1.EventMeta{
				EventId:   events.LeadActivityEventID(a.ID).String(),
				OccurTime: timestamppb.New(a.CreatedAt),
				Actor:     a.Author,
			}
			ev, err := protomap.Event(meta, l, domain.ActivityLogged{Activity: a})
			if err != nil {
				return err
			}
			msg, err := r.outbox.Message(ctx, l.ID.String(), ev)
			if err != nil {
				return err
			}
			msgs = append(msgs, msg)
		}
		n = len(msgs)
		return outbox.Append(ctx, q, msgs...)
	})
	return n, last, err
}

// ActivityEventsPending reports whether LeadActivityLogged events wait in
// the outbox (only the export writes them).
func (r *Repo) ActivityEventsPending(ctx context.Context) (bool, error) {
	var pending bool
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE event_type = $1)`,
		string((&eventsv1.LeadActivityLogged{}).ProtoReflect().Descriptor().FullName())).Scan(&pending)
	return pending, err
}

// leadsAndPrimaries reads the leads ids and, transitively, the leads the
// merged ones among them were merged into.
func leadsAndPrimaries(ctx context.Context, q pg.Querier, ids []uuid.UUID) (map[uuid.UUID]*domain.Lead, error) {
	out := map[uuid.UUID]*domain.Lead{}
	for depth := 0; len(ids) > 0 && depth <= maxMergeDepth; depth++ {
		found, err := readLeads(ctx, q, ids, "")
		if err != nil {
			return nil, err
		}
		maps.Copy(out, found)
		ids = nil
		for _, l := range found {
			if l.Status == domain.StatusMerged && out[l.MergedInto] == nil && !slices.Contains(ids, l.MergedInto) {
				ids = append(ids, l.MergedInto)
			}
		}
	}
	return out, nil
}

// readLeads reads the leads ids, in id order, with lock appended to the
// query.
func readLeads(ctx context.Context, q pg.Querier, ids []uuid.UUID, lock string) (map[uuid.UUID]*domain.Lead, error) {
	rows, err := q.Query(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = ANY($1) ORDER BY id`+lock, ids)
	if err != nil {
		return nil, fmt.Errorf("export activities: leads: %w", err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID]*domain.Lead, len(ids))
	for rows.Next() {
		l, err := scanLead(rows)
		if err != nil {
			return nil, err
		}
		out[l.ID] = l
	}
	return out, rows.Err()
}

// survivor is lead id, or, if it was merged, the lead it lives on in.
func survivor(leads map[uuid.UUID]*domain.Lead, id uuid.UUID) *domain.Lead {
	l := leads[id]
	for range maxMergeDepth {
		if l == nil || l.Status != domain.StatusMerged || leads[l.MergedInto] == nil {
			break
		}
		l = leads[l.MergedInto]
	}
	return l
}

const activityColumns = `id, lead_id, type, subject, body, direction, duration, occur_at, author, created_at`

func scanActivity(row pgx.Row) (domain.Activity, error) {
	var a domain.Activity
	var typ, dir string
	var dur *time.Duration
	if err := row.Scan(&a.ID, &a.LeadID, &typ, &a.Subject, &a.Body, &dir, &dur, &a.OccurAt, &a.Author, &a.CreatedAt); err != nil {
		return domain.Activity{}, err
	}
	a.Type, a.Direction = domain.ActivityType(typ), domain.Direction(dir)
	if dur != nil {
		a.Duration = *dur
	}
	utc(&a.OccurAt, &a.CreatedAt)
	return a, nil
}
