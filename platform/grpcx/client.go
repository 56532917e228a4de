package grpcx

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authn"
)

// DefaultCallTimeout bounds an outgoing call whose context has no deadline.
const DefaultCallTimeout = 2 * time.Second

// OnBehalfOfHeader names, on a service-to-service call, the end user the
// calling service acts for. The callee logs it; it never authorizes.
const OnBehalfOfHeader = "x-on-behalf-of"

// DialOption adjusts Dial.
type DialOption func(*dialSettings)

type dialSettings struct {
	tokens authn.TokenSource
	tp     trace.TracerProvider
}

// WithTracerProvider traces the calls (client spans) with tp; without it
// (or with nil) calls make no spans and pass the caller's trace context on.
func WithTracerProvider(tp trace.TracerProvider) DialOption {
	return func(s *dialSettings) { s.tp = tp }
}

// otelOptions configure otelgrpc's stats handlers: spans from tp (a no-op
// provider when nil), none for health checks and reflection, and no
// OpenTelemetry metrics (the suite's metrics are Prometheus').
func otelOptions(tp trace.TracerProvider) []otelgrpc.Option {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(func(i *stats.RPCTagInfo) bool { return !IsPublic(i.FullMethodName) }),
	}
}

// WithServiceTokens makes every call carry the calling service's own
// token from src (`authorization: Bearer`), and the end user it acts for
// only as context (x-on-behalf-of). Without it, calls pass the caller on
// in x-actor, which only services in dev-header mode accept.
func WithServiceTokens(src authn.TokenSource) DialOption {
	return func(s *dialSettings) { s.tokens = src }
}

// Dial returns a client connection to another service of the suite. Every
// call gets a deadline (the caller's, or DefaultCallTimeout) and carries
// the calling service's identity (see WithServiceTokens) and trace
// context. The connection is lazy: a service that is down fails calls
// with Unavailable, it does not fail Dial. Transport security comes from
// the platform (mesh mTLS).
func Dial(target string, opts ...DialOption) (*grpc.ClientConn, error) {
	var s dialSettings
	for _, o := range opts {
		o(&s)
	}
	identity := clientActor
	if s.tokens != nil {
		identity = clientServiceToken(s.tokens)
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelOptions(s.tp)...)),
		grpc.WithChainUnaryInterceptor(clientDeadline, identity),
	)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", target, err)
	}
	return conn, nil
}

func clientDeadline(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// clientActor passes the caller on in x-actor (dev-header mode only).
func clientActor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if p, ok := auth.FromContext(ctx); ok && p.Subject != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, ActorHeader, p.Subject)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// clientServiceToken authenticates the call as this service and names the
// end user it acts for: the user's own token is never passed on.
func clientServiceToken(src authn.TokenSource) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		tok, err := src.Token()
		if err != nil {
			return fmt.Errorf("service token for %s: %w", method, err)
		}
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		md.Delete(ActorHeader)
		md.Set("authorization", "Bearer "+tok)
		md.Delete(OnBehalfOfHeader)
		if u := onBehalfOf(ctx); u != "" {
			md.Set(OnBehalfOfHeader, u)
		}
		return invoker(metadata.NewOutgoingContext(ctx, md), method, req, reply, cc, opts...)
	}
}

// onBehalfOf is the end user behind a call: the one this service was
// itself called for by another service, or else its caller.
func onBehalfOf(ctx context.Context) string {
	if u := auth.OnBehalfOf(ctx); u != "" {
		return u
	}
	if p, ok := auth.FromContext(ctx); ok {
		return p.Subject
	}
	return ""
}
