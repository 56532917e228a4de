package grpcx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
)

// Authorizer decides whether the authenticated caller in ctx may call
// fullMethod (platform/authz.Policy): nil, or an error (PermissionDenied).
type Authorizer interface {
	Authorize(ctx context.Context, fullMethod string) error
}

// Authenticator establishes who is calling. It returns a context carrying
// the principal (auth.WithPrincipal), or an error (Unauthenticated).
type Authenticator interface {
	Authenticate(ctx context.Context, fullMethod string) (context.Context, error)
}

// ActorHeader is the development identity header (see HeaderAuthenticator).
const ActorHeader = "x-actor"

// HeaderAuthenticator trusts the `x-actor` metadata header: anyone can
// claim to be anyone. Only for AUTH_MODE=dev-header, a local debugging
// mode; the suite authenticates with TokenAuthenticator.
type HeaderAuthenticator struct{}

func (HeaderAuthenticator) Authenticate(ctx context.Context, _ string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(ActorHeader); len(v) > 0 && v[0] != "" && len(v[0]) <= 128 {
		return auth.WithPrincipal(ctx, auth.Principal{Subject: v[0]}), nil
	}
	return ctx, nil
}

// actorFields are the log fields naming the caller: the actor, and for a
// service's call the end user it acts for.
func actorFields(ctx context.Context) logging.Fields {
	f := logging.Fields{"actor", auth.Actor(ctx)}
	if u := auth.OnBehalfOf(ctx); u != "" {
		f = append(f, "on_behalf_of", u)
	}
	return f
}

// IsPublic reports whether fullMethod is open to every caller, without
// authentication or authorization: health checks and reflection (which is
// off unless configured).
func IsPublic(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// serverMetrics are the grpc_server_* Prometheus metrics (requests by
// method and code, handling time), registered once per process.
var serverMetrics = sync.OnceValue(func() *grpcprom.ServerMetrics {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	prometheus.MustRegister(m)
	return m
})

// Chain is the server interceptor chain every service uses, outermost
// first: authentication (so that logs name the caller), authorization,
// metrics, request logging (health checks excepted), panic recovery, error
// mapping, request validation.
type Chain struct {
	Logger        *slog.Logger
	Validator     protovalidate.Validator
	Authenticator Authenticator
	// Authorizer, if set, refuses calls the caller may not make, right
	// after authentication (public methods excepted).
	Authorizer Authorizer
	// Public, if set, names the service's own methods that need no token
	// (authz.Rule.Public): they skip authentication, and their handlers
	// authenticate the call. Unlike IsPublic's health checks they are
	// authorized (the Authorizer admits them by their rule) and logged.
	Public func(fullMethod string) bool
	// TracerProvider traces every call but health checks and reflection
	// (a server span, child of the caller's trace context). Nil: no spans,
	// the caller's trace context is still passed on.
	TracerProvider trace.TracerProvider
}

// open reports whether fullMethod is called without authentication.
func (c Chain) open(fullMethod string) bool {
	return IsPublic(fullMethod) || (c.Public != nil && c.Public(fullMethod))
}

// ServerOptions returns the grpc.ServerOptions installing the chain.
func (c Chain) ServerOptions() []grpc.ServerOption {
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithDisableLoggingFields(logging.SystemTag[0], logging.ComponentFieldKey, logging.MethodTypeFieldKey),
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			return actorFields(ctx)
		}),
	}
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		c.Logger.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	recoveryOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		c.Logger.ErrorContext(ctx, "panic in handler", append(actorFields(ctx), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))...)
		return status.Error(codes.Internal, "internal error")
	})
	return []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelOptions(c.TracerProvider)...)),
		grpc.ChainUnaryInterceptor(
			c.unaryAuth,
			c.unaryAuthz,
			serverMetrics().UnaryServerInterceptor(),
			skipPublicUnary(logging.UnaryServerInterceptor(logger, logOpts...)),
			recovery.UnaryServerInterceptor(recoveryOpt),
			c.unaryErrors,
			c.unaryValidate,
		),
		grpc.ChainStreamInterceptor(
			c.streamAuth,
			c.streamAuthz,
			serverMetrics().StreamServerInterceptor(),
			skipPublicStream(logging.StreamServerInterceptor(logger, logOpts...)),
			recovery.StreamServerInterceptor(recoveryOpt),
			c.streamErrors,
			c.streamValidate,
		),
	}
}

