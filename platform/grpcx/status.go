// Package grpcx is the gRPC side of the shared plumbing: mapping errors to
// statuses, the server interceptor chain and client connections.
package grpcx

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/pg"
)

// ErrorDomain is the ErrorInfo domain of every error the suite returns.
const ErrorDomain = "crm.example.com"

var kindCodes = map[apperr.Kind]codes.Code{
	apperr.KindInvalidArgument:    codes.InvalidArgument,
	apperr.KindNotFound:           codes.NotFound,
	apperr.KindAlreadyExists:      codes.AlreadyExists,
	apperr.KindFailedPrecondition: codes.FailedPrecondition,
	apperr.KindAborted:            codes.Aborted,
	apperr.KindPermissionDenied:   codes.PermissionDenied,
	apperr.KindUnauthenticated:    codes.Unauthenticated,
	apperr.KindResourceExhausted:  codes.ResourceExhausted,
	apperr.KindUnavailable:        codes.Unavailable,
}

// ToStatus maps any error a handler returns to a status the client can act
// on. Application errors keep their kind, reason and field violations;
// context errors keep their meaning; a database that cannot be reached is
// Unavailable (DATABASE_UNAVAILABLE); anything else is logged and becomes
// a bare Internal, so SQL or stack details never reach the client.
func ToStatus(ctx context.Context, log *slog.Logger, err error) *status.Status {
	if err == nil {
		return nil
	}
	if ae, ok := apperr.As(err); ok {
		return fromAppErr(ae)
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	case pg.Unavailable(err):
		// The database is restarting or out of reach: the call may be
		// retried (with its request id), which an INTERNAL does not say.
		log.WarnContext(ctx, "database unavailable", append(actorFields(ctx), "error", err)...)
		st, _ := status.New(codes.Unavailable, "the database is unavailable; try again").WithDetails(&errdetails.ErrorInfo{
			Reason: "DATABASE_UNAVAILABLE", Domain: ErrorDomain,
		})
		return st
	}
	log.ErrorContext(ctx, "internal error", append(actorFields(ctx), "error", err)...)
	st, _ := status.New(codes.Internal, "internal error").WithDetails(&errdetails.ErrorInfo{
		Reason: "INTERNAL", Domain: ErrorDomain,
	})
	return st
}

func fromAppErr(e *apperr.Error) *status.Status {
	code, ok := kindCodes[e.Kind]
	if !ok {
		code = codes.Internal
	}
	st := status.New(code, e.Error())
	reason := e.Reason
	if reason == "" {
		reason = code.String()
	}
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: e.Metadata}}
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.Field, Description: v.Description, Reason: v.Reason,
			})
		}
		details = append(details, br)
	}
	if len(e.Preconditions) > 0 {
		pf := &errdetails.PreconditionFailure{}
		for _, v := range e.Preconditions {
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
				Type: v.Type, Subject: v.Subject, Description: v.Description,
			})
		}
		details = append(details, pf)
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}
