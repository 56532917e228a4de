package grpcx_test

import (
	"context"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/modules"
)

func disabledInfo(t *testing.T, err error, code codes.Code) *errdetails.ErrorInfo {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code %v, want %v: %v", st.Code(), code, err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
	return nil
}

func TestDisabledConnRefusesUnaryAndStreamingCalls(t *testing.T) {
	ctx := context.Background()
	client := healthpb.NewHealthClient(grpcx.DisabledConn("order", codes.Unimplemented))
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	if info := disabledInfo(t, err, codes.Unimplemented); info.Reason != modules.Reason || info.Metadata["module"] != "order" || info.Domain != grpcx.ErrorDomain {
		t.Errorf("unary: ErrorInfo = %v", info)
	}
	// A server stream opens, and its first receive has the status.
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	_, err = stream.Recv()
	if info := disabledInfo(t, err, codes.Unimplemented); info.Metadata["module"] != "order" {
		t.Errorf("stream: ErrorInfo = %v", info)
	}
}

func TestPeerErrorOfAnAbsentModuleIsModuleDisabled(t *testing.T) {
	ctx := context.Background()
	_, err := healthpb.NewHealthClient(grpcx.DisabledConn("account", codes.FailedPrecondition)).Check(ctx, &healthpb.HealthCheckRequest{})
	got := grpcx.PeerError(ctx, "account", err)
	if m, ok := modules.IsDisabled(got); !ok || m != "account" || !apperr.IsKind(got, apperr.KindFailedPrecondition) {
		t.Fatalf("PeerError = %#v", got)
	}
	// A peer that itself lacks a module passes the module it names on.
	relayed := grpcx.ToStatus(ctx, nil, modules.Disabled("opportunity")).Err()
	if m, ok := modules.IsDisabled(grpcx.PeerError(ctx, "lead", relayed)); !ok || m != "opportunity" {
		t.Fatalf("relayed = %q, %v", m, ok)
	}
}
