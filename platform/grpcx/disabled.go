package grpcx

import (
	"context"
	"io"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/modules"
)

// ModuleDisabledStatus is the answer to a call for module, which the
// installation does not run (modules.Set): code, with ErrorInfo reason
// MODULE_DISABLED and metadata module. The gateway answers its clients
// Unimplemented (HTTP 501); a service calling a peer gets
// FailedPrecondition, as the use case that needs it would say.
func ModuleDisabledStatus(code codes.Code, module string) *status.Status {
	e := modules.Disabled(module)
	st, err := status.New(code, e.Message).WithDetails(&errdetails.ErrorInfo{
		Reason: modules.Reason, Domain: ErrorDomain, Metadata: e.Metadata,
	})
	if err != nil {
		return status.New(code, e.Message)
	}
	return st
}

// DisabledConn stands in for a connection to module when the installation
// does not run it: every call fails at once with ModuleDisabledStatus(code,
// module), without a network round trip or a wait for a server that will
// never come.
func DisabledConn(module string, code codes.Code) grpc.ClientConnInterface {
	return disabledConn{st: ModuleDisabledStatus(code, module)}
}

type disabledConn struct{ st *status.Status }

func (c disabledConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return c.st.Err()
}

// NewStream opens a stream that behaves as one its server refused at
// once: the first message is taken (a server stream's request), later
// ones get io.EOF, and every receive gets the status.
func (c disabledConn) NewStream(ctx context.Context, _ *grpc.StreamDesc, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	return &disabledStream{ctx: ctx, st: c.st}, nil
}

type disabledStream struct {
	ctx  context.Context
	st   *status.Status
	sent bool
}

func (s *disabledStream) Header() (metadata.MD, error) { return nil, s.st.Err() }
func (s *disabledStream) Trailer() metadata.MD         { return nil }
func (s *disabledStream) CloseSend() error             { return nil }
func (s *disabledStream) Context() context.Context     { return s.ctx }
func (s *disabledStream) RecvMsg(any) error            { return s.st.Err() }

func (s *disabledStream) SendMsg(any) error {
	if s.sent {
		return io.EOF
	}
	s.sent = true
	return nil
}
