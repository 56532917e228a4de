package wire_test

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// suite is a running lead service with its own database and NATS.
type suite struct {
	conn   *grpc.ClientConn
	client leadv1.LeadServiceClient
	nats   *testkit.NATS
	js     jetstream.JetStream
	dbURL  string
	stop   func()
}

type options struct {
	privateNATS bool
	wire        []wire.Option
	// modules the installation runs (MODULES), if not all.
	modules string
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
	cfg := inproc.Config("lead", s.dbURL, n)
	if o.modules != "" {
		cfg.Modules = modules.MustParse(o.modules)
	}
	svc := inproc.Start(t, cfg, wire.Spec(o.wire...))
	s.conn, s.stop = svc.Conn, svc.Stop
	s.client = leadv1.NewLeadServiceClient(svc.Conn)
	s.js = n.Observer(t)
	return s
}

// published returns the events of the lead stream, decoded, in stream
// order, waiting until at least want are there.
func (s *suite) published(t *testing.T, want int) []proto.Message {
	t.Helper()
	return s.nats.Published(t, s.js, "lead", want)
}
