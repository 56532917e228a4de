// Package rules knows the types rules work on: which record type an event
// carries, how a condition compiles (CEL, cel.dev/cel-go, type-checked
// against the record's and event's protobuf messages) and evaluates, which
// fields an update may set, and the dates time triggers read.
package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// recordMessages are the API messages of each record type.
var recordMessages = map[domain.RecordType]proto.Message{
	domain.RecordLead: &leadv1.Lead{}, domain.RecordAccount: &accountv1.Account{}, domain.RecordContact: &accountv1.Contact{},
	domain.RecordOpportunity: &opportunityv1.Opportunity{}, domain.RecordOrder: &orderv1.Order{}, domain.RecordContract: &orderv1.Contract{},
}

// RecordTypeOf is the record type of an API message, if it is one.
func RecordTypeOf(d protoreflect.MessageDescriptor) (domain.RecordType, bool) {
	for t, m := range recordMessages {
		if m.ProtoReflect().Descriptor().FullName() == d.FullName() {
			return t, true
		}
	}
	return "", false
}

// NewRecordMessage is an empty API message of record type t.
func NewRecordMessage(t domain.RecordType) proto.Message {
	return recordMessages[t].ProtoReflect().New().Interface()
}

// eventsPackage holds every event message.
const eventsPackage = "crm.events.v1."

// EventType resolves an event name ("LeadCreated" or its full name) to
// its full name and the type of record it carries. LeadsImported is
// refused: imported leads trigger LeadCreated rules, one per lead.
func EventType(name string) (string, domain.RecordType, error) {
	full := strings.TrimSpace(name)
	if !strings.Contains(full, ".") {
		full = eventsPackage + full
	}
	if full == eventsPackage+"LeadsImported" {
		return "", "", fmt.Errorf("%s: imported leads trigger LeadCreated rules, one per lead: use LeadCreated", name)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(full))
	if err != nil || !strings.HasPrefix(full, eventsPackage) {
		return "", "", fmt.Errorf("%q is not an event of the suite (crm.events.v1)", name)
	}
	if AnyRecordEvent(full) {
		return full, "", nil
	}
	fields := mt.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind {
			continue
		}
		if t, ok := RecordTypeOf(fd.Message()); ok {
			return full, t, nil
		}
	}
	return "", "", fmt.Errorf("%q carries no record a rule could act on", name)
}

// anyRecordEvents are about a record of any type (an SLA clock's): the
// record type is "" for them, and a rule on them runs for the records
// its condition compiles for.
var anyRecordEvents = map[string]bool{eventsPackage + "SlaWarning": true, eventsPackage + "SlaBreached": true}

// AnyRecordEvent reports an event (full name) about a record of any type.
func AnyRecordEvent(full string) bool { return anyRecordEvents[full] }

// Engine compiles and caches rules' conditions.
type Engine struct {
	mu       sync.Mutex
	programs map[string]cel.Program
}

// NewEngine returns an engine with an empty cache.
func NewEngine() *Engine { return &Engine{programs: map[string]cel.Program{}} }

// env is the CEL environment of a rule on recordType, triggered by
// eventType ("" for time triggers): `record` is the record's API message
// and `event` the event message; enum constants resolve in the record's
// package (Rating.RATING_HOT for leads).
func env(recordType domain.RecordType, eventType string) (*cel.Env, error) {
	rec := recordMessages[recordType]
	opts := []cel.EnvOption{
		cel.Types(rec),
		cel.Container(string(rec.ProtoReflect().Descriptor().ParentFile().Package())),
		cel.Variable("record", cel.ObjectType(string(rec.ProtoReflect().Descriptor().FullName()))),
	}
	if eventType != "" {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(eventType))
		if err != nil {
			return nil, err
		}
		opts = append(opts, cel.Types(mt.New().Interface()), cel.Variable("event", cel.ObjectType(eventType)))
	}
	return cel.NewEnv(opts...)
}

// Compile type-checks a condition for each event type (or the time
// trigger, eventTypes empty): a syntax error, an unknown field, or a
// result other than a boolean is an error naming where.
func (e *Engine) Compile(condition string, recordType domain.RecordType, eventTypes []string) error {
	if strings.TrimSpace(condition) == "" {
		return nil
	}
	if len(eventTypes) == 0 {
		eventTypes = []string{""}
	}
	for _, et := range eventTypes {
		if _, err := e.program(condition, recordType, et); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) program(condition string, recordType domain.RecordType, eventType string) (cel.Program, error) {
	key := string(recordType) + "\x00" + eventType + "\x00" + condition
	e.mu.Lock()
	p, ok := e.programs[key]
	e.mu.Unlock()
	if ok {
		return p, nil
	}
	env, err := env(recordType, eventType)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(condition)
	if iss.Err() != nil {
		where := "the condition"
		if eventType != "" {
			where += " for " + strings.TrimPrefix(eventType, eventsPackage)
		}
		return nil, fmt.Errorf("%s: %s", where, iss.String())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("the condition is a %s, not a boolean", ast.OutputType())
	}
	p, err = env.Program(ast, cel.InterruptCheckFrequency(100), cel.CostLimit(100_000))
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if len(e.programs) > 10_000 { // conditions of old rule versions
		clear(e.programs)
	}
	e.programs[key] = p
	e.mu.Unlock()
	return p, nil
}

// Eval evaluates a condition for a record (and event, nil for time
// triggers); "" is true.
func (e *Engine) Eval(condition string, recordType domain.RecordType, record, event proto.Message) (bool, error) {
	if strings.TrimSpace(condition) == "" {
		return true, nil
	}
	et := ""
	vars := map[string]any{"record": record}
	if event != nil {
		et = string(event.ProtoReflect().Descriptor().FullName())
		vars["event"] = event
	}
	p, err := e.program(condition, recordType, et)
	if err != nil {
		return false, err
	}
	out, _, err := p.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the condition gave %v, not a boolean", out.Value())
	}
	return b, nil
}

