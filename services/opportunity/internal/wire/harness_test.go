package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/opportunity/internal/wire"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// suite is a running opportunity service with its own database and NATS,
// and, when asked for, a real account service (its own process) on them.
type suite struct {
	client   opportunityv1.OpportunityServiceClient
	accounts accountv1.AccountServiceClient
	// accountProc is the account service's process, to stop and restart.
	accountProc *testkit.Proc
	nats        *testkit.NATS
	js          jetstream.JetStream
	dbURL       string
}

type options struct {
	// withAccounts runs the account service; without it, the account
	// address is a free port nobody listens on (the service is down).
	withAccounts   bool
	accountTimeout time.Duration
	// maxDeliver of the consumers (default 3, 50ms apart).
	maxDeliver int
	// modules the installation runs (MODULES), if not all.
	modules string
}

func start(t *testing.T, opts ...options) *suite {
	t.Helper()
	var o options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.accountTimeout == 0 {
		o.accountTimeout = 2 * time.Second
	}
	if o.maxDeliver == 0 {
		o.maxDeliver = 3
	}
	n := testkit.NewNATS(t)
	s := &suite{nats: n, dbURL: testkit.Database(t)}
	accountAddr := testkit.FreeAddr(t)
	if o.withAccounts {
		s.accountProc = testkit.StartProc(t, "account", testkit.Binary(t, "github.com/crmsuite/crm/services/account/cmd/account"), accountAddr,
			append(append([]string{"GRPC_ADDR=" + accountAddr, "METRICS_ADDR=off", "NATS_URL=" + n.URL,
				"EVENTS_NAMESPACE=" + n.Namespace, "PAGE_TOKEN_SECRET=test", "LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s"},
				testkit.DatabaseEnv(s.dbURL, "account")...), testkit.AuthEnv()...)...)
		s.accounts = accountv1.NewAccountServiceClient(testkit.Dial(t, accountAddr))
	}
	cfg := inproc.Config("opportunity", s.dbURL, n)
	cfg.ConsumerWorkers = 2
	if o.modules != "" {
		cfg.Modules = modules.MustParse(o.modules)
	}
	s.js = n.Observer(t)
	// The lead and order services' streams, which the conversion and
	// renewal consumers read; a tiny duplicate window lets a test deliver
	// an event id twice.
	n.CreateStream(t, s.js, "lead", 100*time.Millisecond)
	n.CreateStream(t, s.js, "order", 100*time.Millisecond)
	spec := wire.Spec(wire.WithAccountService(accountAddr, o.accountTimeout), wire.WithConsumerRetries(o.maxDeliver, 50*time.Millisecond, 2*time.Second))
	s.client = opportunityv1.NewOpportunityServiceClient(inproc.Start(t, cfg, spec).Conn)
	return s
}

// customer creates an account with one contact in the account service.
func (s *suite) customer(t *testing.T, name string) (account, contact string) {
	t.Helper()
	a, err := s.accounts.CreateAccount(testkit.As("alice"), &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: name, CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.accounts.CreateContact(testkit.As("alice"), &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Buyer", Account: a.Name}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Name, c.Name
}

func (s *suite) create(t *testing.T, o *opportunityv1.Opportunity) *opportunityv1.Opportunity {
	t.Helper()
	out, err := s.client.CreateOpportunity(testkit.As("alice"), &opportunityv1.CreateOpportunityRequest{Opportunity: o})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// published returns the events of the opportunity stream, decoded, in
// stream order, waiting until at least want are there.
func (s *suite) published(t *testing.T, want int) []proto.Message {
	t.Helper()
	return s.nats.Published(t, s.js, "opportunity", want)
}

// eventsOf returns the published events about one opportunity.
func eventsOf(evs []proto.Message, name string) []proto.Message {
	var out []proto.Message
	for _, e := range evs {
		if o, ok := e.ProtoReflect().Interface().(interface {
			GetOpportunity() *opportunityv1.Opportunity
		}); ok && o.GetOpportunity().GetName() == name {
			out = append(out, e)
		}
	}
	return out
}

// snapshot is every row the service keeps, to show a request changed
// nothing.
func (s *suite) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out string
	err = conn.QueryRow(ctx, `SELECT
		(SELECT coalesce(string_agg(o::text, '|' ORDER BY id), '') FROM opportunity.opportunities o) ||
		(SELECT coalesce(string_agg(p::text, '|' ORDER BY id), '') FROM opportunity.pipelines p) ||
		(SELECT count(*)::text FROM opportunity.stage_changes) || '/' ||
		-- Events ever written: the relay deletes what it published.
		(SELECT last_value::text || is_called::text FROM opportunity.outbox_id_seq) || '/' ||
		(SELECT coalesce(string_agg(l::text, '|' ORDER BY id), '') FROM opportunity.loss_reasons l)`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sql runs a query on the service's schema (test setup).
func (s *suite) sql(t *testing.T, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = "opportunity"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, q, args...); err != nil {
		t.Fatal(err)
	}
}

func tsOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
