// Package audit keeps the audit trail of records: for every change of a
// lead, account, contact or opportunity one row in the service schema's
// audit_log (platform migration 002), written in the change's own
// transaction, saying who changed which fields from what to what, when and
// through which method. Rows have no foreign key to their record, so the
// history outlives it.
//
// Changes are computed on the record's API message (before and after), so
// the trail reads like the API: field names as in update_mask, values as
// their JSON form (enums by name, money, timestamps, repeated and map
// fields whole).
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/pg"
)

// Action is what happened to the record; the values are
// crm.audit.v1.AuditEntry.Action's names without their prefix.
type Action string

const (
	Create Action = "CREATE"
	Update Action = "UPDATE"
	Delete Action = "DELETE"
)

// Entry is one change of one record.
type Entry struct {
	ID int64
	// Record is the record's resource name (`leads/<id>`), RecordType its
	// API message's full name.
	Record, RecordType string
	Action             Action
	Actor, OnBehalfOf  string
	Method, RequestID  string
	Time               time.Time
	Changes            []Change
}

// Change is one top-level field's value before and after, as JSON; nil
// for unset.
type Change struct {
	Field string          `json:"field"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new,omitempty"`
}

// bookkeeping fields change with every write and say nothing the entry
// does not (who, when), or identify the record.
var bookkeeping = map[protoreflect.Name]bool{
	"name": true, "etag": true, "create_time": true, "update_time": true, "created_by": true, "updated_by": true,
}

