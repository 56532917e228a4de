// Package modules names the parts of the suite an installation may run
// (the MODULES setting: not every business needs leads, or orders) and
// the error a call gets when it needs a module that does not run.
package modules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crmsuite/crm/platform/apperr"
)

// Reason is the ErrorInfo reason of a call that needs a module the
// installation does not run; its metadata "module" names the module.
const Reason = "MODULE_DISABLED"

// Names are the modules, one per service, in the order `make run` starts
// them.
var Names = []string{"lead", "account", "opportunity", "order", "workflow"}

var what = map[string]string{
	"lead":        "leads",
	"account":     "customers: accounts and contacts",
	"opportunity": "opportunities and pipelines",
	"order":       "orders and contracts",
	"workflow":    "activities, tasks, calendars and rules",
}

// Set is the modules an installation runs. The zero value is every module.
type Set struct {
	absent uint8
}

// All is every module.
func All() Set { return Set{} }

// Parse reads a MODULES value: module names separated by commas, or
// "all"; empty means all. Unknown names are an error that lists the
// modules.
func Parse(s string) (Set, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "all") {
		return All(), nil
	}
	var (
		on      uint8
		unknown []string
		empty   bool
	)
	for _, part := range strings.Split(s, ",") {
		name := strings.ToLower(strings.TrimSpace(part))
		i := slices.Index(Names, name)
		switch {
		case name == "":
			empty = true
		case i < 0:
			unknown = append(unknown, fmt.Sprintf("%q", strings.TrimSpace(part)))
		default:
			on |= 1 << i
		}
	}
	switch {
	case len(unknown) == 1:
		return Set{}, fmt.Errorf("MODULES=%q: unknown module %s; %s", s, unknown[0], known())
	case len(unknown) > 1:
		return Set{}, fmt.Errorf("MODULES=%q: unknown modules %s; %s", s, strings.Join(unknown, ", "), known())
	case empty:
		return Set{}, fmt.Errorf("MODULES=%q: an empty module name (a stray comma?); %s", s, known())
	}
	return Set{absent: ^on & (1<<len(Names) - 1)}, nil
}

// MustParse is Parse for values known to be good (tests).
func MustParse(s string) Set {
	m, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return m
}

func known() string {
	parts := make([]string, len(Names))
	for i, n := range Names {
		parts[i] = n + " (" + what[n] + ")"
	}
	return "the modules are " + strings.Join(parts, ", ") + `, or "all"`
}

// Has reports whether the installation runs module name.
func (m Set) Has(name string) bool {
	i := slices.Index(Names, name)
	return i >= 0 && m.absent&(1<<i) == 0
}

// List is the modules that run, in Names order.
func (m Set) List() []string {
	var out []string
	for _, n := range Names {
		if m.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

// Absent is the modules that do not run, in Names order.
func (m Set) Absent() []string {
	var out []string
	for _, n := range Names {
		if !m.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

// IsAll reports whether every module runs.
func (m Set) IsAll() bool { return m.absent == 0 }

// With is m with module name added (a service runs itself, whatever
// MODULES says).
func (m Set) With(name string) Set {
	if i := slices.Index(Names, name); i >= 0 {
		m.absent &^= 1 << i
	}
	return m
}

// String is the MODULES value of m: the names that run, comma-separated.
func (m Set) String() string { return strings.Join(m.List(), ",") }

// Describe says what module name holds ("order": "orders and contracts").
func Describe(name string) string { return what[name] }

// Disabled is the error of a call that needs module name when the
// installation does not run it: FailedPrecondition, reason
// MODULE_DISABLED, metadata module=name.
func Disabled(name string) *apperr.Error {
	msg := fmt.Sprintf("the %s module (%s) does not run in this installation: see MODULES", name, what[name])
	e := apperr.FailedPrecondition(Reason, "%s", msg)
	e.Preconditions = []apperr.PreconditionViolation{{Type: Reason, Subject: "modules/" + name, Description: msg}}
	return e.WithMeta("module", name)
}

// IsDisabled reports whether err says a module does not run, and which.
func IsDisabled(err error) (module string, ok bool) {
	e, ok := apperr.As(err)
	if !ok || e.Reason != Reason {
		return "", false
	}
	return e.Metadata["module"], true
}
