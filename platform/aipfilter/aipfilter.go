// Package aipfilter turns an AIP-160 `filter` string into a SQL WHERE
// clause. Parsing and type checking are go.einride.tech/aip's; this package
// maps the checked expression onto columns, with every value bound as a
// parameter. Anything it does not understand is an InvalidArgument on the
// request's `filter` field, never a server error.
package aipfilter

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.einride.tech/aip/filtering"
	expr "google.golang.org/genproto/googleapis/api/expr/v1alpha1"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crmsuite/crm/platform/apperr"
)

// Kind of a filterable field.
type Kind int

const (
	// String compares text; with Fold the comparison ignores case.
	String Kind = iota + 1
	// Enum takes the proto enum's value names (STATUS_NEW); the column holds
	// the name without the enum's prefix (NEW).
	Enum
	// Timestamp takes RFC 3339 strings.
	Timestamp
	// Text is a substring search, `text:"acme"`, over a lower-cased column.
	Text
	// Bool takes true or false (`primary = true`, or just `primary`).
	Bool
)

// Field maps a filter name onto a column.
type Field struct {
	Column string
	Kind   Kind
	// Fold makes String comparisons case-insensitive (lower(column)).
	Fold bool
	// EnumType and EnumPrefix for Enum fields.
	EnumType   protoreflect.EnumType
	EnumPrefix string
	// MinLen of a Text search term.
	MinLen int
	// Normalize, if set, rewrites a String value before it is compared
	// (e.g. a phone number to its matching key).
	Normalize func(string) string
	// Array says a String column is a text[]: `=` means the array contains
	// the value, `!=` that it does not.
	Array bool
}

// Schema is the set of fields one List method can filter on.
type Schema struct {
	fields map[string]Field
	decls  *filtering.Declarations
}

// NewSchema declares fields; it panics on a bad declaration (a programming
// error caught by any test).
func NewSchema(fields map[string]Field) *Schema {
	opts := []filtering.DeclarationOption{filtering.DeclareStandardFunctions()}
	bools := false
	for name, f := range fields {
		switch f.Kind {
		case Bool:
			opts = append(opts, filtering.DeclareIdent(name, filtering.TypeBool))
			bools = true
		case String, Text:
			opts = append(opts, filtering.DeclareIdent(name, filtering.TypeString))
		case Timestamp:
			opts = append(opts, filtering.DeclareIdent(name, filtering.TypeTimestamp))
		case Enum:
			opts = append(opts, filtering.DeclareEnumIdent(name, f.EnumType))
		}
	}
	if bools {
		opts = append(opts, filtering.DeclareIdent("true", filtering.TypeBool), filtering.DeclareIdent("false", filtering.TypeBool))
	}
	opts = append(opts, shortEnumIdents(fields)...)
	decls, err := filtering.NewDeclarations(opts...)
	if err != nil {
		panic(fmt.Sprintf("aipfilter: %v", err))
	}
	return &Schema{fields: fields, decls: decls}
}

// shortEnumIdents declares enum values without their prefix (`status =
// NEW` as well as `status = STATUS_NEW`), except names that two enums or a
// field share.
func shortEnumIdents(fields map[string]Field) []filtering.DeclarationOption {
	types := map[string]protoreflect.EnumType{}
	clash := map[string]bool{}
	for name := range fields {
		clash[name] = true
	}
	for _, f := range fields {
		if f.Kind != Enum || f.EnumPrefix == "" {
			continue
		}
		values := f.EnumType.Descriptor().Values()
		for i := 0; i < values.Len(); i++ {
			short, ok := strings.CutPrefix(string(values.Get(i).Name()), f.EnumPrefix)
			if !ok || short == "UNSPECIFIED" {
				continue
			}
			if t, seen := types[short]; seen && t.Descriptor().FullName() != f.EnumType.Descriptor().FullName() {
				clash[short] = true
			}
			types[short] = f.EnumType
		}
	}
	var opts []filtering.DeclarationOption
	for short, t := range types {
		if !clash[short] {
			opts = append(opts, filtering.DeclareIdent(short, filtering.TypeEnum(t)))
		}
	}
	return opts
}

// Fields returns the kind of every field the schema declares, by name.
func (s *Schema) Fields() map[string]Kind {
	out := make(map[string]Kind, len(s.fields))
	for name, f := range s.fields {
		out[name] = f.Kind
	}
	return out
}

