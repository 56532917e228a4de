// Package auth carries the caller's identity through a request.
//
// Authentication itself plugs into the gRPC interceptor chain through the
// Authenticator interface (platform/grpcx): bearer tokens (platform/authn)
// by default, or, in the explicitly chosen dev-header mode, an `x-actor`
// metadata header that must never be exposed beyond a developer's machine.
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

type onBehalfOfKey struct{}

// WithOnBehalfOf returns ctx noting the end user a service calls for. It
// is context for logs only: authorization decisions use the Principal,
// which for a service-to-service call is the calling service.
func WithOnBehalfOf(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, onBehalfOfKey{}, user)
}

// OnBehalfOf returns the end user a service call is made for, or "".
func OnBehalfOf(ctx context.Context) string {
	u, _ := ctx.Value(onBehalfOfKey{}).(string)
	return u
}
