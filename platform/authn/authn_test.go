package authn_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/crmsuite/crm/platform/authn"
)

const iss, aud = "https://id.example", "crm"

var secret = []byte("0123456789abcdef0123456789abcdef")

func claims(sub string, exp time.Duration) authn.Claims {
	now := time.Now()
	return authn.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: iss, Audience: jwt.ClaimStrings{aud}, Subject: sub,
			ExpiresAt: jwt.NewNumericDate(now.Add(exp)), IssuedAt: jwt.NewNumericDate(now),
		},
		Roles: []string{"sales"},
	}
}

// keys writes a JWKS file with an RSA key ("rsa-1") and an Ed25519 key
// ("ed-1") and returns their private halves.
func keys(t *testing.T) (string, *rsa.PrivateKey, ed25519.PrivateKey) {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	for kid, pub := range map[string]any{"rsa-1": &rsaKey.PublicKey, "ed-1": edPub} {
		k, err := jwk.Import(pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, rsaKey, edPriv
}

func sign(t *testing.T, m jwt.SigningMethod, c authn.Claims, kid string, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	jwks, rsaKey, edKey := keys(t)
	prod, err := authn.NewVerifier(authn.Config{Issuer: iss, Audience: aud, Algorithms: []string{"RS256", "EdDSA"}, JWKSFile: jwks})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := authn.NewVerifier(authn.Config{Issuer: iss, Audience: aud, Algorithms: []string{"HS256"}, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	good := claims("alice", time.Hour)
	minted, err := authn.Mint(secret, iss, aud, "bob", []string{"manager"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		v     *authn.Verifier
		token string
		sub   string
	}{
		"RS256 by kid": {prod, sign(t, jwt.SigningMethodRS256, good, "rsa-1", rsaKey), "alice"},
		"EdDSA by kid": {prod, sign(t, jwt.SigningMethodEdDSA, good, "ed-1", edKey), "alice"},
		"HS256 dev":    {dev, sign(t, jwt.SigningMethodHS256, good, "", secret), "alice"},
		"minted":       {dev, minted, "bob"},
	} {
		p, err := c.v.Verify(c.token)
		if err != nil || p.Subject != c.sub || len(p.Roles) != 1 {
			t.Errorf("%s: %v, %v", name, p, err)
		}
	}

	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	expired := claims("alice", -time.Hour)
	notYet := claims("alice", 2*time.Hour)
	notYet.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour))
	wrongAud := claims("alice", time.Hour)
	wrongAud.Audience = jwt.ClaimStrings{"billing"}
	wrongIss := claims("alice", time.Hour)
	wrongIss.Issuer = "https://evil.example"
	noExp := claims("alice", time.Hour)
	noExp.ExpiresAt = nil
	noSub := claims("", time.Hour)
	none := sign(t, jwt.SigningMethodNone, good, "", jwt.UnsafeAllowNoneSignatureType)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for name, c := range map[string]struct {
		v     *authn.Verifier
		token string
	}{
		"no token":                     {prod, ""},
		"garbage":                      {prod, "not.a.jwt"},
		"expired":                      {prod, sign(t, jwt.SigningMethodRS256, expired, "rsa-1", rsaKey)},
		"not yet valid":                {prod, sign(t, jwt.SigningMethodRS256, notYet, "rsa-1", rsaKey)},
		"another key":                  {prod, sign(t, jwt.SigningMethodRS256, good, "rsa-1", otherRSA)},
		"unknown kid":                  {prod, sign(t, jwt.SigningMethodRS256, good, "rsa-9", rsaKey)},
		"alg none":                     {prod, none},
		"alg none, dev":                {dev, none},
		"another audience":             {prod, sign(t, jwt.SigningMethodRS256, wrongAud, "rsa-1", rsaKey)},
		"another issuer":               {prod, sign(t, jwt.SigningMethodRS256, wrongIss, "rsa-1", rsaKey)},
		"no expiry":                    {prod, sign(t, jwt.SigningMethodRS256, noExp, "rsa-1", rsaKey)},
		"no subject":                   {prod, sign(t, jwt.SigningMethodRS256, noSub, "rsa-1", rsaKey)},
		"HS256 not accepted":           {prod, sign(t, jwt.SigningMethodHS256, good, "", secret)},
		"HS256 keyed with the RSA key": {prod, sign(t, jwt.SigningMethodHS256, good, "rsa-1", pubDER)},
		"RS256 not accepted in dev":    {dev, sign(t, jwt.SigningMethodRS256, good, "rsa-1", rsaKey)},
		"HS256 with another secret":    {dev, sign(t, jwt.SigningMethodHS256, good, "", []byte("another-secret-another-secret-32b"))},
		"expired, minted in the past":  {dev, func() string { s, _ := authn.Mint(secret, iss, aud, "x", nil, -time.Minute); return s }()},
		"minted for another audience":  {dev, func() string { s, _ := authn.Mint(secret, iss, "billing", "x", nil, time.Hour); return s }()},
		"minted with another issuer":   {dev, func() string { s, _ := authn.Mint(secret, "me", aud, "x", nil, time.Hour); return s }()},
	} {
		p, err := c.v.Verify(c.token)
		if err == nil {
			t.Errorf("%s: accepted as %v", name, p)
			continue
		}
		if !errors.Is(err, authn.ErrInvalidToken) && !errors.Is(err, authn.ErrNoToken) {
			t.Errorf("%s: error %v is neither ErrInvalidToken nor ErrNoToken", name, err)
		}
	}
}

func TestConfigIsChecked(t *testing.T) {
	for name, c := range map[string]authn.Config{
		"no issuer":       {Audience: aud, Algorithms: []string{"HS256"}, HMACSecret: secret},
		"no algorithms":   {Issuer: iss, Audience: aud},
		"short secret":    {Issuer: iss, Audience: aud, Algorithms: []string{"HS256"}, HMACSecret: []byte("short")},
		"RS256 no JWKS":   {Issuer: iss, Audience: aud, Algorithms: []string{"RS256"}},
		"unsupported alg": {Issuer: iss, Audience: aud, Algorithms: []string{"none"}},
		"missing JWKS":    {Issuer: iss, Audience: aud, Algorithms: []string{"RS256"}, JWKSFile: "/nonexistent/jwks.json"},
	} {
		if _, err := authn.NewVerifier(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc":  "abc",
		"bearer  abc": "abc",
		"Basic abc":   "",
		"abc":         "",
		"":            "",
	} {
		if got := authn.BearerToken(in); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", in, got, want)
		}
	}
	if !authn.EqualSecret([]byte("a"), []byte("a")) || authn.EqualSecret([]byte("a"), []byte("b")) {
		t.Fatal("EqualSecret")
	}
}
