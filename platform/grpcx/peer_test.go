package grpcx_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
)

func TestPeerErrorMapsThePeersAnswer(t *testing.T) {
	ctx := context.Background()
	if err := grpcx.PeerError(ctx, "account", nil); err != nil {
		t.Fatalf("nil = %v", err)
	}
	nf := grpcx.PeerError(ctx, "account", status.Error(codes.NotFound, "account x not found"))
	if e, ok := apperr.As(nf); !ok || e.Kind != apperr.KindNotFound || e.Reason != "NOT_FOUND" || e.Message != "account x not found" {
		t.Fatalf("NotFound = %#v", nf)
	}
	for _, c := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded} {
		err := grpcx.PeerError(ctx, "account", status.Error(c, "down"))
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.KindUnavailable || e.Reason != "ACCOUNT_SERVICE_UNAVAILABLE" {
			t.Fatalf("%v = %#v", c, err)
		}
	}
	expired, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	<-expired.Done()
	if e, ok := apperr.As(grpcx.PeerError(expired, "opportunity", errors.New("boom"))); !ok || e.Reason != "OPPORTUNITY_SERVICE_UNAVAILABLE" {
		t.Fatalf("past deadline = %#v", e)
	}
	canceled := status.Error(codes.Canceled, "gone")
	if err := grpcx.PeerError(ctx, "account", canceled); err != canceled {
		t.Fatalf("Canceled = %v", err)
	}
	internal := status.Error(codes.Internal, "oops")
	if err := grpcx.PeerError(ctx, "account", internal); !errors.Is(err, internal) || apperr.IsKind(err, apperr.KindUnavailable) || err.Error() != "account service: "+internal.Error() {
		t.Fatalf("Internal = %v", err)
	}
}
