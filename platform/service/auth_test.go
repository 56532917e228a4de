package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
)

// testRules let sales users and services make UnaryCall (whoami), and
// admins only every other method of the test service.
func testRules() map[string]authz.Rule {
	rules := map[string]authz.Rule{}
	for _, m := range testpb.TestService_ServiceDesc.Methods {
		rules["/"+testpb.TestService_ServiceDesc.ServiceName+"/"+m.MethodName] = authz.AdminOnly
	}
	for _, m := range testpb.TestService_ServiceDesc.Streams {
		rules["/"+testpb.TestService_ServiceDesc.ServiceName+"/"+m.StreamName] = authz.AdminOnly
	}
	rules[testpb.TestService_UnaryCall_FullMethodName] = authz.Allow(authz.Sales, authz.Service)
	return rules
}

func testAuth() service.AuthConfig {
	return service.AuthConfig{Mode: service.AuthToken, Algorithms: []string{"HS256"}, HS256Secret: testkit.AuthSecret}
}

// whoami answers UnaryCall with the caller as the service saw it
// (Username: the actor; OauthScope: the end user a service acts for), or,
// with next set, passes the call on to another service.
type whoami struct {
	testpb.UnimplementedTestServiceServer
	next testpb.TestServiceClient
}

func (w whoami) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if w.next != nil {
		return w.next.UnaryCall(ctx, req)
	}
	return &testpb.SimpleResponse{Username: auth.Actor(ctx), OauthScope: auth.OnBehalfOf(ctx)}, nil
}

// logBuffer collects a service's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines with msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(b.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// runWhoami runs service name (schema name) with cfg adjusted by adjust,
// registering whoami (passing calls on to next, if set), and returns its
// address and log.
func runWhoami(t *testing.T, name, db string, n *testkit.NATS, adjust func(*service.Config), next string) (string, *logBuffer) {
	t.Helper()
	return runWhoamiWithRules(t, name, db, n, adjust, next, testRules())
}

func runWhoamiWithRules(t *testing.T, name, db string, n *testkit.NATS, adjust func(*service.Config), next string, rules map[string]authz.Rule) (string, *logBuffer) {
	t.Helper()
	cfg := service.Config{
		Name: name, GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DBMaxConns: 4,
		DatabaseURL: testkit.ServiceURL(db, name), DatabaseAdminURL: db,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: 2 * time.Second, Auth: testAuth(),
	}
	if adjust != nil {
		adjust(&cfg)
	}
	logs := &logBuffer{}
	ready := make(chan net.Addr, 1)
	spec := service.Spec{
		Schema:     name,
		Migrations: fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE t (id int);")}},
		Register: func(rt *service.Runtime) error {
			w := whoami{}
			if next != "" {
				conn, err := rt.Dial(next)
				if err != nil {
					return err
				}
				w.next = testpb.NewTestServiceClient(conn)
			}
			testpb.RegisterTestServiceServer(rt.GRPC, w)
			return nil
		},
		Rules: rules,
		Ready: func(a net.Addr) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)), spec) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return a.String(), logs
	case err := <-done:
		t.Fatalf("%s did not start: %v", name, err)
	}
	return "", nil
}

