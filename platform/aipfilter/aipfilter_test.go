package aipfilter_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
)

var schema = aipfilter.NewSchema(map[string]aipfilter.Field{
	"status":      {Column: "status", Kind: aipfilter.Enum, EnumType: leadv1.Status(0).Type(), EnumPrefix: "STATUS_"},
	"owner":       {Column: "owner", Kind: aipfilter.String},
	"email":       {Column: "email", Kind: aipfilter.String, Fold: true},
	"create_time": {Column: "created_at", Kind: aipfilter.Timestamp},
	"text":        {Column: "search", Kind: aipfilter.Text, MinLen: 3},
})

func TestWhereTranslatesToParameterisedSQL(t *testing.T) {
	cases := []struct {
		filter      string
		sql         string
		args        []any
		withoutText string
	}{
		{"", "TRUE", nil, ""},
		{`status = STATUS_NEW`, "status = $1", []any{"NEW"}, "(status = $1)"},
		{`status = NEW`, "status = $1", []any{"NEW"}, "(status = $1)"},
		{`status = STATUS_UNSPECIFIED`, "status = $1", []any{""}, "(status = $1)"},
		{`status != STATUS_UNSPECIFIED`, "status IS DISTINCT FROM $1", []any{""}, "(status IS DISTINCT FROM $1)"},
		{`status != STATUS_QUALIFIED AND owner = "u1"`, "(status IS DISTINCT FROM $1 AND owner = $2)", []any{"QUALIFIED", "u1"}, ""},
		{`email = "A@B.com" OR NOT owner = "x"`, "(lower(email) = $1 OR (NOT owner = $2))", []any{"a@b.com", "x"}, ""},
		{`create_time >= "2026-01-02T03:04:05Z"`, "created_at >= $1", []any{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, ""},
		{`text:"50%_Off"`, `search LIKE $1`, []any{`%50\%\_off%`}, "TRUE"},
		{`owner = "u" AND (text:"abc" OR status = STATUS_NEW) AND NOT text:"xyz" AND email = "e"`,
			`(owner = $1 AND (search LIKE $2 OR status = $3) AND (NOT search LIKE $4) AND lower(email) = $5)`,
			[]any{"u", "%abc%", "NEW", "%xyz%", "e"}, "(owner = $1 AND lower(email) = $5)"},
	}
	for _, c := range cases {
		var args []any
		clause, err := schema.Where(c.filter, &args)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		sql := clause.SQL
		if clause.HasText != strings.Contains(c.filter, "text:") {
			t.Fatalf("%q: HasText = %v", c.filter, clause.HasText)
		}
		if c.withoutText != "" && clause.WithoutText != c.withoutText {
			t.Fatalf("%q: WithoutText = %q, want %q", c.filter, clause.WithoutText, c.withoutText)
		}
		if sql != c.sql || len(args) != len(c.args) {
			t.Fatalf("%q: got %q %v, want %q %v", c.filter, sql, args, c.sql, c.args)
		}
		for i := range args {
			if ts, ok := c.args[i].(time.Time); ok {
				if !ts.Equal(args[i].(time.Time)) {
					t.Fatalf("%q: arg %d = %v", c.filter, i, args[i])
				}
			} else if args[i] != c.args[i] {
				t.Fatalf("%q: arg %d = %v, want %v", c.filter, i, args[i], c.args[i])
			}
		}
	}
}

func TestMalformedFiltersAreInvalidArgumentOnFilterField(t *testing.T) {
	for _, f := range []string{
		`status = `,
		`status = NOPE`,
		`status = HOT`,
		`status = "STATUS_NOPE"`,
		`nosuch = "x"`,
		`owner > `,
		`(status = STATUS_NEW`,
		`create_time > "yesterday"`,
		`text:"ab"`,
		`owner:"x"`,
		`text = "abc"`,
		`status < STATUS_NEW`,
		`"bare"`,
		`owner = "a" AND AND`,
		strings.Repeat("(", 500),
	} {
		var args []any
		_, err := schema.Where(f, &args)
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.KindInvalidArgument || len(ae.Violations) != 1 || ae.Violations[0].Field != "filter" {
			t.Fatalf("%q: err = %v, want InvalidArgument on filter", f, err)
		}
	}
}

func FuzzWhere(f *testing.F) {
	for _, s := range []string{`status = STATUS_NEW`, `text:"acme" AND owner = "u"`, `create_time < "2026-01-01T00:00:00Z"`, `NOT (a = b)`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		var args []any
		clause, err := schema.Where(filter, &args)
		sql := clause.SQL
		if err != nil {
			if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.KindInvalidArgument {
				t.Fatalf("%q: non-InvalidArgument error %v", filter, err)
			}
			return
		}
		if strings.Contains(sql, filter) && filter != "" && filter != "TRUE" {
			t.Fatalf("%q: raw input reached SQL: %s", filter, sql)
		}
	})
}

