package testkit

import (
	"context"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/platform/authn"
)

// AuthSecret is the HS256 secret services under test verify tokens with
// (and sign their own service tokens with). Tests only.
const AuthSecret = "crm-test-hs256-secret-0123456789abcdef"

// AuthIssuer and AuthAudience are what test tokens name (the defaults).
const AuthIssuer, AuthAudience = "crm", "crm"

// AuthEnv is the environment that puts a service process in token mode
// with AuthSecret.
func AuthEnv() []string {
	return []string{"AUTH_MODE=token", "AUTH_ALGORITHMS=HS256", "AUTH_HS256_SECRET=" + AuthSecret,
		"AUTH_ISSUER=" + AuthIssuer, "AUTH_AUDIENCE=" + AuthAudience}
}

// Token returns a bearer token for user with roles (admin when none is
// given), valid for an hour, signed with AuthSecret.
func Token(user string, roles ...string) string {
	if len(roles) == 0 {
		roles = []string{"admin"}
	}
	tok, err := authn.Mint([]byte(AuthSecret), AuthIssuer, AuthAudience, user, roles, time.Hour)
	if err != nil {
		panic(err) // HS256 with a fixed secret does not fail
	}
	return tok
}

// Bearer is the Authorization header value for user with roles (see Token).
func Bearer(user string, roles ...string) string { return "Bearer " + Token(user, roles...) }

// As returns a context whose outgoing gRPC calls are made as user with
// roles (admin when none is given): they carry a bearer token of
// AuthSecret naming user as subject.
func As(user string, roles ...string) context.Context {
	return WithToken(context.Background(), Token(user, roles...))
}

// WithToken returns ctx whose outgoing gRPC calls carry token.
func WithToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// MintWith signs a token with any secret, issuer, audience and lifetime
// (a negative ttl gives an expired one), for tests of refused tokens.
func MintWith(t testing.TB, secret, issuer, audience, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := authn.Mint([]byte(secret), issuer, audience, user, []string{"admin"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// UnsignedToken is an `alg: none` token for user, otherwise valid: it must
// be refused.
func UnsignedToken(user string) string {
	enc := func(s string) string { return base64URL([]byte(s)) }
	exp := time.Now().Add(time.Hour).Unix()
	return enc(`{"alg":"none","typ":"JWT"}`) + "." +
		enc(`{"iss":"`+AuthIssuer+`","aud":"`+AuthAudience+`","sub":"`+user+`","roles":["admin"],"exp":`+itoa(exp)+`}`) + "."
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