// Updatable targets of update_field actions: the records whose services
// the workflow service updates.
var Updatable = map[domain.RecordType]bool{
	domain.RecordLead: true, domain.RecordAccount: true, domain.RecordContact: true, domain.RecordOpportunity: true,
}

// CheckUpdate validates an update_field action for a record type: a
// settable (not output-only) field of the record's API message, and a
// value that field takes.
func CheckUpdate(recordType domain.RecordType, field string, value json.RawMessage) error {
	if !Updatable[recordType] {
		return fmt.Errorf("records of type %s are not updated by rules", recordType)
	}
	m := NewRecordMessage(recordType)
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(field))
	if fd == nil {
		return fmt.Errorf("%s has no field %q", m.ProtoReflect().Descriptor().Name(), field)
	}
	for _, b := range proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior) {
		if b == annotations.FieldBehavior_OUTPUT_ONLY || b == annotations.FieldBehavior_IDENTIFIER {
			return fmt.Errorf("%s.%s cannot be set", m.ProtoReflect().Descriptor().Name(), field)
		}
	}
	if fd.Name() == "owner" || fd.Name() == "etag" {
		return fmt.Errorf("%s is not set by rules", field)
	}
	if _, err := SetField(m, field, value); err != nil {
		return err
	}
	return nil
}

// SetField returns a copy of the record message with field set to value
// (its API JSON form).
func SetField(m proto.Message, field string, value json.RawMessage) (proto.Message, error) {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(field))
	if fd == nil {
		return nil, fmt.Errorf("no field %q", field)
	}
	patch := m.ProtoReflect().New().Interface()
	doc, _ := json.Marshal(map[string]json.RawMessage{fd.JSONName(): value})
	if err := protojson.Unmarshal(doc, patch); err != nil {
		return nil, fmt.Errorf("%s does not take %s: %v", field, value, err)
	}
	out := proto.Clone(m)
	out.ProtoReflect().Set(fd, patch.ProtoReflect().Get(fd))
	return out, nil
}

// CheckDateField validates a time trigger's field: a Timestamp or Date
// of the record type (yearly only for dates).
func CheckDateField(recordType domain.RecordType, field string, yearly bool) error {
	m := NewRecordMessage(recordType)
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(field))
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() {
		return fmt.Errorf("%s has no date field %q", m.ProtoReflect().Descriptor().Name(), field)
	}
	switch fd.Message().FullName() {
	case "google.protobuf.Timestamp":
		if yearly {
			return fmt.Errorf("%s is an instant: yearly triggers take a date (e.g. birthday)", field)
		}
	case "google.type.Date":
	default:
		return fmt.Errorf("%s is not a date or time", field)
	}
	return nil
}

// DateOf reads a time trigger's field of a record: an instant, a date at
// midnight UTC; ok is false when unset.
func DateOf(m proto.Message, field string) (time.Time, bool) {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(field))
	if fd == nil || !m.ProtoReflect().Has(fd) {
		return time.Time{}, false
	}
	switch v := m.ProtoReflect().Get(fd).Message().Interface().(type) {
	case *timestamppb.Timestamp:
		// To the microsecond, as Postgres keeps the timers' due times.
		return v.AsTime().UTC().Truncate(time.Microsecond), true
	case *date.Date:
		if v.GetYear() == 0 {
			// A birthday without its year: this year.
			return time.Date(time.Now().Year(), time.Month(v.GetMonth()), int(v.GetDay()), 0, 0, 0, 0, time.UTC), v.GetMonth() != 0
		}
		return time.Date(int(v.GetYear()), time.Month(v.GetMonth()), int(v.GetDay()), 0, 0, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

// NextDue is a time trigger's next due time from a record's date: the date
// plus the offset; yearly, the next anniversary (date's month and day in
// after's year or the next) plus the offset that is after `after`.
func NextDue(d time.Time, t *domain.TimeTrigger, after time.Time) time.Time {
	due := d.Add(t.Offset)
	if !t.Yearly {
		return due
	}
	for y := after.Year() - 1; ; y++ {
		day := time.Date(y, d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		if day.Month() != d.Month() { // Feb 29 in a common year: Feb 28
			day = time.Date(y, d.Month()+1, 0, 0, 0, 0, 0, time.UTC)
		}
		if due = day.Add(t.Offset); due.After(after) {
			return due
		}
	}
}
