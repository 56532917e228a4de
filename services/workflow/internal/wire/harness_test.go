package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/workflow/internal/wire"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// suite is a running workflow service (in the test's process) with its
// own database and NATS, and the record-owning services it follows, each
// its own process.
type suite struct {
	wf       workflowv1.WorkflowServiceClient
	leads    leadv1.LeadServiceClient
	forms    leadv1.WebFormServiceClient
	accounts accountv1.AccountServiceClient
	opps     opportunityv1.OpportunityServiceClient
	orders   orderv1.OrderServiceClient
	nats     *testkit.NATS
	js       jetstream.JetStream
	dbURL    string
	addrs    map[string]string
	svc      *inproc.Service
}

// services the suite runs: all four by default.
var allServices = []string{"lead", "account", "opportunity", "order"}

var binaries = map[string]string{
	"lead":        "github.com/crmsuite/crm/services/lead/cmd/lead",
	"account":     "github.com/crmsuite/crm/services/account/cmd/account",
	"opportunity": "github.com/crmsuite/crm/services/opportunity/cmd/opportunity",
	"order":       "github.com/crmsuite/crm/services/order/cmd/order",
	"workflow":    "github.com/crmsuite/crm/services/workflow/cmd/workflow",
}

// commonEnv is the environment of every service process of the suite.
func (s *suite) commonEnv() []string {
	return append([]string{"METRICS_ADDR=off", "NATS_URL=" + s.nats.URL, "EVENTS_NAMESPACE=" + s.nats.Namespace,
		"PAGE_TOKEN_SECRET=test", "LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s", "TIMER_POLL_INTERVAL=100ms",
		"LEAD_GRPC_ADDR=" + s.addrs["lead"], "ACCOUNT_GRPC_ADDR=" + s.addrs["account"],
		"OPPORTUNITY_GRPC_ADDR=" + s.addrs["opportunity"], "ORDER_GRPC_ADDR=" + s.addrs["order"]}, testkit.AuthEnv()...)
}

// startServices runs the named record-owning services as processes and
// creates the streams of the others (which do not run).
func startServices(t *testing.T, names ...string) *suite {
	t.Helper()
	if len(names) == 0 {
		names = allServices
	}
	s := &suite{nats: testkit.NewNATS(t), dbURL: testkit.Database(t), addrs: map[string]string{}}
	for _, n := range append(allServices, "workflow") {
		s.addrs[n] = testkit.FreeAddr(t)
	}
	s.js = s.nats.Observer(t)
	running := map[string]bool{}
	for _, n := range names {
		running[n] = true
	}
	for _, n := range allServices {
		if !running[n] {
			s.nats.CreateStream(t, s.js, n, 0)
		}
	}
	for _, n := range names {
		testkit.StartProc(t, n, testkit.Binary(t, binaries[n]), s.addrs[n],
			append(append([]string{"GRPC_ADDR=" + s.addrs[n]}, s.commonEnv()...), testkit.DatabaseEnv(s.dbURL, n)...)...)
	}
	s.leads = leadv1.NewLeadServiceClient(testkit.Dial(t, s.addrs["lead"]))
	s.forms = leadv1.NewWebFormServiceClient(testkit.Dial(t, s.addrs["lead"]))
	s.accounts = accountv1.NewAccountServiceClient(testkit.Dial(t, s.addrs["account"]))
	s.opps = opportunityv1.NewOpportunityServiceClient(testkit.Dial(t, s.addrs["opportunity"]))
	s.orders = orderv1.NewOrderServiceClient(testkit.Dial(t, s.addrs["order"]))
	return s
}

// start runs the services named (all four by default) and the workflow
// service in the test's process.
func start(t *testing.T, names ...string) *suite {
	t.Helper()
	s := startServices(t, names...)
	cfg := inproc.Config("workflow", s.dbURL, s.nats)
	cfg.ConsumerWorkers = 2
	cfg.TimerPollInterval = 100 * time.Millisecond
	s.svc = inproc.Start(t, cfg, wire.Spec(wire.WithServices(s.addrs), wire.WithConsumerRetries(3, 50*time.Millisecond, 2*time.Second)))
	s.wf = workflowv1.NewWorkflowServiceClient(s.svc.Conn)
	return s
}

// startProc runs the workflow service as a process of its own (to kill).
func (s *suite) startProc(t *testing.T) *testkit.Proc {
	t.Helper()
	p := testkit.StartProc(t, "workflow", testkit.Binary(t, binaries["workflow"]), s.addrs["workflow"],
		append(append([]string{"GRPC_ADDR=" + s.addrs["workflow"]}, s.commonEnv()...), testkit.DatabaseEnv(s.dbURL, "workflow")...)...)
	s.wf = workflowv1.NewWorkflowServiceClient(testkit.Dial(t, s.addrs["workflow"]))
	return p
}

var (
	admin   = testkit.As("alice")
	manager = testkit.As("mia", "manager")
	sam     = testkit.As("sam", "sales")
	sue     = testkit.As("sue", "sales")
	ops     = testkit.As("olga", "ops")
)

// lead creates a lead owned by owner (as that owner, a salesperson).
func (s *suite) lead(t *testing.T, owner string, l *leadv1.Lead) *leadv1.Lead {
	t.Helper()
	if l.LastName == "" && l.Company == "" {
		l.LastName = "Lead"
	}
	got, err := s.leads.CreateLead(testkit.As(owner, "sales"), &leadv1.CreateLeadRequest{Lead: l})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// account creates an account owned by owner, with one contact.
func (s *suite) account(t *testing.T, owner, name string) (*accountv1.Account, *accountv1.Contact) {
	t.Helper()
	a, err := s.accounts.CreateAccount(testkit.As(owner, "sales"), &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: name, CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.accounts.CreateContact(testkit.As(owner, "sales"), &accountv1.CreateContactRequest{Contact: &accountv1.Contact{FirstName: "Ada", LastName: "Buyer", Account: a.Name}})
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

// known waits until the workflow service has seen record name (its
// projection has it).
func (s *suite) known(t *testing.T, name string) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM records WHERE name = $1 AND seq > 0`, name) == "1"
	}, "the workflow service knows %s", name)
}

// tasks lists the open tasks regarding record.
func (s *suite) openTasks(t *testing.T, record string) []*workflowv1.Activity {
	t.Helper()
	resp, err := s.wf.ListActivities(admin, &workflowv1.ListActivitiesRequest{Parent: record, Filter: `status = OPEN`, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Activities
}

// published returns the events of the workflow stream, decoded, in stream
// order, waiting until at least want are there.
func (s *suite) published(t *testing.T, want int) []proto.Message {
	t.Helper()
	return s.nats.Published(t, s.js, "workflow", want)
}

// query runs a query on the workflow schema as the superuser and returns
// its one value as text.
func (s *suite) query(t *testing.T, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = "workflow"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out string
	if err := conn.QueryRow(ctx, q, args...).Scan(&out); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// exec runs a statement on the workflow schema as the superuser.
func (s *suite) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = "workflow"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
