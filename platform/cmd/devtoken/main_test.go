package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmsuite/crm/platform/authn"
)

func TestDevtokenMintsATokenTheServicesAccept(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef-dev"
	file := filepath.Join(t.TempDir(), "dev-signing-key")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := capture(t, func() error { return run([]string{"-sub", "alice", "-roles", "sales,manager", "-secret-file", file}) })
	v, err := authn.NewVerifier(authn.Config{Issuer: "crm", Audience: "crm", Algorithms: []string{"HS256"}, HMACSecret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(strings.TrimSpace(out))
	if err != nil || p.Subject != "alice" || strings.Join(p.Roles, ",") != "sales,manager" {
		t.Fatalf("token = %+v, %v", p, err)
	}
	for _, args := range [][]string{
		{"-roles", "sales", "-secret-file", file},             // no subject
		{"-sub", "a", "-roles", "root", "-secret-file", file}, // unknown role
		{"-sub", "a", "-secret-file", file + ".missing"},      // no secret
		{"-sub", "a", "-ttl", "-1h", "-secret-file", file},    // bad ttl
	} {
		if err := run(args); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func capture(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	err = fn()
	os.Stdout = stdout
	_ = w.Close()
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
