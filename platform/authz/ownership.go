package authz

import (
	"context"
	"slices"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
)

// Scope is which owned records (leads, accounts, contacts, opportunities)
// a caller may read or change, once the method's Rule has let it in.
//
// Admins, managers and service identities reach every record. A
// salesperson reaches the records it owns (Owner). Calls without a
// principal (event consumers, which act for the system) and callers
// without roles (AUTH_MODE=dev-header only: with tokens, a caller without
// roles never passes a Rule) are not restricted either.
type Scope struct {
	All bool
	// Owner is the caller's subject when it reaches its own records.
	Owner string
	roles []string
}

// ScopeOf returns the scope of the caller in ctx.
func ScopeOf(ctx context.Context) Scope {
	p, ok := auth.FromContext(ctx)
	if !ok || len(p.Roles) == 0 {
		return Scope{All: true}
	}
	s := Scope{roles: p.Roles}
	for _, r := range p.Roles {
		switch r {
		case Admin, Manager, Service:
			s.All = true
		case Sales:
			s.Owner = p.Subject
		}
	}
	return s
}

// Admin reports whether the caller may do what only admins may: it holds
// the admin role, or has no roles at all (an event consumer; or
// AUTH_MODE=dev-header, where roles are not checked).
func (s Scope) Admin() bool {
	return s.All && (len(s.roles) == 0 || slices.Contains(s.roles, Admin))
}

// Has reports whether the caller holds role.
func (s Scope) Has(role string) bool { return slices.Contains(s.roles, role) }

// Owns reports whether the caller reaches a record owned by owner.
func (s Scope) Owns(owner string) bool {
	return s.All || s.Owner != "" && s.Owner == owner
}

// CheckOwner refuses, with PermissionDenied, a change of a record owned by
// owner that the caller does not reach.
func (s Scope) CheckOwner(owner string) error {
	if !s.Owns(owner) {
		return Denied()
	}
	return nil
}

// OwnerFilter returns the owner a list or report the caller asked for
// (asked, "" for all) must be narrowed to: asked itself for a caller who
// reaches every record, else the caller's own subject. Asking for another
// owner's, or having no own records to ask for, is PermissionDenied.
func (s Scope) OwnerFilter(asked string) (string, error) {
	switch {
	case s.All:
		return asked, nil
	case s.Owner == "" || asked != "" && asked != s.Owner:
		return "", Denied()
	}
	return s.Owner, nil
}

// Hide turns NotFound into PermissionDenied for a caller that does not
// reach every record, so that whether a record exists is not revealed to
// callers who may not read it.
func (s Scope) Hide(err error) error {
	if !s.All && apperr.IsKind(err, apperr.KindNotFound) {
		return Denied()
	}
	return err
}
