// Package authn verifies the bearer tokens every call carries: JWTs whose
// signature, expiry (exp, nbf), issuer and audience are checked, with the
// accepted algorithms taken from configuration. HS256 with a shared secret
// is for development; production verifies RS256 or EdDSA signatures with
// public keys from a JWKS file (an identity provider's).
//
// Claims: `sub` is the user or service id (the actor recorded everywhere),
// `roles` the roles it holds (admin, manager, sales, ops, service).
package authn

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/crmsuite/crm/platform/auth"
)

// Config says which tokens to accept.
type Config struct {
	// Issuer (`iss`) and Audience (`aud`) every token must name.
	Issuer   string
	Audience string
	// Algorithms accepted, e.g. RS256, EdDSA; HS256 only when listed.
	Algorithms []string
	// HMACSecret verifies HS256 tokens (development).
	HMACSecret []byte
	// JWKSFile holds the public keys of RS256/EdDSA tokens, by `kid`.
	JWKSFile string
	// Leeway for clock skew on exp and nbf; default 30s.
	Leeway time.Duration
}

// Verifier checks tokens.
type Verifier struct {
	cfg  Config
	keys map[string]any // kid -> public key, from the JWKS file
	// anyKey is the only key of a one-key JWKS, for tokens without kid.
	anyKey any
}

// Errors a token is refused with. Callers answer Unauthenticated and do
// not tell the client which (that would help an attacker).
var (
	ErrNoToken      = errors.New("authn: no bearer token")
	ErrInvalidToken = errors.New("authn: invalid token")
)

// NewVerifier returns a verifier, reading the JWKS file if configured.
func NewVerifier(c Config) (*Verifier, error) {
	if c.Issuer == "" || c.Audience == "" {
		return nil, errors.New("authn: issuer and audience are required")
	}
	if len(c.Algorithms) == 0 {
		return nil, errors.New("authn: no accepted algorithms")
	}
	for _, a := range c.Algorithms {
		switch a {
		case "HS256":
			if len(c.HMACSecret) < 32 {
				return nil, errors.New("authn: HS256 needs a secret of at least 32 bytes")
			}
		case "RS256", "EdDSA":
			if c.JWKSFile == "" {
				return nil, fmt.Errorf("authn: %s needs a JWKS file", a)
			}
		default:
			return nil, fmt.Errorf("authn: algorithm %q is not supported (HS256, RS256, EdDSA)", a)
		}
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	v := &Verifier{cfg: c, keys: map[string]any{}}
	if c.JWKSFile != "" {
		if err := v.loadJWKS(c.JWKSFile); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *Verifier) loadJWKS(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("authn: %w", err)
	}
	set, err := jwk.Parse(data)
	if err != nil {
		return fmt.Errorf("authn: JWKS %s: %w", path, err)
	}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		var raw any
		if err := jwk.Export(k, &raw); err != nil {
			return fmt.Errorf("authn: JWKS %s key %d: %w", path, i, err)
		}
		kid, _ := k.KeyID()
		v.keys[kid] = raw
		if set.Len() == 1 {
			v.anyKey = raw
		}
	}
	if len(v.keys) == 0 {
		return fmt.Errorf("authn: JWKS %s has no keys", path)
	}
	return nil
}

// Claims are the token claims the suite reads.
type Claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
}

// Verify checks a token and returns whom it names.
func (v *Verifier) Verify(token string) (auth.Principal, error) {
	if token == "" {
		return auth.Principal{}, ErrNoToken
	}
	var claims Claims
	_, err := jwt.ParseWithClaims(token, &claims, v.key,
		jwt.WithValidMethods(v.cfg.Algorithms),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.cfg.Leeway),
	)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.Subject == "" || len(claims.Subject) > 128 {
		return auth.Principal{}, fmt.Errorf("%w: missing or over-long sub", ErrInvalidToken)
	}
	return auth.Principal{Subject: claims.Subject, Roles: claims.Roles}, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case "HS256":
		return v.cfg.HMACSecret, nil
	case "RS256", "EdDSA":
		kid, _ := t.Header["kid"].(string)
		if k, ok := v.keys[kid]; ok {
			return k, nil
		}
		if kid == "" && v.anyKey != nil {
			return v.anyKey, nil
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	return nil, fmt.Errorf("algorithm %q not accepted", t.Method.Alg())
}

// BearerToken returns the token of an `Authorization: Bearer <token>`
// header value, or "".
func BearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Mint signs an HS256 token (development and tests): subject, roles,
// issuer, audience, valid for ttl.
func Mint(secret []byte, issuer, audience, subject string, roles []string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Audience: jwt.ClaimStrings{audience}, Subject: subject,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Roles: slices.Clone(roles),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// EqualSecret compares two shared secrets in constant time.
func EqualSecret(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