// Clause is a translated filter.
type Clause struct {
	// SQL is a boolean expression over the columns.
	SQL string
	// HasText says the filter contains a Text search, whose selectivity
	// the planner cannot estimate.
	HasText bool
	// WithoutText is the conjunction of the filter's top-level AND terms
	// that have no Text search: every row SQL accepts, it accepts too.
	// Lists use it to walk an index in order before testing the text.
	WithoutText string
}

// Where translates filter into a boolean SQL expression, appending its
// parameters to args (placeholders continue from len(*args)). An empty
// filter is "TRUE".
func (s *Schema) Where(filter string, args *[]any) (Clause, error) {
	if strings.TrimSpace(filter) == "" {
		return Clause{SQL: "TRUE"}, nil
	}
	f, err := filtering.ParseFilterString(filter, s.decls)
	if err != nil {
		return Clause{}, invalid("%s", cleanError(err))
	}
	var all, plain []string
	var hasText bool
	for _, term := range conjuncts(f.CheckedExpr.GetExpr()) {
		t := translator{schema: s, args: args, hasText: new(bool)}
		sql, err := t.expr(term)
		if err != nil {
			return Clause{}, err
		}
		all = append(all, sql)
		if *t.hasText {
			hasText = true
		} else {
			plain = append(plain, sql)
		}
	}
	c := Clause{SQL: strings.Join(all, " AND "), HasText: hasText, WithoutText: "TRUE"}
	if len(all) > 1 {
		c.SQL = "(" + c.SQL + ")"
	}
	if len(plain) > 0 {
		c.WithoutText = "(" + strings.Join(plain, " AND ") + ")"
	}
	return c, nil
}

// And returns c narrowed by cond, a boolean SQL expression without a text
// search (a restriction the service adds to the caller's filter).
func (c Clause) And(cond string) Clause {
	c.SQL = "(" + c.SQL + " AND " + cond + ")"
	if c.WithoutText == "" || c.WithoutText == "TRUE" {
		c.WithoutText = "(" + cond + ")"
	} else {
		c.WithoutText = "(" + c.WithoutText + " AND " + cond + ")"
	}
	return c
}

// conjuncts flattens the top-level ANDs of e.
func conjuncts(e *expr.Expr) []*expr.Expr {
	call := e.GetCallExpr()
	if call == nil || call.GetFunction() != filtering.FunctionAnd {
		return []*expr.Expr{e}
	}
	var out []*expr.Expr
	for _, a := range call.GetArgs() {
		out = append(out, conjuncts(a)...)
	}
	return out
}

func invalid(format string, a ...any) error {
	return apperr.InvalidField("filter", "INVALID_FILTER", format, a...)
}

func cleanError(err error) string {
	msg := err.Error()
	// einride prefixes messages with positions in the raw input; keep them,
	// they help the caller, but trim Go-ish noise.
	return strings.TrimPrefix(msg, "filtering: ")
}

type translator struct {
	schema  *Schema
	args    *[]any
	hasText *bool
}

func (t translator) bind(v any) string {
	*t.args = append(*t.args, v)
	return "$" + strconv.Itoa(len(*t.args))
}

