package domain

import (
	"strings"
	"testing"
	"time"
)

func TestWebFormKeys(t *testing.T) {
	now := time.Now()
	f, key, err := NewWebForm(WebForm{DisplayName: " Contact ", AllowedOrigins: []string{"https://WWW.Example.com"}}, "root", now)
	if err != nil {
		t.Fatal(err)
	}
	g, other, _ := NewWebForm(WebForm{DisplayName: "Other"}, "root", now)
	if !strings.HasPrefix(key, "wfk_") || len(key) < 40 || key == other || f.ID == g.ID {
		t.Fatalf("keys %q and %q", key, other)
	}
	if f.DisplayName != "Contact" || f.DefaultOwner != "root" || !strings.HasPrefix(key, f.KeyPrefix) || strings.Contains(string(f.KeyHash), key) {
		t.Fatalf("form %+v", f)
	}
	if !f.Accepts(key) || f.Accepts(other) || f.Accepts("") || f.Accepts(f.KeyPrefix) || f.Accepts(string(f.KeyHash)) {
		t.Fatal("Accepts: want the form's own key only")
	}
	for origin, ok := range map[string]bool{"": true, "https://www.example.com": true, "https://www.EXAMPLE.com": true,
		"https://evil.example": false, "null": false, "http://www.example.com": false} {
		if f.AllowsOrigin(origin) != ok {
			t.Errorf("AllowsOrigin(%q) = %v", origin, !ok)
		}
	}
	if !g.AllowsOrigin("https://anywhere.example") {
		t.Error("a form without allowed origins refused an origin")
	}
	if !f.Revoke("admin", now) || f.Revoke("other", now.Add(time.Hour)) || f.RevokedBy != "admin" || !f.RevokedAt.Equal(now) {
		t.Fatalf("revoke twice: %+v", f)
	}
	if f.Accepts(key) {
		t.Fatal("a revoked form accepts its key")
	}
	if _, _, err := NewWebForm(WebForm{DisplayName: "  "}, "root", now); err == nil {
		t.Fatal("a form without a display name was made")
	}
}

// Whatever the entry, the lead comes from the web form, for the form's
// campaign and owner.
func TestWebFormLeadsAreWebFormLeads(t *testing.T) {
	f, _, _ := NewWebForm(WebForm{DisplayName: "C", Campaign: "spring", DefaultOwner: "sue"}, "root", time.Now())
	l, _, err := New(f.Lead(WebFormEntry{LastName: "Lovelace", Message: " hi "}), f.Actor(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if l.Source != SourceWebForm || l.Campaign != "spring" || l.Owner != "sue" || l.Description != "hi" ||
		l.CreatedBy != "webform:"+f.ID.String() || l.Status != StatusNew {
		t.Fatalf("lead %+v", l)
	}
}