func TestTokenModeRefusesBadTokensAndAdmitsGoodOnes(t *testing.T) {
	t.Parallel()
	addr, _ := runWhoami(t, "svc", testkit.Database(t), testkit.NewNATS(t), nil, "")
	conn := testkit.Dial(t, addr)
	client := testpb.NewTestServiceClient(conn)
	ctx := context.Background()

	resp, err := client.UnaryCall(testkit.As("alice", "sales"), &testpb.SimpleRequest{})
	if err != nil || resp.Username != "alice" {
		t.Fatalf("good token: %v, %v", resp, err)
	}
	bad := map[string]context.Context{
		"no token":         ctx,
		"expired":          testkit.WithToken(ctx, testkit.MintWith(t, testkit.AuthSecret, "crm", "crm", "alice", -time.Hour)),
		"another key":      testkit.WithToken(ctx, testkit.MintWith(t, "another-secret-0123456789abcdef-xyz", "crm", "crm", "alice", time.Hour)),
		"alg none":         testkit.WithToken(ctx, testkit.UnsignedToken("alice")),
		"another audience": testkit.WithToken(ctx, testkit.MintWith(t, testkit.AuthSecret, "crm", "billing", "alice", time.Hour)),
		"another issuer":   testkit.WithToken(ctx, testkit.MintWith(t, testkit.AuthSecret, "evil", "crm", "alice", time.Hour)),
		"garbage":          testkit.WithToken(ctx, "not.a.token"),
		"x-actor only":     metadata.AppendToOutgoingContext(ctx, "x-actor", "alice"),
	}
	for name, callCtx := range bad {
		_, err := client.UnaryCall(callCtx, &testpb.SimpleRequest{})
		reason, _ := testkit.RequireCode(t, err, codes.Unauthenticated)
		want := "INVALID_TOKEN"
		if name == "no token" || name == "x-actor only" {
			want = "MISSING_CREDENTIALS"
		}
		if reason != want {
			t.Errorf("%s: reason %s, want %s", name, reason, want)
		}
	}
	// Health checks need no token; reflection is off unless configured.
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a token: %v, %v", h, err)
	}
	if code := reflectionCode(t, conn); code != codes.Unimplemented {
		t.Fatalf("reflection without GRPC_REFLECTION: %v", code)
	}
}

func reflectionCode(t *testing.T, conn *grpc.ClientConn) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err == nil {
		err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		// io.EOF from Send means the server already ended the stream; its
		// status comes from Recv.
		if err == nil || errors.Is(err, io.EOF) {
			_, err = stream.Recv()
		}
	}
	return status.Code(err)
}

// lead calls account for alice: account sees lead's own identity, and
// alice only as the user lead acts for, in its logs too.
func TestServiceCallsCarryTheServiceTokenNotTheUsers(t *testing.T) {
	t.Parallel()
	db, n := testkit.Database(t), testkit.NewNATS(t)
	accountAddr, accountLog := runWhoami(t, "account", db, n, nil, "")
	leadAddr, _ := runWhoami(t, "lead", db, n, nil, accountAddr)

	resp, err := testpb.NewTestServiceClient(testkit.Dial(t, leadAddr)).UnaryCall(testkit.As("alice", "sales"), &testpb.SimpleRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Username != "service:lead" || resp.OauthScope != "alice" {
		t.Fatalf("account saw actor %q on behalf of %q, want service:lead for alice", resp.Username, resp.OauthScope)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, l := range accountLog.lines("finished call") {
			if l["actor"] == "service:lead" && l["on_behalf_of"] == "alice" {
				return true
			}
		}
		return false
	}, "no log line of account names actor service:lead on behalf of alice")
	// A user cannot speak for another: x-on-behalf-of counts only from a
	// service.
	ctx := metadata.AppendToOutgoingContext(testkit.As("mallory", "sales"), "x-on-behalf-of", "alice")
	resp, err = testpb.NewTestServiceClient(testkit.Dial(t, accountAddr)).UnaryCall(ctx, &testpb.SimpleRequest{})
	if err != nil || resp.Username != "mallory" || resp.OauthScope != "" {
		t.Fatalf("user claiming to act for another: %v, %v", resp, err)
	}
}

