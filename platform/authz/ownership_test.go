package authz_test

import (
	"context"
	"testing"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
)

func TestScopeReachesOwnRecordsForSalesOnly(t *testing.T) {
	as := func(roles ...string) context.Context {
		return auth.WithPrincipal(context.Background(), auth.Principal{Subject: "sam", Roles: roles})
	}
	cases := []struct {
		name         string
		ctx          context.Context
		all          bool
		ownsSams     bool
		ownsBobs     bool
		hidesMissing bool
	}{
		{"sales", as("sales"), false, true, false, true},
		{"ops", as("ops"), false, false, false, true},
		{"manager", as("manager"), true, true, true, false},
		{"admin", as("admin"), true, true, true, false},
		{"sales and manager", as("sales", "manager"), true, true, true, false},
		{"service", as("service"), true, true, true, false},
		{"event consumer (no principal)", context.Background(), true, true, true, false},
	}
	missing := apperr.NotFound("LEAD_NOT_FOUND", "no such lead")
	for _, c := range cases {
		s := authz.ScopeOf(c.ctx)
		if s.All != c.all || s.Owns("sam") != c.ownsSams || s.Owns("bob") != c.ownsBobs {
			t.Errorf("%s: scope %+v owns sam %v bob %v", c.name, s, s.Owns("sam"), s.Owns("bob"))
		}
		if s.Owns("") && !s.All {
			t.Errorf("%s: owns records without an owner", c.name)
		}
		hidden := apperr.IsKind(s.Hide(missing), apperr.KindPermissionDenied)
		if hidden != c.hidesMissing {
			t.Errorf("%s: hides a missing record: %v", c.name, hidden)
		}
		if err := s.CheckOwner("bob"); (err == nil) != c.ownsBobs {
			t.Errorf("%s: CheckOwner(bob) = %v", c.name, err)
		}
	}
}

func TestOwnerFilterNarrowsRestrictedCallersToTheirOwn(t *testing.T) {
	as := func(roles ...string) authz.Scope {
		return authz.ScopeOf(auth.WithPrincipal(context.Background(), auth.Principal{Subject: "sam", Roles: roles}))
	}
	cases := []struct {
		scope  authz.Scope
		asked  string
		want   string
		denied bool
	}{
		{as("manager"), "", "", false},
		{as("manager"), "bob", "bob", false},
		{as("sales"), "", "sam", false},
		{as("sales"), "sam", "sam", false},
		{as("sales"), "bob", "", true},
		{as("ops"), "", "", true},
	}
	for _, c := range cases {
		got, err := c.scope.OwnerFilter(c.asked)
		if got != c.want || (err != nil) != c.denied || err != nil && !apperr.IsKind(err, apperr.KindPermissionDenied) {
			t.Errorf("%+v OwnerFilter(%q) = %q, %v", c.scope, c.asked, got, err)
		}
	}
}
