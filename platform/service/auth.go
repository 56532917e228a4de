package service

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/grpcx"
)

// Authentication modes (AUTH_MODE).
const (
	// AuthToken: every call but health checks and reflection carries a
	// bearer JWT (the default).
	AuthToken = "token"
	// AuthDevHeader trusts the x-actor header: local debugging only.
	AuthDevHeader = "dev-header"
)

// AuthConfig is how a service authenticates its callers and itself.
type AuthConfig struct {
	// Mode is AuthToken (default) or AuthDevHeader.
	Mode string
	// Issuer and Audience every token must name (default "crm").
	Issuer, Audience string
	// Algorithms accepted (default RS256, EdDSA).
	Algorithms []string
	// HS256Secret verifies HS256 tokens and signs this service's own
	// tokens when there is no ServiceTokenFile.
	HS256Secret string
	// JWKSFile holds the public keys of RS256/EdDSA tokens.
	JWKSFile string
	// ServiceTokenFile holds this service's own token for its calls to
	// other services; it is read again when it changes.
	ServiceTokenFile string
}

func (a AuthConfig) withDefaults() AuthConfig {
	if a.Mode == "" {
		a.Mode = AuthToken
	}
	if a.Issuer == "" {
		a.Issuer = "crm"
	}
	if a.Audience == "" {
		a.Audience = "crm"
	}
	if len(a.Algorithms) == 0 {
		a.Algorithms = []string{"RS256", "EdDSA"}
	}
	return a
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// authentication returns the authenticator of incoming calls and the
// source of this service's own token for outgoing ones (nil when it has
// none), or why the configuration does not work.
func authentication(name string, a AuthConfig, log *slog.Logger) (grpcx.Authenticator, authn.TokenSource, error) {
	a = a.withDefaults()
	switch a.Mode {
	case AuthDevHeader:
		log.Warn("!!! AUTH_MODE=dev-header: calls are NOT authenticated; any caller can claim any identity in x-actor. " +
			"For debugging on a developer's machine only, never on a shared network !!!")
		return grpcx.HeaderAuthenticator{}, nil, nil
	case AuthToken:
	default:
		return nil, nil, fmt.Errorf("AUTH_MODE %q: want %q or %q", a.Mode, AuthToken, AuthDevHeader)
	}
	v, err := authn.NewVerifier(authn.Config{
		Issuer: a.Issuer, Audience: a.Audience, Algorithms: a.Algorithms,
		HMACSecret: []byte(a.HS256Secret), JWKSFile: a.JWKSFile,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("authentication (AUTH_MODE=token, AUTH_ALGORITHMS=%s): %w; "+
			"HS256 needs AUTH_HS256_SECRET(_FILE) of 32+ bytes, RS256/EdDSA AUTH_JWKS_FILE", strings.Join(a.Algorithms, ","), err)
	}
	var tokens authn.TokenSource
	switch {
	case a.ServiceTokenFile != "":
		tokens = &authn.FileTokenSource{Path: a.ServiceTokenFile}
		if _, err := tokens.Token(); err != nil {
			return nil, nil, fmt.Errorf("AUTH_SERVICE_TOKEN_FILE: %w", err)
		}
	case a.HS256Secret != "":
		if len(a.HS256Secret) < 32 {
			return nil, nil, errors.New("AUTH_HS256_SECRET: at least 32 bytes are needed to sign service tokens")
		}
		if !slices.Contains(a.Algorithms, "HS256") {
			log.Warn("AUTH_HS256_SECRET is set but AUTH_ALGORITHMS does not accept HS256: services configured like this one refuse this service's own tokens")
		}
		tokens = authn.NewServiceTokenSource([]byte(a.HS256Secret), a.Issuer, a.Audience, name)
	}
	return grpcx.TokenAuthenticator{Verifier: v, Logger: log}, tokens, nil
}
