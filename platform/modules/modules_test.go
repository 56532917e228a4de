package modules

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/crmsuite/crm/platform/apperr"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", Names},
		{"  ", Names},
		{"all", Names},
		{"ALL", Names},
		{"account,workflow", []string{"account", "workflow"}},
		{" workflow , Account ", []string{"account", "workflow"}},
		{"lead,lead", []string{"lead"}},
		{"order,opportunity,account,lead,workflow", Names},
	} {
		m, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := m.List(); !slices.Equal(got, c.want) {
			t.Errorf("Parse(%q) = %v, want %v", c.in, got, c.want)
		}
		if m.IsAll() != slices.Equal(c.want, Names) {
			t.Errorf("Parse(%q).IsAll() = %v", c.in, m.IsAll())
		}
		again, err := Parse(m.String())
		if err != nil || again != m {
			t.Errorf("Parse(%q).String() = %q does not parse back: %v", c.in, m.String(), err)
		}
	}
}

func TestParseRefusesUnknownAndEmptyNamesNamingTheModules(t *testing.T) {
	for in, want := range map[string]string{
		"customers,workflow":  `unknown module "customers"`,
		"leads,orders":        `unknown modules "leads", "orders"`,
		"account,,workflow":   "an empty module name",
		"all,lead":            `unknown module "all"`,
		"account;workflow":    `unknown module "account;workflow"`,
		"account, activities": `unknown module "activities"`,
	} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) = nil error", in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, want) || !strings.Contains(msg, "MODULES=") ||
			!strings.Contains(msg, "account (customers: accounts and contacts)") || !strings.Contains(msg, "workflow (activities") {
			t.Errorf("Parse(%q) = %q, want it to say %s and list the modules", in, msg, want)
		}
	}
}

func TestSet(t *testing.T) {
	var zero Set
	if !zero.IsAll() || !zero.Has("order") || zero.Has("nope") || len(zero.Absent()) != 0 {
		t.Errorf("zero Set = %v, absent %v: want every module", zero.List(), zero.Absent())
	}
	m := MustParse("account,workflow")
	if m.Has("lead") || !m.Has("account") || !slices.Equal(m.Absent(), []string{"lead", "opportunity", "order"}) {
		t.Errorf("account,workflow: list %v absent %v", m.List(), m.Absent())
	}
	if w := m.With("lead"); !w.Has("lead") || m.Has("lead") || w.String() != "lead,account,workflow" {
		t.Errorf("With(lead) = %v", w)
	}
}

func TestDisabled(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Disabled("opportunity"))
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindFailedPrecondition || e.Reason != Reason || e.Metadata["module"] != "opportunity" ||
		!strings.Contains(e.Message, "opportunity module") || len(e.Preconditions) != 1 {
		t.Fatalf("Disabled = %#v", e)
	}
	if m, ok := IsDisabled(err); !ok || m != "opportunity" {
		t.Errorf("IsDisabled = %q, %v", m, ok)
	}
	if _, ok := IsDisabled(apperr.FailedPrecondition("OTHER", "x")); ok {
		t.Error("IsDisabled(another precondition) = true")
	}
}
