package service

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/paging"
)

// PageCodec returns the codec of the service's page tokens, signed with
// PAGE_TOKEN_SECRET. Without a secret it warns: tokens are then signed
// with a random key and break across restarts and replicas.
func (rt *Runtime) PageCodec() *paging.Codec {
	if rt.Config.PageTokenSecret == "" {
		rt.Logger.Warn("PAGE_TOKEN_SECRET is not set: page tokens are signed with a random key and break across restarts and replicas")
	}
	return paging.NewCodec([]byte(rt.Config.PageTokenSecret))
}

// Module reports whether the installation runs module name (MODULES);
// the service itself always runs.
func (rt *Runtime) Module(name string) bool {
	return name == rt.Config.Name || rt.Config.Modules.Has(name)
}

// Peer returns a client connection to the service of module name at addr
// (see Dial), or, when the installation does not run that module, a
// stand-in whose every call fails at once with FailedPrecondition
// MODULE_DISABLED naming it (grpcx.DisabledConn; grpcx.PeerError makes it
// modules.Disabled), so a use case that needs the module says so.
func (rt *Runtime) Peer(name, addr string) (grpc.ClientConnInterface, error) {
	if !rt.Module(name) {
		return grpcx.DisabledConn(name, codes.FailedPrecondition), nil
	}
	return rt.Dial(addr)
}

// Dial returns a client connection to another service of the suite at
// addr (see grpcx.Dial), closed once this service has stopped serving. Its
// calls carry this service's own token (AUTH_SERVICE_TOKEN_FILE, or
// minted with AUTH_HS256_SECRET) and the end user only as context.
func (rt *Runtime) Dial(addr string) (*grpc.ClientConn, error) {
	opts := []grpcx.DialOption{grpcx.WithTracerProvider(rt.Config.TracerProvider)}
	switch {
	case rt.devHeader:
	case rt.serviceTokens == nil:
		return nil, errors.New("calls to other services need this service's own token: set AUTH_SERVICE_TOKEN_FILE, or AUTH_HS256_SECRET to mint it")
	default:
		opts = append(opts, grpcx.WithServiceTokens(rt.serviceTokens))
	}
	conn, err := grpcx.Dial(addr, opts...)
	if err != nil {
		return nil, err
	}
	rt.Go(func(ctx context.Context) error { // workers stop after the gRPC server
		<-ctx.Done()
		return conn.Close()
	})
	return conn, nil
}
