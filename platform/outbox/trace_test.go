package outbox

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/tracing"
)

// An event's trace goes on across the outbox: the relay's publish span is
// a child of the span that wrote the row, the consumer's process span a
// child of the publish span, and what the consumer writes to its outbox
// carries the process span on.
func TestTraceContinuesAcrossOutboxRelayAndConsumer(t *testing.T) {
	t.Parallel()
	otel.SetTextMapPropagator(tracing.Propagator())
	e := setup(t, false)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx := context.Background()

	w := Writer{Service: "svc", Namespace: e.ns}
	reqCtx, req := tp.Tracer("test").Start(ctx, "request")
	ev := &eventsv1.LeadCreated{Meta: &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now()}, LeadId: "l1"}
	err := pg.InTx(reqCtx, e.pool, func(ctx context.Context) error {
		m, err := w.Message(ctx, "l1", ev)
		if err != nil {
			return err
		}
		return Append(ctx, pg.Q(ctx, e.pool), m)
	})
	req.End()
	if err != nil {
		t.Fatal(err)
	}

	r := e.relay()
	r.TracerProvider = tp
	if n, err := r.RelayOnce(ctx, 10); err != nil || n != 1 {
		t.Fatalf("relayed %d, %v", n, err)
	}

	handled := make(chan trace.SpanContext, 1)
	c := &inbox.Consumer{
		Name: "tracer", Stream: events.StreamName(e.ns, "svc"), Subjects: events.StreamSubjects(e.ns, "svc"),
		Namespace: e.ns, Pool: e.pool, JS: e.js, Logger: testLog, TracerProvider: tp,
		Handler: func(ctx context.Context, m inbox.Message) error {
			// The handler's own event goes out with its context.
			out, err := w.Message(ctx, "l1", &eventsv1.LeadUpdated{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, LeadId: "l1"})
			if err != nil {
				return err
			}
			if err := Append(ctx, pg.Q(ctx, e.pool), out); err != nil {
				return err
			}
			handled <- trace.SpanContextFromContext(ctx)
			return nil
		},
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = c.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	var inHandler trace.SpanContext
	select {
	case inHandler = <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("event not consumed")
	}

	byName := map[string]sdktrace.ReadOnlySpan{}
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, s := range rec.Ended() {
			byName[s.Name()] = s
		}
		return len(byName) >= 3
	}, "request, publish and process spans")
	pub, proc := byName["publish "+e.ns+"crm.svc.lead_created"], byName["process "+e.ns+"crm.svc.lead_created"]
	if pub == nil || proc == nil {
		t.Fatalf("spans = %v", keys(byName))
	}
	if pub.Parent().SpanID() != req.SpanContext().SpanID() || pub.SpanContext().TraceID() != req.SpanContext().TraceID() ||
		pub.SpanKind() != trace.SpanKindProducer {
		t.Errorf("publish span %v, parent %v: want a producer child of the request %v", pub.SpanContext(), pub.Parent(), req.SpanContext())
	}
	if proc.Parent().SpanID() != pub.SpanContext().SpanID() || proc.SpanContext().TraceID() != req.SpanContext().TraceID() ||
		proc.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("process span parent %v: want a consumer child of publish %v", proc.Parent(), pub.SpanContext())
	}
	if inHandler.SpanID() != proc.SpanContext().SpanID() {
		t.Errorf("handler runs in span %v, want the process span", inHandler.SpanID())
	}
	var headers []byte
	if err := e.pool.QueryRow(ctx, `SELECT headers FROM outbox WHERE event_type = 'crm.events.v1.LeadUpdated'`).Scan(&headers); err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	_ = json.Unmarshal(headers, &h)
	if want := "00-" + proc.SpanContext().TraceID().String() + "-" + proc.SpanContext().SpanID().String() + "-01"; h["traceparent"] != want {
		t.Errorf("next event's traceparent = %q, want %q", h["traceparent"], want)
	}
}

func keys(m map[string]sdktrace.ReadOnlySpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
