package wire_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

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

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	_ "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/account/internal/wire"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// suite is a running account service with its own database and NATS.
type suite struct {
	conn   *grpc.ClientConn
	client accountv1.AccountServiceClient
	nats   *testkit.NATS
	js     jetstream.JetStream
	dbURL  string
	stop   func()
}

type options struct {
	privateNATS bool
	wire        []wire.Option
}

func start(t *testing.T, opts ...options) *suite {
	t.Helper()
	var o options
	if len(opts) > 0 {
		o = opts[0]
	}
	n := testkit.NewNATS(t)
	if o.privateNATS {
		n = testkit.PrivateNATS(t)
	}
	s := &suite{nats: n, dbURL: testkit.Database(t)}
	cfg := service.Config{
		Name: "account", GRPCAddr: "127.0.0.1:0", MetricsAddr: "off", DatabaseURL: s.dbURL, DBMaxConns: 8,
		NATSURL: n.URL, EventsNamespace: n.Namespace, ShutdownTimeout: 5 * time.Second, Reflection: true,
		PageTokenSecret: "test-secret",
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
	spec := wire.Spec(append([]wire.Option{wire.WithConsumerRetries(3, 50*time.Millisecond, 2*time.Second)}, o.wire...)...)
	ready := make(chan net.Addr, 1)
	spec.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, cfg, log, spec) }()
	var addr net.Addr
	var conn *grpc.ClientConn
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("service did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("service did not start within 60s")
	}
	conn, err = grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s.conn = conn
	s.client = accountv1.NewAccountServiceClient(conn)
	var stopped bool
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service stopped with error: %v", err)
		}
	}
	t.Cleanup(s.stop)
	var nc *nats.Conn
	var js jetstream.JetStream
	nc, js, err = natsx.Connect(n.URL, "test-observer", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s.js = js
	return s
}

// as returns a context calling as user.
func as(user string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-actor", user)
}

// published returns the events of the account stream, decoded, in stream
// order, waiting until at least want are there.
func (s *suite) published(t *testing.T, want int) []proto.Message {
	t.Helper()
	ctx := context.Background()
	var out []proto.Message
	testkit.Eventually(t, 20*time.Second, func() bool {
		stream, err := s.js.Stream(ctx, events.StreamName(s.nats.Namespace, "account"))
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
	}, "%d events on the account stream", want)
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
	if reason == "" {
		t.Fatalf("%v: no ErrorInfo", err)
	}
	if code == codes.InvalidArgument && len(fields) == 0 {
		t.Fatalf("%v: InvalidArgument without field violations", err)
	}
	return reason, fields
}
