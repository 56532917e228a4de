// Command devtoken prints a development bearer token, signed (HS256) with
// the secret `make run` keeps in .data/dev-signing-key:
//
//	TOKEN=$(bin/devtoken -sub alice -roles sales)
//	curl -H "Authorization: Bearer $TOKEN" localhost:8080/v1/leads
//
// Only services started with that secret (AUTH_ALGORITHMS=HS256, as
// devstack does) accept it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/platform/authn"
)

// roles a token may carry.
var roles = []string{"admin", "manager", "sales", "ops", "service"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	sub := fs.String("sub", "", "subject: the user (or service:<name>) the token names; required")
	roleList := fs.String("roles", "", "comma-separated roles: "+strings.Join(roles, ", "))
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid")
	secretFile := fs.String("secret-file", ".data/dev-signing-key", "file holding the HS256 signing secret (devstack writes it)")
	issuer := fs.String("issuer", "crm", "issuer (iss)")
	audience := fs.String("audience", "crm", "audience (aud)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("-sub is required")
	}
	var rs []string
	for _, r := range strings.Split(*roleList, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if !slices.Contains(roles, r) {
			return fmt.Errorf("unknown role %q (want %s)", r, strings.Join(roles, ", "))
		}
		rs = append(rs, r)
	}
	if *ttl <= 0 {
		return errors.New("-ttl must be positive")
	}
	b, err := os.ReadFile(*secretFile)
	if err != nil {
		return fmt.Errorf("%w (start the suite with `make run` once, or point -secret-file at the secret)", err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < 32 {
		return fmt.Errorf("%s: the secret must have at least 32 bytes", *secretFile)
	}
	tok, err := authn.Mint([]byte(secret), *issuer, *audience, *sub, rs, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
