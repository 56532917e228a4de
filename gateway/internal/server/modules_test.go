package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
)

type oneAccount struct {
	accountv1.UnimplementedAccountServiceServer
}

func (oneAccount) GetAccount(_ context.Context, req *accountv1.GetAccountRequest) (*accountv1.Account, error) {
	return &accountv1.Account{Name: req.Name, DisplayName: "Acme"}, nil
}

// onlyAccounts is the gateway of an installation that runs the account
// module only (MODULES=account): one upstream, serving.
func onlyAccounts(t *testing.T) *httptest.Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	accountv1.RegisterAccountServiceServer(srv, oneAccount{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	h, err := New(t.Context(), Config{MaxBodyBytes: 1 << 20, UpstreamTimeout: 5e9}, slog.New(slog.DiscardHandler), []Upstream{{Name: "account", Conn: conn}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func TestGatewayWithSomeModulesIsReadyAndAnswersModuleDisabledForTheOthers(t *testing.T) {
	t.Parallel()
	ts := onlyAccounts(t)
	send := func(method, path, contentType, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %d %s: not JSON", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, m
	}

	code, ready := send("GET", "/readyz", "", "")
	if code != http.StatusOK || ready["account"] != "SERVING" {
		t.Fatalf("readyz = %d %v, want 200 with account SERVING", code, ready)
	}
	for _, m := range []string{"lead", "opportunity", "order", "workflow"} {
		if ready[m] != "MODULE_DISABLED" {
			t.Errorf("readyz %s = %v, want MODULE_DISABLED", m, ready[m])
		}
	}

	if code, acct := send("GET", "/v1/accounts/0199aaaa-0000-7000-8000-000000000001", "", ""); code != http.StatusOK || acct["displayName"] != "Acme" {
		t.Errorf("GET an account = %d %v", code, acct)
	}
	for _, c := range []struct{ method, path, contentType, body, module string }{
		{"GET", "/v1/leads", "", "", "lead"},
		{"POST", "/v1/leads", "application/json", `{"company": "Acme"}`, "lead"},
		{"POST", "/v1/leads:importCsv", "text/csv", "email,company\na@x.example,Acme\n", "lead"},
		{"POST", "/v1/webForms/0199aaaa-0000-7000-8000-000000000001:submit", "application/json", `{"key": "k", "lastName": "Lovelace"}`, "lead"},
		{"GET", "/v1/opportunities", "", "", "opportunity"},
		{"POST", "/v1/orders/0199aaaa-0000-7000-8000-000000000001:confirm", "application/json", `{}`, "order"},
		{"GET", "/v1/contracts", "", "", "order"},
		// Activities regarding an account are the workflow module's.
		{"GET", "/v1/accounts/0199aaaa-0000-7000-8000-000000000001/activities", "", "", "workflow"},
	} {
		code, body := send(c.method, c.path, c.contentType, c.body)
		reason, meta := errorInfo(body)
		if code != http.StatusNotImplemented || body["code"] != float64(12) || reason != "MODULE_DISABLED" || meta["module"] != c.module {
			t.Errorf("%s %s = %d %v, want 501 UNIMPLEMENTED, MODULE_DISABLED naming %s", c.method, c.path, code, body, c.module)
		}
	}
}

func errorInfo(body map[string]any) (string, map[string]any) {
	details, _ := body["details"].([]any)
	for _, d := range details {
		if m, _ := d.(map[string]any); m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			meta, _ := m["metadata"].(map[string]any)
			reason, _ := m["reason"].(string)
			return reason, meta
		}
	}
	return "", nil
}

func TestGatewayRefusesAnUnknownUpstream(t *testing.T) {
	t.Parallel()
	if _, err := New(t.Context(), Config{}, slog.New(slog.DiscardHandler), []Upstream{{Name: "billing"}}); err == nil || !strings.Contains(err.Error(), `"billing"`) {
		t.Fatalf("New with upstream billing = %v", err)
	}
}
