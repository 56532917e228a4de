package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/testkit"
)

// errorModule is the module an error reply's ErrorInfo names.
func (r response) errorModule() string {
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		if m, _ := d.(map[string]any); m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			meta, _ := m["metadata"].(map[string]any)
			module, _ := meta["module"].(string)
			return module
		}
	}
	return ""
}

// A business that needs neither leads, opportunities nor orders runs
// customers and activities only (MODULES=account,workflow): the gateway is
// ready with those two, the others' routes answer 501 MODULE_DISABLED, and
// the workflow service records activities regarding customers, refusing
// ones regarding a lead with MODULE_DISABLED, not a timeout.
func TestSuiteWithCustomersAndActivitiesOnly(t *testing.T) {
	t.Parallel()
	db, n := testkit.Database(t), testkit.NewNATS(t)
	accountAddr, workflowAddr, httpAddr := testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	common := append([]string{"METRICS_ADDR=off", "NATS_URL=" + n.URL, "EVENTS_NAMESPACE=" + n.Namespace,
		"PAGE_TOKEN_SECRET=e2e", "LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s", "TIMER_POLL_INTERVAL=200ms",
		"MODULES=account,workflow", "ACCOUNT_GRPC_ADDR=" + accountAddr, "WORKFLOW_GRPC_ADDR=" + workflowAddr}, testkit.AuthEnv()...)
	testkit.StartProc(t, "account", testkit.Binary(t, "github.com/crmsuite/crm/services/account/cmd/account"), accountAddr,
		append(append([]string{"GRPC_ADDR=" + accountAddr}, common...), testkit.DatabaseEnv(db, "account")...)...)
	testkit.StartProc(t, "workflow", testkit.Binary(t, "github.com/crmsuite/crm/services/workflow/cmd/workflow"), workflowAddr,
		append(append([]string{"GRPC_ADDR=" + workflowAddr}, common...), testkit.DatabaseEnv(db, "workflow")...)...)
	testkit.StartProc(t, "gateway", testkit.Binary(t, "github.com/crmsuite/crm/gateway/cmd/gateway"), httpAddr,
		"HTTP_ADDR="+httpAddr, "MODULES=account,workflow", "ACCOUNT_GRPC_ADDR="+accountAddr, "WORKFLOW_GRPC_ADDR="+workflowAddr,
		"LOG_LEVEL=warn", "LOG_FORMAT=text")
	s := &stack{base: "http://" + httpAddr, nats: n, http: &http.Client{Timeout: 15 * time.Second}}

	testkit.Eventually(t, 20*time.Second, func() bool { return s.do(t, "GET", "/readyz", nil).status == 200 }, "gateway ready")
	ready := s.do(t, "GET", "/readyz", nil).want(t, 200)
	for m, want := range map[string]string{"account": "SERVING", "workflow": "SERVING", "lead": "MODULE_DISABLED",
		"opportunity": "MODULE_DISABLED", "order": "MODULE_DISABLED"} {
		if got := ready.str(m); got != want {
			t.Errorf("readyz %s = %q, want %q: %s", m, got, want, ready.raw)
		}
	}
	for path, module := range map[string]string{"/v1/leads": "lead", "/v1/opportunities": "opportunity", "/v1/orders": "order"} {
		r := s.do(t, "GET", path, nil).want(t, http.StatusNotImplemented)
		if reason, _ := r.violations(); reason != "MODULE_DISABLED" || r.errorModule() != module {
			t.Errorf("GET %s: %s, want MODULE_DISABLED naming %s", path, r.raw, module)
		}
	}

	sales := testkit.Bearer("bob", "sales")
	acct := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Acme"}).want(t, 200)
	call := s.do(t, "POST", "/v1/"+acct.str("name")+"/activities", map[string]any{"type": "ACTIVITY_TYPE_CALL", "subject": "intro"},
		"Authorization", sales).want(t, 200)
	if call.str("regarding") != acct.str("name") {
		t.Fatalf("activity = %s", call.raw)
	}
	// Activities regarding a lead are the workflow service's routes, so
	// the gateway passes them on; the workflow service cannot look the
	// lead up, and says why, to a salesperson too (not 403: that would
	// say the lead exists and is someone else's).
	onLead := s.do(t, "POST", "/v1/leads/"+uuid.NewString()+"/activities", map[string]any{"type": "ACTIVITY_TYPE_CALL", "subject": "x"},
		"Authorization", sales).want(t, http.StatusBadRequest)
	if reason, _ := onLead.violations(); reason != "MODULE_DISABLED" || onLead.errorModule() != "lead" {
		t.Fatalf("activity regarding a lead: %s", onLead.raw)
	}
}
