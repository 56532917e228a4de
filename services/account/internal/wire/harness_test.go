package wire_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
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
	s := &suite{nats: n, dbURL: testkit.Database(t), js: n.Observer(t)}
	// The lead service's stream, which the conversion consumer reads; a
	// tiny duplicate window lets a test deliver an event id twice.
	n.CreateStream(t, s.js, "lead", 100*time.Millisecond)
	// The order service's stream, whose order events the account service
	// projects (open orders, for merges).
	n.CreateStream(t, s.js, "order", 100*time.Millisecond)
	spec := wire.Spec(append([]wire.Option{wire.WithConsumerRetries(3, 50*time.Millisecond, 2*time.Second)}, o.wire...)...)
	svc := inproc.Start(t, inproc.Config("account", s.dbURL, n), spec)
	s.conn, s.stop = svc.Conn, svc.Stop
	s.client = accountv1.NewAccountServiceClient(svc.Conn)
	return s
}

// published returns the events of the account stream, decoded, in stream
// order, waiting until at least want are there.
func (s *suite) published(t *testing.T, want int) []proto.Message {
	t.Helper()
	return s.nats.Published(t, s.js, "account", want)
}
