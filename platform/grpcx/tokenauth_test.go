package grpcx_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/grpcx"
)

func TestTokenAuthenticator(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := authn.NewVerifier(authn.Config{Issuer: "crm-dev", Audience: "crm", Algorithms: []string{"HS256"}, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	a := grpcx.TokenAuthenticator{Verifier: v}
	token, err := authn.Mint(secret, "crm-dev", "crm", "alice", []string{"sales"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	call := func(md metadata.MD) (context.Context, error) {
		return a.Authenticate(metadata.NewIncomingContext(context.Background(), md), "/crm.lead.v1.LeadService/GetLead")
	}
	ctx, err := call(metadata.Pairs("authorization", "Bearer "+token))
	if p, _ := auth.FromContext(ctx); err != nil || p.Subject != "alice" || len(p.Roles) != 1 || p.Roles[0] != "sales" {
		t.Fatalf("valid token: %v, %v", p, err)
	}
	for name, md := range map[string]metadata.MD{
		"no header":        metadata.MD{},
		"not bearer":       metadata.Pairs("authorization", "Basic "+token),
		"tampered":         metadata.Pairs("authorization", "Bearer "+token+"x"),
		"x-actor is no id": metadata.Pairs("x-actor", "alice"),
	} {
		if _, err := call(md); !apperr.IsKind(err, apperr.KindUnauthenticated) {
			t.Errorf("%s: %v, want Unauthenticated", name, err)
		}
	}
}
