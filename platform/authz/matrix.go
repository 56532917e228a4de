package authz

import (
	"slices"
	"sort"
	"strings"
)

// Matrix renders rules as a Markdown table, one method a row and a column
// a role ("yes" when the role may call it; "public" for methods called
// without a token), with the records restricted roles reach; service names the service in the heading.
func Matrix(service string, rules map[string]Rule) string {
	methods := make([]string, 0, len(rules))
	for m := range rules {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	roles := []string{Admin, Manager, Sales, Ops, Service}
	var b strings.Builder
	b.WriteString("# Roles of the " + service + " service\n\n")
	b.WriteString("Generated from the rule table in `internal/wire/wire.go` by its test; regenerate with\n")
	b.WriteString("`UPDATE_GOLDEN=1 go test ./services/" + service + "/internal/wire -run RoleMatrix`.\n\n")
	b.WriteString("| method | " + strings.Join(roles, " | ") + " | records reached |\n")
	b.WriteString("|---" + strings.Repeat("|:-:", len(roles)) + "|---|\n")
	for _, m := range methods {
		r := rules[m]
		b.WriteString("| " + m[strings.LastIndex(m, "/")+1:])
		for _, role := range roles {
			cell := ""
			switch {
			case r.Public:
				cell = "public"
			case role == Admin || r.AnyCaller || slices.Contains(r.Roles, role):
				cell = "yes"
			}
			b.WriteString(" | " + cell)
		}
		b.WriteString(" | " + r.Reach + " |\n")
	}
	return b.String()
}
