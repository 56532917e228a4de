package paging

import (
	"slices"
	"strings"

	"go.einride.tech/aip/ordering"

	"github.com/crmsuite/crm/platform/apperr"
)

type orderBy string

func (o orderBy) GetOrderBy() string { return string(o) }

// ParseOrder reads a List request's order_by (AIP-132): one of the keys of
// orders, optionally followed by "desc"; "" is "create_time desc". Any
// other is InvalidArgument on order_by, reason INVALID_ORDER_BY, naming
// the fields one may order by.
func ParseOrder[T any](s string, orders map[string]T) (field string, desc bool, err error) {
	if strings.TrimSpace(s) == "" {
		return "create_time", true, nil
	}
	names := make([]string, 0, len(orders))
	for k := range orders {
		names = append(names, k)
	}
	slices.Sort(names)
	bad := func(format string, a ...any) error {
		return apperr.InvalidField("order_by", "INVALID_ORDER_BY", format, a...)
	}
	ob, err := ordering.ParseOrderBy(orderBy(s))
	if err != nil || len(ob.Fields) != 1 {
		return "", false, bad("order by one of %s, optionally followed by desc", strings.Join(names, ", "))
	}
	f := ob.Fields[0]
	if _, ok := orders[f.Path]; !ok {
		return "", false, bad("cannot order by %q; use one of %s", f.Path, strings.Join(names, ", "))
	}
	return f.Path, f.Desc, nil
}
