// Package authz decides, by role, which caller may call which RPC: deny by
// default. Every RPC a service registers has a Rule in a table next to its
// registration (service.Spec.Rules); a call of a method without one is
// refused (and logged as the programming error it is), and the service
// refuses to start when a registered method has no rule.
//
// Rules decide by role. Which records a caller then reaches (a
// salesperson: those it owns) the services' use cases decide, with Scope.
package authz

import (
	"context"
	"log/slog"
	"slices"
	"sort"

	"google.golang.org/grpc"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authn"
)

// The roles of the suite (a token's `roles` claim).
const (
	// Admin may call every method that has a rule, whatever its Roles.
	Admin   = "admin"
	Manager = "manager"
	Sales   = "sales"
	Ops     = "ops"
	// Service is the role of service identities (service-to-service
	// calls); rules name it only on the RPCs services actually call.
	Service = authn.ServiceRole
)

// ReasonDenied is the ErrorInfo reason of a refused call.
const ReasonDenied = "PERMISSION_DENIED"

// Rule says who may call one method.
type Rule struct {
	// Roles that may call it, besides Admin (none: admin only).
	Roles []string
	// AnyCaller lets every authenticated caller in, whatever its roles.
	AnyCaller bool
	// Public methods are called without a token: the interceptor chain
	// neither authenticates nor authorizes them, and their handler must
	// establish who calls by other means (a web form's key). Keep them few.
	Public bool
	// Reach says, for the role matrix, which records the method's use
	// case lets restricted roles reach (e.g. "sales: own"); the use case
	// enforces it (Scope).
	Reach string
}

// WithReach returns r noting which records restricted roles reach.
func (r Rule) WithReach(reach string) Rule {
	r.Reach = reach
	return r
}

// Allow is the rule admitting admin and roles.
func Allow(roles ...string) Rule { return Rule{Roles: roles} }

// AdminOnly is the rule of methods only an admin may call.
var AdminOnly = Rule{}

// Public is the rule of methods open without a token, whose handlers
// authenticate the call themselves (see Rule.Public).
var Public = Rule{Public: true}

// Allows reports whether a caller with roles may call the method.
func (r Rule) Allows(roles []string) bool {
	if r.AnyCaller || r.Public {
		return true
	}
	for _, role := range roles {
		if role == Admin || slices.Contains(r.Roles, role) {
			return true
		}
	}
	return false
}

// Policy authorizes calls by full method name ("/pkg.Service/Method").
type Policy struct {
	Rules map[string]Rule
	// SkipRoles admits every caller of a method that has a rule: for
	// AUTH_MODE=dev-header, whose callers have no roles (a subject from
	// the x-actor header only), so that mode keeps working as before.
	// Methods without a rule are still refused.
	SkipRoles bool
	Logger    *slog.Logger
}

// IsPublic reports whether fullMethod has a Public rule: the chain lets it
// through without a token (grpcx.Chain.Public).
func (p Policy) IsPublic(fullMethod string) bool {
	return p.Rules[fullMethod].Public
}

// Denied is the error of a refused call. It names neither the record nor
// the reason, so it does not tell whether a record exists.
func Denied() error {
	return apperr.PermissionDenied(ReasonDenied, "permission denied")
}

// Authorize returns nil if the caller in ctx (auth.FromContext) may call
// fullMethod, or a PermissionDenied error.
func (p Policy) Authorize(ctx context.Context, fullMethod string) error {
	r, ok := p.Rules[fullMethod]
	if !ok {
		if p.Logger != nil {
			p.Logger.ErrorContext(ctx, "programming error: method has no authorization rule, call denied; add one to the service's rule table",
				"method", fullMethod, "actor", auth.Actor(ctx))
		}
		return Denied()
	}
	if p.SkipRoles {
		return nil
	}
	pr, _ := auth.FromContext(ctx)
	if !r.Allows(pr.Roles) {
		return Denied()
	}
	return nil
}

// Uncovered returns the registered methods of services (from
// grpc.Server.GetServiceInfo) that have no rule, sorted, skipping those
// public reports as open to all (health checks, reflection).
func Uncovered(rules map[string]Rule, services map[string]grpc.ServiceInfo, public func(fullMethod string) bool) []string {
	var out []string
	for name, info := range services {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			if public != nil && public(full) {
				continue
			}
			if _, ok := rules[full]; !ok {
				out = append(out, full)
			}
		}
	}
	sort.Strings(out)
	return out
}
