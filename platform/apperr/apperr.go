// Package apperr is the error vocabulary of domain and use-case code. It has
// no transport dependency: platform/grpcx maps each Kind once to a canonical
// gRPC code, with the Reason as google.rpc.ErrorInfo and the field
// violations as google.rpc.BadRequest.
package apperr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kind says what kind of failure it is; it decides the status code.
type Kind int

const (
	KindInvalidArgument Kind = iota + 1
	KindNotFound
	KindAlreadyExists
	KindFailedPrecondition
	KindAborted
	KindPermissionDenied
	KindUnauthenticated
	KindResourceExhausted
	KindUnavailable
)

// FieldViolation points at one bad field of a request.
type FieldViolation struct {
	// Field path in the request, e.g. "lead.email".
	Field       string
	Description string
	// Reason in UPPER_SNAKE, optional.
	Reason string
}

// PreconditionViolation says which state of which resource stood in the
// way (google.rpc.PreconditionFailure).
type PreconditionViolation struct {
	// Type in UPPER_SNAKE, e.g. "DUPLICATE_EMAIL".
	Type string
	// Subject is the resource, e.g. "leads/0199...".
	Subject     string
	Description string
}

// Error is a failure the caller can act on.
type Error struct {
	Kind Kind
	// Reason is a stable UPPER_SNAKE identifier, e.g. "LEAD_NOT_FOUND".
	Reason string
	// Message is for humans; it must not leak internals.
	Message    string
	Violations []FieldViolation
	// Preconditions detail a FailedPrecondition.
	Preconditions []PreconditionViolation
	Metadata      map[string]string
}

func (e *Error) Error() string {
	if len(e.Violations) == 0 {
		return e.Message
	}
	parts := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		parts = append(parts, v.Field+": "+v.Description)
	}
	return e.Message + ": " + strings.Join(parts, "; ")
}

// WithMeta adds metadata (ErrorInfo.metadata) and returns e.
func (e *Error) WithMeta(key, value string) *Error {
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	e.Metadata[key] = value
	return e
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == k
}

func newf(k Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a bad request with the given field violations.
func Invalid(violations ...FieldViolation) *Error {
	return &Error{Kind: KindInvalidArgument, Reason: "INVALID_ARGUMENT", Message: "invalid request", Violations: violations}
}

// InvalidField is a bad request pointing at one field.
func InvalidField(field, reason, format string, args ...any) *Error {
	e := Invalid(FieldViolation{Field: field, Reason: reason, Description: fmt.Sprintf(format, args...)})
	e.Reason = reason
	return e
}

func NotFound(reason, format string, args ...any) *Error {
	return newf(KindNotFound, reason, format, args...)
}

func AlreadyExists(reason, format string, args ...any) *Error {
	return newf(KindAlreadyExists, reason, format, args...)
}

func FailedPrecondition(reason, format string, args ...any) *Error {
	return newf(KindFailedPrecondition, reason, format, args...)
}

// Aborted is a concurrency conflict, e.g. a stale etag: re-read and retry.
func Aborted(reason, format string, args ...any) *Error {
	return newf(KindAborted, reason, format, args...)
}

func PermissionDenied(reason, format string, args ...any) *Error {
	return newf(KindPermissionDenied, reason, format, args...)
}

func Unauthenticated(reason, format string, args ...any) *Error {
	return newf(KindUnauthenticated, reason, format, args...)
}

func ResourceExhausted(reason, format string, args ...any) *Error {
	return newf(KindResourceExhausted, reason, format, args...)
}

func Unavailable(reason, format string, args ...any) *Error {
	return newf(KindUnavailable, reason, format, args...)
}

// Violations collects field violations; Err returns nil when there are none.
type Violations []FieldViolation

// Add records a violation.
func (v *Violations) Add(field, reason, format string, args ...any) {
	*v = append(*v, FieldViolation{Field: field, Reason: reason, Description: fmt.Sprintf(format, args...)})
}

// Err returns an InvalidArgument error with the violations, or nil.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	return Invalid(v...)
}

// PrefixFields returns err with prefix put before each violation's field
// path, for use cases whose fields sit inside a request message
// ("email" -> "lead.email"). Other errors pass through.
func PrefixFields(err error, prefix string) error {
	e, ok := As(err)
	if !ok || len(e.Violations) == 0 {
		return err
	}
	out := *e
	out.Violations = make([]FieldViolation, len(e.Violations))
	for i, v := range e.Violations {
		v.Field = prefix + v.Field
		out.Violations[i] = v
	}
	return &out
}

// PrefixResourceFields is PrefixFields for errors of an update of a
// resource inside a request: violations of the request's own fields
// (those starting with one of requestFields, e.g. "update_mask") keep
// their paths.
func PrefixResourceFields(err error, prefix string, requestFields ...string) error {
	e, ok := As(err)
	if !ok || len(e.Violations) == 0 {
		return err
	}
	out := *e
	out.Violations = make([]FieldViolation, len(e.Violations))
	for i, v := range e.Violations {
		if !slices.ContainsFunc(requestFields, func(f string) bool { return strings.HasPrefix(v.Field, f) }) {
			v.Field = prefix + v.Field
		}
		out.Violations[i] = v
	}
	return &out
}
