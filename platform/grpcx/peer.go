package grpcx

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/modules"
)

// PeerError turns the answer of another service of the suite, peer (e.g.
// "account"), to a call into the caller's errors: its NotFound stays
// NotFound (the use case decides what it means); anything that says it
// could not answer in time is Unavailable with reason
// <PEER>_SERVICE_UNAVAILABLE, so the caller's client may retry; a
// cancelled call stays as it is; anything else is an internal error that
// names the peer. A peer the installation does not run (DisabledConn), or
// one that says a module it needs does not run, is modules.Disabled
// (FailedPrecondition MODULE_DISABLED) naming that module. nil stays nil.
func PeerError(ctx context.Context, peer string, err error) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	if module, ok := disabledModule(st); ok {
		return modules.Disabled(module)
	}
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

// disabledModule is the module a MODULE_DISABLED status names.
func disabledModule(st *status.Status) (string, bool) {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == modules.Reason && info.GetMetadata()["module"] != "" {
			return info.GetMetadata()["module"], true
		}
	}
	return "", false
}
