package paging

import (
	"testing"

	"github.com/crmsuite/crm/platform/apperr"
)

func TestParseOrder(t *testing.T) {
	orders := map[string]int{"create_time": 1, "company": 2}
	for s, want := range map[string]struct {
		field string
		desc  bool
	}{"": {"create_time", true}, "  ": {"create_time", true}, "company": {"company", false}, "create_time desc": {"create_time", true}} {
		field, desc, err := ParseOrder(s, orders)
		if err != nil || field != want.field || desc != want.desc {
			t.Errorf("ParseOrder(%q) = %q, %v, %v", s, field, desc, err)
		}
	}
	for _, s := range []string{"shoe_size", "company, create_time", "company sideways", "company desc desc"} {
		_, _, err := ParseOrder(s, orders)
		e, ok := apperr.As(err)
		if !ok || e.Reason != "INVALID_ORDER_BY" || len(e.Violations) != 1 || e.Violations[0].Field != "order_by" {
			t.Errorf("ParseOrder(%q) error = %v", s, err)
		}
	}
}
