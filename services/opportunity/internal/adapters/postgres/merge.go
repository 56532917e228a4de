package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/recordmerge"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
)

// Repoint implements app.Repository: one statement, whatever the number
// of opportunities; each moved one gets a new version (its etag changes)
// and an audit entry. A contact merge re-points the buying committees
// naming a merged contact too.
func (r *Repo) Repoint(ctx context.Context, m recordmerge.Merge) (int, error) {
	q := pg.Q(ctx, r.pool)
	col, message := "account_id", func(name string, ref uuid.UUID) proto.Message {
		return &opportunityv1.Opportunity{Name: name, Account: "accounts/" + ref.String()}
	}
	if m.Kind == recordmerge.Contacts {
		col, message = "contact_id", func(name string, ref uuid.UUID) proto.Message {
			return &opportunityv1.Opportunity{Name: name, PrimaryContact: "contacts/" + ref.String()}
		}
	}
	n, err := recordmerge.RepointTable(ctx, q, "opportunities", col, "opportunities", m, message)
	if err != nil || m.Kind != recordmerge.Contacts {
		return n, err
	}
	committees, err := r.repointCommittees(ctx, q, m)
	return n + committees, err
}

// repointCommittees puts the survivor in the merged contacts' place on
// every buying committee naming one (domain.RepointCommittee), each
// opportunity with a new version and an audit entry.
func (r *Repo) repointCommittees(ctx context.Context, q pg.Querier, m recordmerge.Merge) (int, error) {
	naming := make([]string, len(m.Merged))
	for i, id := range m.Merged {
		naming[i] = fmt.Sprintf(`[{"contact": %q}]`, id)
	}
	rows, err := q.Query(ctx, `SELECT id, buying_committee FROM opportunities
		WHERE buying_committee @> ANY($1::jsonb[]) ORDER BY id FOR UPDATE`, naming)
	if err != nil {
		return 0, fmt.Errorf("committees naming merged contacts: %w", err)
	}
	type committee struct {
		id      uuid.UUID
		members []domain.CommitteeMember
	}
	var found []committee
	var (
		id  uuid.UUID
		raw []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &raw}, func() error {
		var ms []memberJSON
		if err := json.Unmarshal(raw, &ms); err != nil {
			return fmt.Errorf("opportunity %s buying committee: %w", id, err)
		}
		c := committee{id: id, members: make([]domain.CommitteeMember, len(ms))}
		for i, m := range ms {
			c.members[i] = domain.CommitteeMember{ContactID: m.Contact, Roles: m.Roles}
		}
		found = append(found, c)
		return nil
	}); err != nil {
		return 0, err
	}
	var entries []*audit.Entry
	for _, c := range found {
		after, changed := domain.RepointCommittee(c.members, m.Merged, m.Survivor)
		if !changed {
			continue
		}
		if _, err := q.Exec(ctx, `UPDATE opportunities SET buying_committee = $2, version = version + 1, updated_at = now(), updated_by = $3
			WHERE id = $1`, c.id, committeeJSON(after), m.Actor); err != nil {
			return 0, fmt.Errorf("re-point the buying committee of %s: %w", c.id, err)
		}
		name := protomap.OpportunityName(c.id)
		e, err := audit.New(ctx, committeeMessage(name, c.members), committeeMessage(name, after), "")
		if err != nil {
			return 0, err
		}
		entries = append(entries, e)
	}
	return len(entries), audit.Copy(ctx, q, entries)
}

func committeeMessage(name string, ms []domain.CommitteeMember) proto.Message {
	o := &opportunityv1.Opportunity{Name: name}
	for _, m := range ms {
		o.BuyingCommittee = append(o.BuyingCommittee, &opportunityv1.BuyingCommitteeMember{Contact: protomap.ContactName(m.ContactID), Roles: m.Roles})
	}
	return o
}
