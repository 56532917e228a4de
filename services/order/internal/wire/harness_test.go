package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/order/internal/wire"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// suite is a running order service with its own database and NATS and,
// unless asked otherwise, a real account service (its own process).
type suite struct {
	client   orderv1.OrderServiceClient
	accounts accountv1.AccountServiceClient
	nats     *testkit.NATS
	js       jetstream.JetStream
	dbURL    string
	svc      *inproc.Service
}

type options struct {
	// noAccounts leaves the account address a free port nobody listens
	// on (the service is down).
	noAccounts     bool
	accountTimeout time.Duration
	// modules the installation runs (MODULES), if not all; the workflow
	// address is then a free port nobody listens on.
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
	n := testkit.NewNATS(t)
	s := &suite{nats: n, dbURL: testkit.Database(t)}
	accountAddr := testkit.FreeAddr(t)
	if !o.noAccounts {
		testkit.StartProc(t, "account", testkit.Binary(t, "github.com/crmsuite/crm/services/account/cmd/account"), accountAddr,
			append(append([]string{"GRPC_ADDR=" + accountAddr, "METRICS_ADDR=off", "NATS_URL=" + n.URL,
				"EVENTS_NAMESPACE=" + n.Namespace, "PAGE_TOKEN_SECRET=test", "LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s"},
				testkit.DatabaseEnv(s.dbURL, "account")...), testkit.AuthEnv()...)...)
		s.accounts = accountv1.NewAccountServiceClient(testkit.Dial(t, accountAddr))
	}
	cfg := inproc.Config("order", s.dbURL, n)
	cfg.ConsumerWorkers = 2
	cfg.TimerPollInterval = 100 * time.Millisecond
	s.js = n.Observer(t)
	// The streams the consumers read; a tiny duplicate window lets a test
	// deliver an event id twice.
	for _, svc := range []string{"lead", "opportunity"} {
		n.CreateStream(t, s.js, svc, 100*time.Millisecond)
	}
	if o.noAccounts {
		n.CreateStream(t, s.js, "account", 100*time.Millisecond)
	}
	wopts := []wire.Option{wire.WithAccountService(accountAddr, o.accountTimeout), wire.WithConsumerRetries(3, 50*time.Millisecond, 2*time.Second)}
	if o.modules != "" {
		cfg.Modules = modules.MustParse(o.modules)
		wopts = append(wopts, wire.WithWorkflowService(testkit.FreeAddr(t), 500*time.Millisecond))
	}
	s.svc = inproc.Start(t, cfg, wire.Spec(wopts...))
	s.client = orderv1.NewOrderServiceClient(s.svc.Conn)
	return s
}

// customer creates an account (with a credit limit when limit > 0) and
// one contact in the account service.
func (s *suite) customer(t *testing.T, name string, limit int64) (account, contact string) {
	t.Helper()
	a := &accountv1.Account{DisplayName: name, CurrencyCode: "EUR", PaymentTerms: accountv1.PaymentTerms_PAYMENT_TERMS_NET_30}
	if limit > 0 {
		a.CreditLimit = eur(limit, 0)
	}
	got, err := s.accounts.CreateAccount(testkit.As("alice"), &accountv1.CreateAccountRequest{Account: a})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.accounts.CreateContact(testkit.As("alice"), &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Buyer", Account: got.Name}})
	if err != nil {
		t.Fatal(err)
	}
	return got.Name, c.Name
}

func eur(units int64, nanos int32) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: "EUR", Units: units, Nanos: nanos}
}

func line(code, qty string, price *moneypb.Money) *orderv1.OrderLine {
	return &orderv1.OrderLine{ProductCode: code, Quantity: qty, UnitPrice: price}
}

var ops = testkit.As("olga", "ops")

// order creates a draft order of lines for account as ops.
func (s *suite) order(t *testing.T, account string, lines ...*orderv1.OrderLine) *orderv1.Order {
	t.Helper()
	o, err := s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{Account: account, CurrencyCode: "EUR", Lines: lines}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// published returns the events of the order stream, decoded, in stream
// order, waiting until at least want are there.
func (s *suite) published(t *testing.T, want int) []proto.Message {
	t.Helper()
	return s.nats.Published(t, s.js, "order", want)
}

// query runs a query on the service's schema as the superuser and returns
// its one value as text (test inspection).
func (s *suite) query(t *testing.T, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = `"order"`
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

// snapshot is every row the service keeps about orders and contracts, to
// show a request changed nothing.
func (s *suite) snapshot(t *testing.T) string {
	t.Helper()
	return s.query(t, `SELECT
		(SELECT coalesce(string_agg(o::text, '|' ORDER BY id), '') FROM orders o) ||
		(SELECT coalesce(string_agg(c::text, '|' ORDER BY id), '') FROM contracts c) ||
		(SELECT coalesce(string_agg(e::text, '|' ORDER BY account_id, currency_code), '') FROM credit_exposure e) ||
		(SELECT count(*)::text FROM credit_ledger) || '/' || (SELECT count(*)::text FROM order_status_changes) || '/' ||
		(SELECT count(*)::text FROM mrr_movements) || '/' || (SELECT count(*)::text FROM timers) || '/' ||
		-- Events ever written: the relay deletes what it published.
		(SELECT last_value::text || is_called::text FROM outbox_id_seq)`)
}

// contract creates a draft contract for account as ops: c's terms, one
// recurring line of 100 EUR per period unless c has lines.
func (s *suite) contract(t *testing.T, account string, c *orderv1.Contract) *orderv1.Contract {
	t.Helper()
	c.Account, c.CurrencyCode = account, "EUR"
	if c.Lines == nil {
		c.Lines = []*orderv1.OrderLine{line("SUB", "1", eur(100, 0))}
	}
	got, err := s.client.CreateContract(ops, &orderv1.CreateContractRequest{Contract: c})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
