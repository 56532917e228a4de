package grpcx

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/platform/auth"
)

// DefaultCallTimeout bounds an outgoing call whose context has no deadline.
const DefaultCallTimeout = 2 * time.Second

// Dial returns a client connection to another service of the suite. Every
// call gets a deadline (the caller's, or DefaultCallTimeout) and carries
// the caller's identity and trace context. The connection is lazy: a
// service that is down fails calls with Unavailable, it does not fail
// Dial. Transport security comes from the platform (mesh mTLS).
func Dial(target string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(clientDeadline, clientActor),
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

// clientActor passes the caller on, so the callee records who acted.
func clientActor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if p, ok := auth.FromContext(ctx); ok && p.Subject != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, ActorHeader, p.Subject)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}
