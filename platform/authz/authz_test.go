package authz_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
)

func TestPolicyDeniesByDefault(t *testing.T) {
	const read, del, open, public = "/x.S/Read", "/x.S/Delete", "/x.S/Ping", "/x.S/Submit"
	p := authz.Policy{Logger: slog.New(slog.DiscardHandler), Rules: map[string]authz.Rule{
		read:   authz.Allow(authz.Sales, authz.Ops),
		del:    authz.AdminOnly,
		open:   {AnyCaller: true},
		public: authz.Public,
	}}
	as := func(roles ...string) context.Context {
		return auth.WithPrincipal(context.Background(), auth.Principal{Subject: "u", Roles: roles})
	}
	cases := []struct {
		ctx    context.Context
		method string
		ok     bool
	}{
		{as("sales"), read, true},
		{as("manager", "ops"), read, true},
		{as("admin"), read, true},
		{as("admin"), del, true},
		{as("manager"), read, false},
		{as("sales"), del, false},
		{as(), read, false},
		{context.Background(), read, false},
		{as(), open, true},
		{context.Background(), public, true},
		{as("admin"), "/x.S/Unknown", false},
	}
	for _, tc := range cases {
		err := p.Authorize(tc.ctx, tc.method)
		if tc.ok != (err == nil) {
			p, _ := auth.FromContext(tc.ctx)
			t.Errorf("%v on %s: %v, want allowed=%v", p.Roles, tc.method, err, tc.ok)
		}
		var ae *apperr.Error
		if err != nil && (!errors.As(err, &ae) || ae.Kind != apperr.KindPermissionDenied || ae.Reason != authz.ReasonDenied) {
			t.Errorf("%s: error %v, want PermissionDenied %s", tc.method, err, authz.ReasonDenied)
		}
	}
	if !p.IsPublic(public) || p.IsPublic(open) || p.IsPublic("/x.S/Unknown") {
		t.Error("IsPublic: want true for the Public rule only")
	}
	// dev-header mode: no role checks, but still no method without a rule.
	p.SkipRoles = true
	if err := p.Authorize(as(), del); err != nil {
		t.Errorf("dev-header, no roles, admin-only method: %v", err)
	}
	if err := p.Authorize(as("admin"), "/x.S/Unknown"); err == nil {
		t.Error("dev-header: a method without a rule was allowed")
	}
}
