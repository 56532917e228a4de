package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/resname"
)

// filter is what the ListAuditEntries methods' filter may name; keep their
// proto comments in step.
var filter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"record":       {Column: "record", Kind: aipfilter.String},
	"actor":        {Column: "actor", Kind: aipfilter.String},
	"on_behalf_of": {Column: "on_behalf_of", Kind: aipfilter.String},
	"method":       {Column: "method", Kind: aipfilter.String},
	"request_id":   {Column: "request_id", Kind: aipfilter.String},
	"action":       {Column: "action", Kind: aipfilter.Enum, EnumType: auditv1.AuditEntry_Action(0).Type(), EnumPrefix: "ACTION_"},
	"time":         {Column: "occurred_at", Kind: aipfilter.Timestamp},
})

// Query is a page request for entries: of one record (Record,
// `leads/<id>`) or of every record of a collection (Collection, `leads`).
type Query struct {
	Record, Collection string
	Filter             string
	PageSize           int
	PageToken          string
}

// All reports whether q lists a whole collection.
func (q Query) All() bool { return q.Collection != "" }

type cursor struct {
	ID int64 `json:"id"`
}

const columns = `id, record, record_type, action, actor, on_behalf_of, method, request_id, occurred_at, changes`

// List returns a page of entries, newest first, and the next page's
// token ("" on the last page).
func List(ctx context.Context, q pg.Querier, pages *paging.Codec, query Query) ([]Entry, string, error) {
	var args []any
	clause, err := filter.Where(query.Filter, &args)
	if err != nil {
		return nil, "", err
	}
	var scope string
	if query.All() {
		args = append(args, query.Collection+"/")
		scope = fmt.Sprintf("starts_with(record, $%d)", len(args))
	} else {
		args = append(args, query.Record)
		scope = fmt.Sprintf("record = $%d", len(args))
	}
	queryKey := "audit\x00" + query.Record + "\x00" + query.Collection + "\x00" + query.Filter
	keyset := "TRUE"
	if query.PageToken != "" {
		var c cursor
		if err := pages.Decode(query.PageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		args = append(args, c.ID)
		keyset = fmt.Sprintf("id < $%d", len(args))
	}
	args = append(args, query.PageSize+1)
	rows, err := q.Query(ctx, fmt.Sprintf(`SELECT %s FROM audit_log WHERE %s AND %s AND %s ORDER BY id DESC LIMIT $%d`,
		columns, scope, clause.SQL, keyset, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var action string
		var changes []byte
		if err := rows.Scan(&e.ID, &e.Record, &e.RecordType, &action, &e.Actor, &e.OnBehalfOf, &e.Method, &e.RequestID,
			&e.Time, &changes); err != nil {
			return nil, "", fmt.Errorf("audit: list: %w", err)
		}
		e.Action, e.Time = Action(action), e.Time.UTC()
		if err := json.Unmarshal(changes, &e.Changes); err != nil {
			return nil, "", fmt.Errorf("audit: entry %d changes: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("audit: list: %w", err)
	}
	if len(out) <= query.PageSize {
		return out, "", nil
	}
	out = out[:query.PageSize]
	next, err := pages.Encode(queryKey, cursor{ID: out[len(out)-1].ID})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Response maps a page of entries to the API.
func Response(entries []Entry, next string) (*auditv1.ListAuditEntriesResponse, error) {
	resp := &auditv1.ListAuditEntriesResponse{AuditEntries: make([]*auditv1.AuditEntry, len(entries)), NextPageToken: next}
	for i, e := range entries {
		m, err := Proto(e)
		if err != nil {
			return nil, err
		}
		resp.AuditEntries[i] = m
	}
	return resp, nil
}

// Proto maps an entry to the API.
func Proto(e Entry) (*auditv1.AuditEntry, error) {
	m := &auditv1.AuditEntry{
		Name:       e.Record + "/auditEntries/" + strconv.FormatInt(e.ID, 10),
		Record:     e.Record,
		RecordType: e.RecordType,
		Action:     auditv1.AuditEntry_Action(auditv1.AuditEntry_Action_value["ACTION_"+string(e.Action)]),
		Actor:      e.Actor,
		OnBehalfOf: e.OnBehalfOf,
		Method:     e.Method,
		RequestId:  e.RequestID,
		Time:       timestamppb.New(e.Time),
		Changes:    make([]*auditv1.FieldChange, len(e.Changes)),
	}
	for i, c := range e.Changes {
		fc := &auditv1.FieldChange{Field: c.Field}
		var err error
		if fc.OldValue, err = value(c.Old); err != nil {
			return nil, err
		}
		if fc.NewValue, err = value(c.New); err != nil {
			return nil, err
		}
		m.Changes[i] = fc
	}
	return m, nil
}

func value(raw json.RawMessage) (*structpb.Value, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v := &structpb.Value{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("audit: value %s: %w", raw, err)
	}
	return v, nil
}

// Request is a ListAuditEntries request as the services' APIs carry it.
type Request interface {
	GetParent() string
	GetFilter() string
	GetPageSize() int32
	GetPageToken() string
}

// ParseRequest reads a ListAuditEntries request whose parent is
// `<collection>/<uuid>` (one record: its collection and id are returned)
// or `<collection>/-` (every record of it; id is uuid.Nil), collection one
// of collections.
func ParseRequest(req Request, collections ...string) (q Query, collection string, id uuid.UUID, err error) {
	parent := req.GetParent()
	coll, rest, _ := strings.Cut(parent, "/")
	if !slices.Contains(collections, coll) {
		return Query{}, "", uuid.Nil, resname.Invalid("parent", strings.Join(collections, "|"), parent)
	}
	if rest == "-" {
		q.Collection = coll
	} else {
		if id, err = resname.ParseField(parent, coll, "parent"); err != nil {
			return Query{}, "", uuid.Nil, err
		}
		q.Record = parent
	}
	q.Filter, q.PageSize, q.PageToken = req.GetFilter(), paging.Size(req.GetPageSize()), req.GetPageToken()
	return q, coll, id, nil
}

// Authorize decides whether the caller may list q. A record's history
// follows the record's own read rule: get loads the record through the
// service's Get use case, whatever rules that applies (a salesperson reads
// its own leads, every account). A record that is gone (deleted) keeps its
// history, and a whole collection's is listed, for callers who reach every
// record (authz.Scope: admins and managers); others get get's answer, or
// PermissionDenied.
func Authorize(ctx context.Context, q Query, get func(ctx context.Context) error) error {
	scope := authz.ScopeOf(ctx)
	if q.All() {
		if !scope.All {
			return authz.Denied()
		}
		return nil
	}
	err := get(ctx)
	if apperr.IsKind(err, apperr.KindNotFound) && scope.All {
		return nil
	}
	return err
}
