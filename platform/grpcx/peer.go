package grpcx

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/apperr"
)

// PeerError turns the answer of another service of the suite, peer (e.g.
// "account"), to a call into the caller's errors: its NotFound stays
// NotFound (the use case decides what it means); anything that says it
// could not answer in time is Unavailable with reason
// <PEER>_SERVICE_UNAVAILABLE, so the caller's client may retry; a
// cancelled call stays as it is; anything else is an internal error that
// names the peer. nil stays nil.
func PeerError(ctx context.Context, peer string, err error) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	switch {
	case st.Code() == codes.NotFound:
		return apperr.NotFound("NOT_FOUND", "%s", st.Message())
	case st.Code() == codes.Unavailable, st.Code() == codes.DeadlineExceeded, errors.Is(ctx.Err(), context.DeadlineExceeded):
		return apperr.Unavailable(strings.ToUpper(peer)+"_SERVICE_UNAVAILABLE", "the %s service did not answer in time; try again", peer)
	case st.Code() == codes.Canceled:
		return err
	default:
		return fmt.Errorf("%s service: %w", peer, err)
	}
}