// A service whose own token comes from a file uses a rotated token from
// the next call on.
func TestServiceTokenFileIsReadAgainWhenRotated(t *testing.T) {
	t.Parallel()
	db, n := testkit.Database(t), testkit.NewNATS(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	write := func(sub string, at time.Time) {
		if err := os.WriteFile(tokenFile, []byte(testkit.Token(sub, "service")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tokenFile, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write("service:lead-1", time.Now())
	accountAddr, _ := runWhoami(t, "account", db, n, nil, "")
	leadAddr, _ := runWhoami(t, "lead", db, n, func(c *service.Config) {
		c.Auth.ServiceTokenFile = tokenFile
	}, accountAddr)
	lead := testpb.NewTestServiceClient(testkit.Dial(t, leadAddr))
	for _, want := range []string{"service:lead-1", "service:lead-2"} {
		resp, err := lead.UnaryCall(testkit.As("alice"), &testpb.SimpleRequest{})
		if err != nil || resp.Username != want {
			t.Fatalf("account saw %v, %v; want %s", resp, err, want)
		}
		write("service:lead-2", time.Now().Add(2*time.Second))
	}
}

// Roles decide: a method's rule admits its roles and admin; everyone
// else, a token without roles too, gets PermissionDenied. Health stays
// open.
func TestRolesDecideWhoMayCall(t *testing.T) {
	t.Parallel()
	addr, logs := runWhoami(t, "svc", testkit.Database(t), testkit.NewNATS(t), nil, "")
	conn := testkit.Dial(t, addr)
	client := testpb.NewTestServiceClient(conn)
	for _, roles := range [][]string{{"sales"}, {"service"}, {"admin"}, {"ops", "sales"}} {
		if _, err := client.UnaryCall(testkit.As("alice", roles...), &testpb.SimpleRequest{}); err != nil {
			t.Errorf("UnaryCall as %v: %v", roles, err)
		}
	}
	ctx := testkit.WithToken(context.Background(), testkit.Token("nobody", "none"))
	noRoles, err := authn.Mint([]byte(testkit.AuthSecret), testkit.AuthIssuer, testkit.AuthAudience, "nobody", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	denied := map[string]context.Context{
		"unknown role": ctx,
		"no roles":     testkit.WithToken(context.Background(), noRoles),
		"ops":          testkit.As("olga", "ops"),
		"manager":      testkit.As("mia", "manager"),
	}
	for name, callCtx := range denied {
		_, err := client.UnaryCall(callCtx, &testpb.SimpleRequest{})
		if reason, _ := testkit.RequireCode(t, err, codes.PermissionDenied); reason != authz.ReasonDenied {
			t.Errorf("%s: reason %s, want %s", name, reason, authz.ReasonDenied)
		}
	}
	// EmptyCall is admin only.
	if _, err := client.EmptyCall(testkit.As("alice", "sales", "manager"), &testpb.Empty{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("EmptyCall as sales: %v, want PermissionDenied", err)
	}
	// (whoami does not implement it: an admin gets through to Unimplemented.)
	if _, err := client.EmptyCall(testkit.As("root"), &testpb.Empty{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("EmptyCall as admin: %v, want Unimplemented", err)
	}
	if h, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", h, err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, l := range logs.lines("permission denied") {
			if l["actor"] == "olga" && l["method"] == testpb.TestService_UnaryCall_FullMethodName {
				return true
			}
		}
		return false
	}, "no log line names the denied caller and method")
}

// A method whose rule is authz.Public is called without a token (its
// handler authenticates the call), a token sent along is not looked at,
// and the service's other methods still need one.
func TestPublicMethodsNeedNoToken(t *testing.T) {
	t.Parallel()
	rules := testRules()
	rules[testpb.TestService_UnaryCall_FullMethodName] = authz.Public
	addr, _ := runWhoamiWithRules(t, "svc", testkit.Database(t), testkit.NewNATS(t), nil, "", rules)
	client := testpb.NewTestServiceClient(testkit.Dial(t, addr))
	for name, ctx := range map[string]context.Context{
		"no token":  context.Background(),
		"bad token": testkit.WithToken(context.Background(), testkit.Tamper(testkit.Token("mallory"))),
		"good one":  testkit.As("alice", "sales"),
	} {
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
		if err != nil || resp.Username != auth.Anonymous {
			t.Errorf("public UnaryCall, %s: %v, %v; want the handler reached without a principal", name, resp, err)
		}
	}
	if _, err := client.EmptyCall(context.Background(), &testpb.Empty{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("EmptyCall without a token: %v, want Unauthenticated", err)
	}
}

// A service registering a method without a rule does not start.
func TestAMethodWithoutARuleFailsTheStart(t *testing.T) {
	t.Parallel()
	n := testkit.NewNATS(t)
	cfg := service.Config{
		Name: "svc", GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DatabaseURL: testkit.Database(t), DBMaxConns: 4,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: 2 * time.Second, Auth: testAuth(),
	}
	rules := testRules()
	delete(rules, testpb.TestService_EmptyCall_FullMethodName)
	spec := service.Spec{
		Schema:     "svc",
		Migrations: fstest.MapFS{"001_init.sql": {Data: []byte("CREATE TABLE t (id int);")}},
		Register: func(rt *service.Runtime) error {
			testpb.RegisterTestServiceServer(rt.GRPC, whoami{})
			return nil
		},
		Rules: rules,
	}
	err := service.Run(context.Background(), cfg, slog.New(slog.DiscardHandler), spec)
	if err == nil || !strings.Contains(err.Error(), testpb.TestService_EmptyCall_FullMethodName) {
		t.Fatalf("start with EmptyCall unruled: %v, want an error naming it", err)
	}
}

func TestAuthMisconfigurationFailsTheStart(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		auth service.AuthConfig
		want string
	}{
		"default algorithms without JWKS": {service.AuthConfig{}, "AUTH_JWKS_FILE"},
		"HS256 without secret":            {service.AuthConfig{Algorithms: []string{"HS256"}}, "32 bytes"},
		"unknown algorithm":               {service.AuthConfig{Algorithms: []string{"none"}}, "not supported"},
		"unknown mode":                    {service.AuthConfig{Mode: "off"}, "AUTH_MODE"},
		"missing token file":              {service.AuthConfig{Algorithms: []string{"HS256"}, HS256Secret: testkit.AuthSecret, ServiceTokenFile: "/nonexistent/token"}, "AUTH_SERVICE_TOKEN_FILE"},
	}
	for name, tc := range cases {
		cfg := service.Config{Name: "svc", GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DatabaseURL: "postgres://127.0.0.1:1/none", Auth: tc.auth}
		err := service.Run(context.Background(), cfg, slog.New(slog.DiscardHandler), service.Spec{Schema: "svc"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
}

func TestLoadConfigAuthDefaultsAndVariables(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	c, err := service.LoadConfig("lead", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	if a.Mode != "token" || a.Issuer != "crm" || a.Audience != "crm" || strings.Join(a.Algorithms, ",") != "RS256,EdDSA" || c.Reflection {
		t.Fatalf("defaults: %+v, reflection %v", a, c.Reflection)
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(testkit.AuthSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AUTH_MODE", "dev-header")
	t.Setenv("AUTH_ALGORITHMS", " HS256, EdDSA ")
	t.Setenv("AUTH_HS256_SECRET_FILE", secretFile)
	t.Setenv("AUTH_ISSUER", "https://id.example")
	t.Setenv("GRPC_REFLECTION", "true")
	if c, err = service.LoadConfig("lead", 1, 2); err != nil {
		t.Fatal(err)
	}
	a = c.Auth
	if a.Mode != "dev-header" || a.HS256Secret != testkit.AuthSecret || strings.Join(a.Algorithms, ",") != "HS256,EdDSA" || a.Issuer != "https://id.example" || !c.Reflection {
		t.Fatalf("from the environment: %+v", a)
	}
	t.Setenv("AUTH_MODE", "none")
	if _, err := service.LoadConfig("lead", 1, 2); err == nil || !strings.Contains(err.Error(), "AUTH_MODE") {
		t.Fatalf("AUTH_MODE=none: %v", err)
	}
}