// Diff returns the changed top-level fields between two versions of a
// record's message, in field order; before nil is a creation, after nil a
// deletion. Only fields that differ are rendered, so an update costs
// little more than a comparison.
func Diff(before, after proto.Message) ([]Change, error) {
	before, after = absent(before), absent(after)
	var old, cur protoreflect.Message
	var fds protoreflect.FieldDescriptors
	if before != nil {
		old = before.ProtoReflect()
		fds = old.Descriptor().Fields()
	}
	if after != nil {
		cur = after.ProtoReflect()
		fds = cur.Descriptor().Fields()
	}
	if fds == nil {
		return nil, nil
	}
	var out []Change
	for i := range fds.Len() {
		fd := fds.Get(i)
		if bookkeeping[fd.Name()] {
			continue
		}
		o, n := old != nil && old.Has(fd), cur != nil && cur.Has(fd)
		if !o && !n || o && n && old.Get(fd).Equal(cur.Get(fd)) {
			continue
		}
		c := Change{Field: string(fd.Name())}
		var err error
		if o {
			if c.Old, err = render(old, fd); err != nil {
				return nil, err
			}
		}
		if n {
			if c.New, err = render(cur, fd); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// render returns the JSON of m's field fd as protojson writes it (enums by
// name, 64-bit integers as strings, well-known types in their JSON forms).
// Strings and enums, most of what records hold, are written directly.
func render(m protoreflect.Message, fd protoreflect.FieldDescriptor) (json.RawMessage, error) {
	v := m.Get(fd)
	if !fd.IsList() && !fd.IsMap() {
		switch fd.Kind() {
		case protoreflect.StringKind:
			return json.Marshal(v.String())
		case protoreflect.EnumKind:
			if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
				return json.Marshal(string(ev.Name()))
			}
		case protoreflect.BoolKind:
			return json.Marshal(v.Bool())
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return json.Marshal(v.Int())
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return json.Marshal(v.Uint())
		case protoreflect.MessageKind, protoreflect.GroupKind:
			return compact(protojson.Marshal(v.Message().Interface()))
		}
	}
	// Lists, maps and the rarer scalars: protojson of a message holding
	// only this field, {"jsonName": value}.
	one := m.New()
	one.Set(fd, v)
	b, err := protojson.Marshal(one.Interface())
	if err != nil {
		return nil, fmt.Errorf("audit: marshal %s: %w", fd.FullName(), err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", fd.FullName(), err)
	}
	return compact(obj[fd.JSONName()], nil)
}

// compact drops the random spacing protojson adds.
func compact(b []byte, err error) (json.RawMessage, error) {
	if err != nil {
		return nil, fmt.Errorf("audit: marshal: %w", err)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, fmt.Errorf("audit: compact: %w", err)
	}
	return c.Bytes(), nil
}

// absent turns a typed nil message (a nil *leadv1.Lead) into nil.
func absent(m proto.Message) proto.Message {
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil
	}
	return m
}

// New returns the entry of a change of one record from before to after
// (nil before: created; nil after: deleted), caused by the call or event
// in ctx; nil when no field changed. The record's name is the message's
// `name` field.
func New(ctx context.Context, before, after proto.Message, requestID string) (*Entry, error) {
	before, after = absent(before), absent(after)
	changes, err := Diff(before, after)
	if err != nil {
		return nil, err
	}
	action, m := Update, after
	switch {
	case before == nil && after == nil:
		return nil, nil
	case before == nil:
		action = Create
	case after == nil:
		action, m = Delete, before
	}
	if action == Update && len(changes) == 0 {
		return nil, nil
	}
	desc := m.ProtoReflect().Descriptor()
	nameField := desc.Fields().ByName("name")
	if nameField == nil || nameField.Kind() != protoreflect.StringKind {
		return nil, fmt.Errorf("audit: %s has no name field", desc.FullName())
	}
	c := causeOf(ctx)
	return &Entry{
		Record:     m.ProtoReflect().Get(nameField).String(),
		RecordType: string(desc.FullName()),
		Action:     action,
		Actor:      c.actor,
		OnBehalfOf: auth.OnBehalfOf(ctx),
		Method:     c.method,
		RequestID:  requestID,
		Changes:    changes,
	}, nil
}

type eventKey struct{}

type event struct{ typ, actor string }

// WithEvent marks ctx as applying an event of type eventType (its message's
// full name) that actor caused: entries written under it name the method
// `event:<eventType>` and that actor, whoever the consumer acts as.
// platform/inbox sets it for every consumer.
func WithEvent(ctx context.Context, eventType, actor string) context.Context {
	return context.WithValue(ctx, eventKey{}, event{typ: eventType, actor: actor})
}

// EventMethod is the method recorded for changes applying an event.
func EventMethod(eventType string) string { return "event:" + eventType }

type cause struct{ method, actor string }

func causeOf(ctx context.Context) cause {
	c := cause{actor: auth.Actor(ctx)}
	if ev, ok := ctx.Value(eventKey{}).(event); ok {
		c.method = EventMethod(ev.typ)
		if ev.actor != "" {
			c.actor = ev.actor
		}
		return c
	}
	c.method, _ = grpc.Method(ctx)
	return c
}

const insertSQL = `INSERT INTO audit_log (record, record_type, action, actor, on_behalf_of, method, request_id, changes)
SELECT r, t, a, ac, o, m, q, c::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
	AS u(r, t, a, ac, o, m, q, c)`

// Queue adds the inserts of entries (nil ones skipped) to a batch as one
// statement, for callers that send a change in one round trip.
func Queue(b *pgx.Batch, entries ...*Entry) {
	cols := make([][]string, 8)
	for _, e := range entries {
		if e == nil {
			continue
		}
		changes, _ := json.Marshal(e.Changes) // RawMessages from Diff are valid JSON
		for i, v := range []string{e.Record, e.RecordType, string(e.Action), e.Actor, e.OnBehalfOf, e.Method, e.RequestID, string(changes)} {
			cols[i] = append(cols[i], v)
		}
	}
	if len(cols[0]) == 0 {
		return
	}
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = c
	}
	b.Queue(insertSQL, args...)
}

// Append inserts entries with q: call it inside the transaction that makes
// the change.
func Append(ctx context.Context, q pg.Querier, entries ...*Entry) error {
	b := &pgx.Batch{}
	Queue(b, entries...)
	if b.Len() == 0 {
		return nil
	}
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

// Copy inserts many entries (nil ones skipped) with COPY, cheaper than
// Queue for batches of thousands (imports); one round trip of its own.
func Copy(ctx context.Context, q pg.Querier, entries []*Entry) error {
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		if e == nil {
			continue
		}
		changes, _ := json.Marshal(e.Changes)
		rows = append(rows, []any{e.Record, e.RecordType, string(e.Action), e.Actor, e.OnBehalfOf, e.Method, e.RequestID, json.RawMessage(changes)})
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := q.CopyFrom(ctx, pgx.Identifier{"audit_log"},
		[]string{"record", "record_type", "action", "actor", "on_behalf_of", "method", "request_id", "changes"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("audit: copy: %w", err)
	}
	return nil
}

// Record computes the entry of a change (see New) and inserts it with q.
func Record(ctx context.Context, q pg.Querier, before, after proto.Message, requestID string) error {
	e, err := New(ctx, before, after, requestID)
	if err != nil {
		return err
	}
	return Append(ctx, q, e)
}