func (t translator) expr(e *expr.Expr) (string, error) {
	call := e.GetCallExpr()
	if id := e.GetIdentExpr(); id != nil {
		if f, ok := t.schema.fields[id.GetName()]; ok && f.Kind == Bool {
			return f.Column, nil
		}
	}
	if call == nil {
		return "", invalid("a filter must be a comparison such as status = STATUS_NEW")
	}
	args := call.GetArgs()
	switch call.GetFunction() {
	case filtering.FunctionAnd, filtering.FunctionOr:
		parts := make([]string, 0, len(args))
		for _, a := range args {
			p, err := t.expr(a)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		op := " AND "
		if call.GetFunction() == filtering.FunctionOr {
			op = " OR "
		}
		return "(" + strings.Join(parts, op) + ")", nil
	case filtering.FunctionNot:
		p, err := t.expr(args[0])
		if err != nil {
			return "", err
		}
		return "(NOT " + p + ")", nil
	case filtering.FunctionEquals, filtering.FunctionNotEquals, filtering.FunctionLessThan,
		filtering.FunctionLessEquals, filtering.FunctionGreaterThan, filtering.FunctionGreaterEquals,
		filtering.FunctionHas:
		return t.comparison(call.GetFunction(), args)
	default:
		return "", invalid("unsupported function %q", call.GetFunction())
	}
}

var sqlOps = map[string]string{
	filtering.FunctionEquals:        "=",
	filtering.FunctionNotEquals:     "IS DISTINCT FROM",
	filtering.FunctionLessThan:      "<",
	filtering.FunctionLessEquals:    "<=",
	filtering.FunctionGreaterThan:   ">",
	filtering.FunctionGreaterEquals: ">=",
}

func (t translator) comparison(fn string, args []*expr.Expr) (string, error) {
	if len(args) != 2 || args[0].GetIdentExpr() == nil {
		return "", invalid("the left side of %s must be a field name", fn)
	}
	name := args[0].GetIdentExpr().GetName()
	f, ok := t.schema.fields[name]
	if !ok {
		return "", invalid("unknown field %q", name)
	}
	value, err := constant(args[1])
	if err != nil {
		return "", err
	}
	if fn == filtering.FunctionHas {
		if f.Kind != Text {
			return "", invalid("%s does not support ':'", name)
		}
		term := strings.ToLower(strings.TrimSpace(value))
		if len([]rune(term)) < f.MinLen {
			return "", invalid("%s search needs at least %d characters", name, f.MinLen)
		}
		*t.hasText = true
		return f.Column + " LIKE " + t.bind("%"+escapeLike(term)+"%"), nil
	}
	op := sqlOps[fn]
	switch f.Kind {
	case Text:
		return "", invalid("%s supports only ':' (contains)", name)
	case Enum:
		if fn != filtering.FunctionEquals && fn != filtering.FunctionNotEquals {
			return "", invalid("%s supports only = and !=", name)
		}
		values := f.EnumType.Descriptor().Values()
		v := values.ByName(protoreflect.Name(value))
		if v == nil {
			v = values.ByName(protoreflect.Name(f.EnumPrefix + value))
		}
		if v == nil {
			return "", invalid("%q is not a %s value", value, name)
		}
		stored := strings.TrimPrefix(string(v.Name()), f.EnumPrefix)
		if v.Number() == 0 {
			stored = "" // the columns keep "not set" as '', not as UNSPECIFIED
		}
		return f.Column + " " + op + " " + t.bind(stored), nil
	case Bool:
		if fn != filtering.FunctionEquals && fn != filtering.FunctionNotEquals {
			return "", invalid("%s supports only = and !=", name)
		}
		if value != "true" && value != "false" {
			return "", invalid("%s takes true or false", name)
		}
		return f.Column + " " + op + " " + t.bind(value == "true"), nil
	case Timestamp:
		ts, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return "", invalid("%s: %q is not an RFC 3339 timestamp", name, value)
		}
		return f.Column + " " + op + " " + t.bind(ts), nil
	default:
		col, v := f.Column, value
		if f.Fold && !f.Array {
			col, v = "lower("+col+")", strings.ToLower(v)
		}
		if f.Normalize != nil {
			v = f.Normalize(v)
			// A value with no key (not a phone number) matches nothing,
			// not the records without one.
			if v == "" && strings.TrimSpace(value) != "" {
				switch fn {
				case filtering.FunctionEquals:
					return "FALSE", nil
				case filtering.FunctionNotEquals:
					return "TRUE", nil
				}
			}
		}
		if f.Array {
			if fn != filtering.FunctionEquals && fn != filtering.FunctionNotEquals {
				return "", invalid("%s supports only = and !=", name)
			}
			sql := col + " @> " + t.bind([]string{v})
			if fn == filtering.FunctionNotEquals {
				sql = "(NOT " + sql + ")"
			}
			return sql, nil
		}
		return col + " " + op + " " + t.bind(v), nil
	}
}

// constant returns the literal on the right side: a string, an enum value
// (an identifier) or timestamp("...").
func constant(e *expr.Expr) (string, error) {
	switch {
	case e.GetConstExpr() != nil:
		c := e.GetConstExpr()
		switch v := c.GetConstantKind().(type) {
		case *expr.Constant_StringValue:
			return v.StringValue, nil
		case *expr.Constant_Int64Value:
			return strconv.FormatInt(v.Int64Value, 10), nil
		default:
			return "", invalid("unsupported literal")
		}
	case e.GetIdentExpr() != nil:
		return e.GetIdentExpr().GetName(), nil
	case e.GetCallExpr() != nil && e.GetCallExpr().GetFunction() == filtering.FunctionTimestamp:
		return constant(e.GetCallExpr().GetArgs()[0])
	default:
		return "", invalid("the right side of a comparison must be a literal")
	}
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
