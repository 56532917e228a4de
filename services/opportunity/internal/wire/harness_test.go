package wire_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/opportunity/internal/wire"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// suite is a running opportunity service with its own database and NATS,
// and, when asked for, a real account service (its own process) on them.
type suite struct {
	client   opportunityv1.OpportunityServiceClient
	accounts accountv1.AccountServiceClient
	nats     *testkit.NATS
	js       jetstream.JetStream
	dbURL    string
}

type options struct {
	// withAccounts runs the account service; without it, the account
	// address is a free port nobody listens on (the service is down).
	withAccounts   bool
	accountTimeout time.Duration
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
	if o.withAccounts {
		testkit.StartProc(t, "account", testkit.Binary(t, "github.com/crmsuite/crm/services/account/cmd/account"), accountAddr,
			"GRPC_ADDR="+accountAddr, "METRICS_ADDR=off", "DATABASE_URL="+s.dbURL, "NATS_URL="+n.URL,
			"EVENTS_NAMESPACE="+n.Namespace, "PAGE_TOKEN_SECRET=test", "LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s")
		s.accounts = accountv1.NewAccountServiceClient(dial(t, accountAddr))
	}
	cfg := service.Config{
		Name: "opportunity", GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DatabaseURL: s.dbURL, DBMaxConns: 8,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: 5 * time.Second, Reflection: true,
		PageTokenSecret: "test-secret", ConsumerWorkers: 2,
	}
	nc0, js0, err := natsx.Connect(n.URL, "test-lead-stream", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// The lead service's stream, which the conversion consumer reads; a
	// tiny duplicate window lets a test deliver an event id twice.
	if _, err := js0.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: events.StreamName(n.Namespace, "lead"), Subjects: events.StreamSubjects(n.Namespace, "lead"),
		Duplicates: 100 * time.Millisecond,
	}); err != nil {
		t.Fatal(err)
	}
	nc0.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	spec := wire.Spec(wire.WithAccountService(accountAddr, o.accountTimeout), wire.WithConsumerRetries(3, 50*time.Millisecond, 2*time.Second))
	ready := make(chan net.Addr, 1)
	spec.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, cfg, log, spec) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("service did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("service did not start within 60s")
	}
	s.client = opportunityv1.NewOpportunityServiceClient(dial(t, addr.String()))
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service stopped with error: %v", err)
		}
	})
	var nc *nats.Conn
	nc, s.js, err = natsx.Connect(n.URL, "test-observer", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return s
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// as returns a context calling as user.
func as(user string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-actor", user)
}

// customer creates an account with one contact in the account service.
func (s *suite) customer(t *testing.T, name string) (account, contact string) {
	t.Helper()
	a, err := s.accounts.CreateAccount(as("alice"), &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: name, CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.accounts.CreateContact(as("alice"), &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Buyer", Account: a.Name}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Name, c.Name
}

func (s *suite) create(t *testing.T, o *opportunityv1.Opportunity) *opportunityv1.Opportunity {
	t.Helper()
	out, err := s.client.CreateOpportunity(as("alice"), &opportunityv1.CreateOpportunityRequest{Opportunity: o})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// published returns the events of the opportunity stream, decoded, in
// stream order, waiting until at least want are there.
func (s *suite) published(t *testing.T, want int) []proto.Message {
	t.Helper()
	ctx := context.Background()
	var out []proto.Message
	testkit.Eventually(t, 20*time.Second, func() bool {
		stream, err := s.js.Stream(ctx, events.StreamName(s.nats.Namespace, "opportunity"))
		if err != nil {
			return false
		}
		info, err := stream.Info(ctx)
		if err != nil || info.State.Msgs < uint64(want) {
			return false
		}
		out = out[:0]
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, decodeEvent(t, m.Header.Get(events.HeaderType), m.Data))
		}
		return true
	}, "%d events on the opportunity stream", want)
	return out
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

func decodeEvent(t *testing.T, typ string, data []byte) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		t.Fatalf("event type %q: %v", typ, err)
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func eventTypes(evs []proto.Message) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.ProtoReflect().Descriptor().Name())
	}
	return out
}

var _ = eventsv1.OpportunityCreated{}

// requireCode fails unless err is a status with code, and returns its
// ErrorInfo reason and field violations.
func requireCode(t *testing.T, err error, code codes.Code) (reason string, fields []string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("err = %v, want %v", err, code)
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.Reason
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	if reason == "" && code != codes.InvalidArgument {
		t.Fatalf("%v: no ErrorInfo", err)
	}
	if code == codes.InvalidArgument && len(fields) == 0 {
		t.Fatalf("%v: InvalidArgument without field violations", err)
	}
	return reason, fields
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
		(SELECT count(*)::text FROM opportunity.outbox) || '/' ||
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