func (c Chain) unaryErrors(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		return nil, ToStatus(ctx, c.Logger, err).Err()
	}
	return resp, nil
}

func (c Chain) streamErrors(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := h(srv, ss); err != nil {
		return ToStatus(ss.Context(), c.Logger, err).Err()
	}
	return nil
}

func (c Chain) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if c.Authenticator == nil || c.open(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, err := c.Authenticator.Authenticate(ctx, info.FullMethod)
	if err != nil {
		c.Logger.WarnContext(ctx, "unauthenticated call", "method", info.FullMethod, "error", err)
		return nil, ToStatus(ctx, c.Logger, err).Err()
	}
	return h(ctx, req)
}

func (c Chain) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if c.Authenticator == nil || c.open(info.FullMethod) {
		return h(srv, ss)
	}
	ctx, err := c.Authenticator.Authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		c.Logger.WarnContext(ctx, "unauthenticated call", "method", info.FullMethod, "error", err)
		return ToStatus(ctx, c.Logger, err).Err()
	}
	return h(srv, &contextStream{ServerStream: ss, ctx: ctx})
}

func (c Chain) unaryAuthz(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if c.Authorizer == nil || IsPublic(info.FullMethod) {
		return h(ctx, req)
	}
	if err := c.Authorizer.Authorize(ctx, info.FullMethod); err != nil {
		c.Logger.WarnContext(ctx, "permission denied", append(actorFields(ctx), "method", info.FullMethod)...)
		return nil, ToStatus(ctx, c.Logger, err).Err()
	}
	return h(ctx, req)
}

func (c Chain) streamAuthz(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if c.Authorizer == nil || IsPublic(info.FullMethod) {
		return h(srv, ss)
	}
	ctx := ss.Context()
	if err := c.Authorizer.Authorize(ctx, info.FullMethod); err != nil {
		c.Logger.WarnContext(ctx, "permission denied", append(actorFields(ctx), "method", info.FullMethod)...)
		return ToStatus(ctx, c.Logger, err).Err()
	}
	return h(srv, ss)
}

func (c Chain) unaryValidate(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := Sanitize(req); err != nil {
		return nil, err
	}
	if err := Validate(c.Validator, req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (c Chain) streamValidate(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &validatingStream{ServerStream: ss, v: c.Validator})
}

// Validate checks msg against its protovalidate rules and returns an
// InvalidArgument apperr with one field violation per broken rule.
func Validate(v protovalidate.Validator, msg any) error {
	m, ok := msg.(proto.Message)
	if !ok || v == nil {
		return nil
	}
	err := v.Validate(m)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that does not compile is our bug, not the caller's.
		return fmt.Errorf("validate %T: %w", msg, err)
	}
	var vs apperr.Violations
	for _, viol := range verr.Violations {
		p := viol.Proto
		vs = append(vs, apperr.FieldViolation{
			Field:       protovalidate.FieldPathString(p.GetField()),
			Description: p.GetMessage(),
			Reason:      strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(p.GetRuleId())),
		})
	}
	return vs.Err()
}

func skipPublicUnary(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if IsPublic(info.FullMethod) {
			return h(ctx, req)
		}
		return next(ctx, req, info, h)
	}
}

func skipPublicStream(next grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if IsPublic(info.FullMethod) {
			return h(srv, ss)
		}
		return next(srv, ss, info, h)
	}
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

type validatingStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := Sanitize(m); err != nil {
		return err
	}
	return Validate(s.v, m)
}
