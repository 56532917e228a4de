// Package recordmerge reads the account service's merge events
// (crm.events.v1.AccountsMerged, ContactsMerged) into what every consumer
// re-points: the survivor and the merged records. Each consuming service
// re-points its own references in the inbox transaction, so a merge is
// applied exactly once per service whatever the redeliveries.
package recordmerge

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/pg"
)

// Kind says which records were merged.
type Kind string

const (
	Accounts Kind = "accounts"
	Contacts Kind = "contacts"
)

// Merge is one merge event: Merged were merged into Survivor.
type Merge struct {
	Kind     Kind
	Survivor uuid.UUID
	Merged   []uuid.UUID
	// Actor who merged them.
	Actor string
	// MovedContacts moved with an account merge (they keep their ids).
	MovedContacts []uuid.UUID
}

// Subjects are the subjects of the merge events in namespace ns.
func Subjects(ns string) []string {
	return []string{
		events.Subject(ns, "account", &eventsv1.AccountsMerged{}),
		events.Subject(ns, "account", &eventsv1.ContactsMerged{}),
	}
}

// Is reports whether m is a merge event.
func Is(m inbox.Message) bool {
	t := protoreflect.FullName(m.Type)
	return t == name(&eventsv1.AccountsMerged{}) || t == name(&eventsv1.ContactsMerged{})
}

func name(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }

// Decode reads a merge event; a malformed one is a permanent error (no
// retry can fix it).
func Decode(m inbox.Message) (Merge, error) {
	var (
		out             Merge
		survivor        string
		merged, movedCs []string
	)
	switch protoreflect.FullName(m.Type) {
	case name(&eventsv1.AccountsMerged{}):
		var ev eventsv1.AccountsMerged
		if err := proto.Unmarshal(m.Data, &ev); err != nil {
			return out, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
		}
		out.Kind, out.Actor, survivor, merged, movedCs = Accounts, ev.GetMeta().GetActor(), ev.GetAccountId(), ev.GetMergedAccountIds(), ev.GetMovedContactIds()
	case name(&eventsv1.ContactsMerged{}):
		var ev eventsv1.ContactsMerged
		if err := proto.Unmarshal(m.Data, &ev); err != nil {
			return out, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
		}
		out.Kind, out.Actor, survivor, merged = Contacts, ev.GetMeta().GetActor(), ev.GetContactId(), ev.GetMergedContactIds()
	default:
		return out, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %s is not a merge event", m.Type))
	}
	var err error
	if out.Survivor, err = uuid.Parse(survivor); err != nil || out.Survivor == uuid.Nil {
		return out, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: survivor id %q", survivor))
	}
	if out.Merged, err = parse(merged); err != nil {
		return out, err
	}
	if len(out.Merged) == 0 {
		return out, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: no merged ids"))
	}
	out.MovedContacts, err = parse(movedCs)
	return out, err
}

func parse(ids []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(ids))
	for i, s := range ids {
		id, err := uuid.Parse(s)
		if err != nil || id == uuid.Nil {
			return nil, inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: merged id %q", s))
		}
		out[i] = id
	}
	return out, nil
}

// Repointed is one record a consumer re-pointed: its name and the id it
// pointed at before.
type Repointed struct {
	Name string
	From uuid.UUID
}

// AuditEntries are the audit entries of re-pointed records: each a change
// of one reference field from the merged record to the survivor, built by
// message (a record's API message holding only its name and that field,
// e.g. an Opportunity with Name and Account), caused by the merge event
// in ctx.
func AuditEntries(ctx context.Context, m Merge, rs []Repointed, message func(name string, ref uuid.UUID) proto.Message) ([]*audit.Entry, error) {
	out := make([]*audit.Entry, 0, len(rs))
	for _, r := range rs {
		e, err := audit.New(ctx, message(r.Name, r.From), message(r.Name, m.Survivor), "")
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// RepointTable points column col of table (a uuid reference) at the
// survivor wherever it holds a merged id, moving each such row's version
// on (its etag changes) and recording updated_at/updated_by (the merge's
// actor), in one statement; each row (resource `collection/{id}`) gets an
// audit entry built by message. It runs in the caller's transaction (q)
// and returns how many rows it re-pointed.
func RepointTable(ctx context.Context, q pg.Querier, table, col, collection string, m Merge, message func(name string, ref uuid.UUID) proto.Message) (int, error) {
	rows, err := q.Query(ctx, `UPDATE `+table+` t SET `+col+` = $2, version = t.version + 1, updated_at = now(), updated_by = $3
		FROM `+table+` old WHERE old.id = t.id AND old.`+col+` = ANY($1)
		RETURNING t.id, old.`+col, m.Merged, m.Survivor, m.Actor)
	if err != nil {
		return 0, fmt.Errorf("re-point %s.%s: %w", table, col, err)
	}
	var (
		id, from uuid.UUID
		moved    []Repointed
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &from}, func() error {
		moved = append(moved, Repointed{Name: collection + "/" + id.String(), From: from})
		return nil
	}); err != nil {
		return 0, fmt.Errorf("re-point %s.%s: %w", table, col, err)
	}
	entries, err := AuditEntries(ctx, m, moved, message)
	if err != nil {
		return 0, err
	}
	return len(moved), audit.Copy(ctx, q, entries)
}

// ErrMerged is the error of a reference to a merged account or contact
// (collection "accounts" or "contacts") where a live one is needed:
// FAILED_PRECONDITION ACCOUNT_MERGED or CONTACT_MERGED, naming the
// survivor in the metadata (merged_into).
func ErrMerged(collection string, id, into uuid.UUID) error {
	kind := strings.ToUpper(strings.TrimSuffix(collection, "s"))
	e := apperr.FailedPrecondition(kind+"_MERGED", "%s %s was merged into %s: use that one", strings.ToLower(kind), id, into).
		WithMeta("merged_into", collection+"/"+into.String())
	e.Preconditions = []apperr.PreconditionViolation{{Type: kind + "_MERGED", Subject: collection + "/" + id.String(), Description: e.Message}}
	return e
}

// MergedInto returns the survivor an ErrMerged names.
func MergedInto(err error) (uuid.UUID, bool) {
	e, ok := apperr.As(err)
	if !ok || !strings.HasSuffix(e.Reason, "_MERGED") {
		return uuid.Nil, false
	}
	_, id, _ := strings.Cut(e.Metadata["merged_into"], "/")
	into, err := uuid.Parse(id)
	return into, err == nil
}
