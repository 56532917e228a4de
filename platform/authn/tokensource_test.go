package authn_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/authn"
)

func TestFileTokenSourcePicksUpARotatedToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := &authn.FileTokenSource{Path: path}
	for range 2 {
		if tok, err := src.Token(); err != nil || tok != "first-token" {
			t.Fatalf("token = %q, %v", tok, err)
		}
	}
	// Rotated: a new token of the same length, written a moment later (as
	// a mounted secret is swapped).
	if err := os.WriteFile(path, []byte("other-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if tok, err := src.Token(); err != nil || tok != "other-token" {
		t.Fatalf("after rotation: token = %q, %v", tok, err)
	}
	// A rotation by rename (how Kubernetes swaps a secret's files).
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("third-token-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if tok, err := src.Token(); err != nil || tok != "third-token-longer" {
		t.Fatalf("after rename: token = %q, %v", tok, err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(); err == nil {
		t.Fatal("empty token file accepted")
	}
	if _, err := (&authn.FileTokenSource{Path: path + ".missing"}).Token(); err == nil {
		t.Fatal("missing token file accepted")
	}
}

func TestMintingTokenSourceMintsServiceTokensAndRenewsThem(t *testing.T) {
	v, err := authn.NewVerifier(authn.Config{Issuer: iss, Audience: aud, Algorithms: []string{"HS256"}, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	src := authn.NewServiceTokenSource(secret, iss, aud, "lead")
	src.TTL = 2 * time.Second
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil || p.Subject != "service:lead" || len(p.Roles) != 1 || p.Roles[0] != "service" {
		t.Fatalf("service token = %+v, %v", p, err)
	}
	if again, _ := src.Token(); again != tok {
		t.Fatal("token not reused within its lifetime")
	}
	time.Sleep(1100 * time.Millisecond) // past half the TTL
	renewed, err := src.Token()
	if err != nil || renewed == tok {
		t.Fatalf("token not renewed: %v", err)
	}
	if _, err := v.Verify(renewed); err != nil {
		t.Fatal(err)
	}
	if _, err := (&authn.MintingTokenSource{Subject: "x"}).Token(); err == nil {
		t.Fatal("minted without a secret")
	}
}