func TestBoolAndNormalisedArrayFields(t *testing.T) {
	s := aipfilter.NewSchema(map[string]aipfilter.Field{
		"primary": {Column: "is_primary", Kind: aipfilter.Bool},
		"email":   {Column: "email_keys", Kind: aipfilter.String, Array: true, Normalize: strings.ToLower},
	})
	cases := []struct {
		filter, sql string
		args        []any
	}{
		{`primary = true`, "is_primary = $1", []any{true}},
		{`primary != false`, "is_primary IS DISTINCT FROM $1", []any{false}},
		{`primary`, "is_primary", nil},
		{`NOT primary AND email = "A@X.com"`, "((NOT is_primary) AND email_keys @> $1)", []any{[]string{"a@x.com"}}},
		{`email != "b@x.com"`, "(NOT email_keys @> $1)", []any{[]string{"b@x.com"}}},
	}
	for _, c := range cases {
		var args []any
		clause, err := s.Where(c.filter, &args)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		if clause.SQL != c.sql || fmt.Sprint(args) != fmt.Sprint(c.args) {
			t.Fatalf("%q: got %q %v, want %q %v", c.filter, clause.SQL, args, c.sql, c.args)
		}
	}
	for _, bad := range []string{`primary = "yes"`, `primary > true`, `email < "a"`} {
		var args []any
		if _, err := s.Where(bad, &args); err == nil {
			t.Fatalf("%q: accepted", bad)
		}
	}
}

// Every value is bound as a parameter: hostile text never reaches the SQL.
func TestHostileValuesAreBoundNeverSpliced(t *testing.T) {
	s := aipfilter.NewSchema(map[string]aipfilter.Field{
		"owner": {Column: "owner", Kind: aipfilter.String},
		"email": {Column: "email", Kind: aipfilter.String, Fold: true},
		"tags":  {Column: "tags", Kind: aipfilter.String, Array: true},
		"text":  {Column: "search", Kind: aipfilter.Text, MinLen: 3},
	})
	for _, v := range []string{`'; DROP TABLE t; --`, `' OR '1'='1`, `%%%`, `\\\`, `"quoted"`} {
		for _, filter := range []string{
			"owner = " + strconv.Quote(v), "email = " + strconv.Quote(v), "tags = " + strconv.Quote(v), "text:" + strconv.Quote(v),
		} {
			var args []any
			c, err := s.Where(filter, &args)
			if err != nil {
				t.Fatalf("%s: %v", filter, err)
			}
			if strings.ContainsAny(c.SQL, `'%\"`) || len(args) != 1 {
				t.Fatalf("%s: SQL %q args %q", filter, c.SQL, args)
			}
		}
	}
}

// A value the field's normaliser cannot read (not a phone number) matches
// no record, rather than every record without a key.
func TestUnreadableNormalisedValueMatchesNothing(t *testing.T) {
	s := aipfilter.NewSchema(map[string]aipfilter.Field{
		"phone": {Column: "phone_key", Kind: aipfilter.String, Normalize: func(v string) string {
			if strings.Trim(v, "+0123456789 ") != "" {
				return ""
			}
			return strings.ReplaceAll(v, " ", "")
		}},
	})
	for filter, want := range map[string]string{
		`phone = "'; DROP TABLE t; --"`:  "FALSE",
		`phone != "'; DROP TABLE t; --"`: "TRUE",
		`phone = "+44 20 7946 0000"`:     "phone_key = $1",
	} {
		var args []any
		c, err := s.Where(filter, &args)
		if err != nil || c.SQL != want {
			t.Fatalf("%s: %q, %v; want %q", filter, c.SQL, err, want)
		}
	}
}
