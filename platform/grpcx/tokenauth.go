package grpcx

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authn"
)

// TokenAuthenticator admits calls carrying a valid bearer token in the
// `authorization` metadata (the gateway forwards the HTTP header). A missing
// or bad token is Unauthenticated; why a token was refused is logged, not
// told to the caller. A service's call may name the end user it acts for
// (x-on-behalf-of), which is kept for the logs only (auth.OnBehalfOf).
type TokenAuthenticator struct {
	Verifier *authn.Verifier
	Logger   *slog.Logger
}

func (a TokenAuthenticator) Authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var token string
	if v := md.Get("authorization"); len(v) > 0 {
		token = authn.BearerToken(v[0])
	}
	p, err := a.Verifier.Verify(token)
	switch {
	case errors.Is(err, authn.ErrNoToken):
		return ctx, apperr.Unauthenticated("MISSING_CREDENTIALS", "a bearer token is required")
	case err != nil:
		if a.Logger != nil {
			a.Logger.InfoContext(ctx, "token refused", "method", fullMethod, "error", err)
		}
		return ctx, apperr.Unauthenticated("INVALID_TOKEN", "the bearer token is not valid")
	}
	ctx = auth.WithPrincipal(ctx, p)
	// A service names the end user it calls for: noted for the logs, never
	// used to authorize. Other callers cannot speak for anyone.
	if slices.Contains(p.Roles, authn.ServiceRole) {
		if v := md.Get(OnBehalfOfHeader); len(v) > 0 && v[0] != "" && len(v[0]) <= 128 {
			ctx = auth.WithOnBehalfOf(ctx, v[0])
		}
	}
	return ctx, nil
}
