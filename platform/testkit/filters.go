package testkit

import (
	"sort"
	"strconv"

	"github.com/crmsuite/crm/platform/aipfilter"
)

// HostileValues are SQL and LIKE metacharacters that a filter or search
// must treat as data: each matches nothing unless a record holds it.
var HostileValues = []string{
	`'; DROP TABLE t; --`,
	`' OR '1'='1`,
	`1) OR (1=1`,
	`$1 OR TRUE`,
	`%%%`,
	`___`,
	`\\\`,
	`*/ SELECT pg_sleep(5); /*`,
	`"; DELETE FROM t; --`,
}

// HostileFilter is a filter with a hostile value.
type HostileFilter struct {
	Filter string
	// Valid filters (text and string fields) must match nothing; the
	// others (enums, timestamps, booleans) must be InvalidArgument.
	Valid bool
}

// HostileFilters returns, for every field of schema, a filter comparing it
// with each of HostileValues.
func HostileFilters(schema *aipfilter.Schema) []HostileFilter {
	fields := schema.Fields()
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []HostileFilter
	for _, name := range names {
		for _, v := range HostileValues {
			lit := strconv.Quote(v)
			switch fields[name] {
			case aipfilter.Text:
				out = append(out, HostileFilter{Filter: name + ":" + lit, Valid: true})
			case aipfilter.String:
				out = append(out, HostileFilter{Filter: name + " = " + lit, Valid: true})
			default:
				out = append(out, HostileFilter{Filter: name + " = " + lit})
			}
		}
	}
	return out
}
