// Package e2e drives the suite as it is deployed: each service and the
// gateway run as their own processes against real PostgreSQL and NATS
// JetStream, and tests talk REST to the gateway and gRPC to the services.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

type stack struct {
	base string
	// db is the suite's database (the test superuser's URL).
	db       string
	nats     *testkit.NATS
	lead     *testkit.Proc
	account  *testkit.Proc
	opps     *testkit.Proc
	orders   *testkit.Proc
	workflow *testkit.Proc
	gateway  *testkit.Proc
	grpc     leadv1.LeadServiceClient
	accounts accountv1.AccountServiceClient
	http     *http.Client
}

type stackOptions struct {
	leadEnv []string
	// privateNATS gives the stack a NATS server of its own, to restart.
	privateNATS bool
	// env is added to every process's environment (the gateway's too).
	env []string
	// database, when set, is the database the services use (one on a
	// private server, to crash); otherwise a fresh one on the shared server.
	database string
}

// startStack runs the lead, account and opportunity services and the
// gateway, each as its own process, on a fresh database and NATS
// namespace.
func startStack(t *testing.T, leadEnv ...string) *stack {
	return startStackWith(t, stackOptions{leadEnv: leadEnv})
}

func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	db, n := o.database, testkit.NewNATS(t)
	if db == "" {
		db = testkit.Database(t)
	}
	if o.privateNATS {
		n = testkit.PrivateNATS(t)
	}
	leadAddr, accountAddr, oppAddr, orderAddr, httpAddr := testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	workflowAddr := testkit.FreeAddr(t)
	common := []string{"METRICS_ADDR=off", "NATS_URL=" + n.URL, "EVENTS_NAMESPACE=" + n.Namespace,
		"PAGE_TOKEN_SECRET=e2e", "LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s",
		"LEAD_GRPC_ADDR=" + leadAddr, "ACCOUNT_GRPC_ADDR=" + accountAddr, "OPPORTUNITY_GRPC_ADDR=" + oppAddr, "ORDER_GRPC_ADDR=" + orderAddr, "WORKFLOW_GRPC_ADDR=" + workflowAddr, "ACCOUNT_CALL_TIMEOUT=1s",
		"TIMER_POLL_INTERVAL=200ms"}
	common = append(append(common, testkit.AuthEnv()...), o.env...)
	account := testkit.StartProc(t, "account", testkit.Binary(t, "github.com/crmsuite/crm/services/account/cmd/account"), accountAddr,
		append(append([]string{"GRPC_ADDR=" + accountAddr}, common...), testkit.DatabaseEnv(db, "account")...)...)
	opps := testkit.StartProc(t, "opportunity", testkit.Binary(t, "github.com/crmsuite/crm/services/opportunity/cmd/opportunity"), oppAddr,
		append(append([]string{"GRPC_ADDR=" + oppAddr}, common...), testkit.DatabaseEnv(db, "opportunity")...)...)
	orders := testkit.StartProc(t, "order", testkit.Binary(t, "github.com/crmsuite/crm/services/order/cmd/order"), orderAddr,
		append(append([]string{"GRPC_ADDR=" + orderAddr}, common...), testkit.DatabaseEnv(db, "order")...)...)
	lead := testkit.StartProc(t, "lead", testkit.Binary(t, "github.com/crmsuite/crm/services/lead/cmd/lead"), leadAddr,
		append(append(append([]string{"GRPC_ADDR=" + leadAddr}, common...), testkit.DatabaseEnv(db, "lead")...), o.leadEnv...)...)
	workflow := testkit.StartProc(t, "workflow", testkit.Binary(t, "github.com/crmsuite/crm/services/workflow/cmd/workflow"), workflowAddr,
		append(append([]string{"GRPC_ADDR=" + workflowAddr}, common...), testkit.DatabaseEnv(db, "workflow")...)...)
	gw := testkit.StartProc(t, "gateway", testkit.Binary(t, "github.com/crmsuite/crm/gateway/cmd/gateway"), httpAddr,
		append([]string{"HTTP_ADDR=" + httpAddr, "LEAD_GRPC_ADDR=" + leadAddr, "ACCOUNT_GRPC_ADDR=" + accountAddr, "OPPORTUNITY_GRPC_ADDR=" + oppAddr, "ORDER_GRPC_ADDR=" + orderAddr,
			"WORKFLOW_GRPC_ADDR=" + workflowAddr, "MAX_BODY_BYTES=65536",
			"LOG_LEVEL=warn", "LOG_FORMAT=text"}, o.env...)...)
	s := &stack{
		base: "http://" + httpAddr, db: db, nats: n, lead: lead, account: account, opps: opps, orders: orders, workflow: workflow, gateway: gw,
		http: &http.Client{Timeout: 15 * time.Second},
	}
	s.grpc = leadv1.NewLeadServiceClient(testkit.Dial(t, leadAddr))
	s.accounts = accountv1.NewAccountServiceClient(testkit.Dial(t, accountAddr))
	return s
}

// query reads one value from the suite's database as text.
func (s *stack) query(t *testing.T, sql string, args ...any) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var out string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// response is a decoded REST reply.
type response struct {
	status int
	body   map[string]any
	raw    []byte
}

// do sends a REST request as alice (an admin token), with headers (name,
// value pairs) set on top; an "Authorization" of "" sends none.
func (s *stack) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var rdr io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rdr = bytes.NewBufferString(b)
	case []byte:
		rdr = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rdr = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, rdr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", testkit.Bearer("alice"))
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return r
}

func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

func (r response) str(key string) string {
	v, _ := r.body[key].(string)
	return v
}

// violations returns the field violations and ErrorInfo reason of an
// error reply (google.rpc.Status as JSON).
func (r response) violations() (reason string, fields []string) {
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		switch m["@type"] {
		case "type.googleapis.com/google.rpc.ErrorInfo":
			reason, _ = m["reason"].(string)
		case "type.googleapis.com/google.rpc.BadRequest":
			fvs, _ := m["fieldViolations"].([]any)
			for _, fv := range fvs {
				f, _ := fv.(map[string]any)
				field, _ := f["field"].(string)
				fields = append(fields, field)
			}
		}
	}
	return reason, fields
}
