// Package auth carries the caller's identity through a request.
//
// Authentication itself plugs into the gRPC interceptor chain through the
// Authenticator interface (platform/grpcx). Until token authentication
// lands, the development authenticator trusts the `x-actor` metadata header;
// it must not be exposed beyond a trusted network.
package auth

import "context"

// Principal is who is calling.
type Principal struct {
	// Subject is the user or service id recorded as actor.
	Subject string
	Roles   []string
}

// Anonymous is the actor of calls without an identity.
const Anonymous = "anonymous"

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, if known.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Actor is the id to record in created_by/updated_by and events.
func Actor(ctx context.Context) string {
	if p, ok := FromContext(ctx); ok && p.Subject != "" {
		return p.Subject
	}
	return Anonymous
}
