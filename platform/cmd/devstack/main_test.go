package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func names(ss []service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.name)
	}
	return out
}

func TestEveryModuleHasAService(t *testing.T) {
	if got := names(allServices); !slices.Equal(got, modules.Names) {
		t.Fatalf("devstack's services %v, the modules %v", got, modules.Names)
	}
}

func TestSelectServices(t *testing.T) {
	for in, want := range map[string][]string{
		"":                 modules.Names,
		"all":              modules.Names,
		"account,workflow": {"account", "workflow"},
		"workflow,account": {"account", "workflow"}, // still in start order
		"order, lead":      {"lead", "order"},
	} {
		got, mods, err := selectServices(in)
		if err != nil || !slices.Equal(names(got), want) || !slices.Equal(mods.List(), want) {
			t.Errorf("MODULES=%q: %v (modules %v), %v; want %v", in, names(got), mods.List(), err, want)
		}
	}
	for _, in := range []string{"customers", "account,workflows", "account,,workflow"} {
		if got, _, err := selectServices(in); err == nil || got != nil || !strings.Contains(err.Error(), "the modules are lead (leads), account") {
			t.Errorf("MODULES=%q: %v, %v; want an error listing the modules", in, names(got), err)
		}
	}
}

// `make run` with a bad MODULES stops before starting anything, and says
// why.
func TestBadModulesAreRefusedAtStart(t *testing.T) {
	t.Parallel()
	bin := testkit.Binary(t, "github.com/crmsuite/crm/platform/cmd/devstack")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"MODULES=customers,activities", "DATA_DIR=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	msg := string(out)
	if err == nil || !strings.Contains(msg, `devstack: MODULES="customers,activities": unknown modules "customers", "activities"`) ||
		!strings.Contains(msg, "account (customers: accounts and contacts)") || strings.Contains(msg, "starting") {
		t.Fatalf("devstack with MODULES=customers,activities: %v\n%s", err, msg)
	}
}

// `MODULES=account,workflow make run`: customers and activities only,
// behind a gateway that is ready with them.
func TestRunStartsOnlyTheModulesAsked(t *testing.T) {
	t.Parallel()
	bin := testkit.Binary(t, "github.com/crmsuite/crm/platform/cmd/devstack")
	for _, pkg := range []string{"services/account/cmd/account", "services/workflow/cmd/workflow", "gateway/cmd/gateway"} {
		testkit.Binary(t, "github.com/crmsuite/crm/"+pkg)
	}
	httpAddr, leadAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	testkit.StartProc(t, "devstack", bin, httpAddr,
		"MODULES=account,workflow", "DATA_DIR="+t.TempDir(), "BIN_DIR="+filepath.Dir(bin), "HTTP_ADDR="+httpAddr,
		"DATABASE_ADMIN_URL="+testkit.Database(t), "NATS_URL="+testkit.PrivateNATS(t).URL, "LOG_FORMAT=text",
		"ACCOUNT_GRPC_ADDR="+testkit.FreeAddr(t), "ACCOUNT_METRICS_ADDR="+testkit.FreeAddr(t),
		"WORKFLOW_GRPC_ADDR="+testkit.FreeAddr(t), "WORKFLOW_METRICS_ADDR="+testkit.FreeAddr(t),
		"LEAD_GRPC_ADDR="+leadAddr)
	var ready map[string]string
	testkit.Eventually(t, 2*time.Minute, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&ready) == nil
	}, "gateway ready")
	want := map[string]string{"account": "SERVING", "workflow": "SERVING", "lead": "MODULE_DISABLED", "opportunity": "MODULE_DISABLED", "order": "MODULE_DISABLED"}
	for m, w := range want {
		if ready[m] != w {
			t.Errorf("readyz %s = %q, want %q (%v)", m, ready[m], w, ready)
		}
	}
	resp, err := http.Get("http://" + httpAddr + "/v1/leads")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("GET /v1/leads = %d, want 501", resp.StatusCode)
	}
	if c, err := net.DialTimeout("tcp", leadAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("something listens where the lead service would: %s", leadAddr)
	}
}
