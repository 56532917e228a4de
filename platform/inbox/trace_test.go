package inbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/tracing"
)

// Events applied together in one batch transaction each stay in their own
// trace: each handler call runs in a process span that is a child of its
// message's context; the batch's span links them all.
func TestBatchedEventsKeepTheirOwnTraces(t *testing.T) {
	t.Parallel()
	otel.SetTextMapPropagator(tracing.Propagator())
	e := setup(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx := context.Background()
	parents := map[string]trace.SpanContext{} // by body
	for i := range 20 {
		body := fmt.Sprint(i)
		pctx, span := tp.Tracer("test").Start(ctx, "publish "+body)
		m := nats.NewMsg(e.ns + "crm.src.thing_happened")
		m.Data = []byte(body)
		m.Header.Set(events.HeaderMsgID, uuid.NewString())
		m.Header.Set(events.HeaderType, "test.ThingHappened")
		tracing.Inject(pctx, m.Header)
		span.End()
		parents[body] = span.SpanContext()
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]trace.SpanContext{}
	c := e.consumer(func(ctx context.Context, m inbox.Message) error {
		mu.Lock()
		seen[string(m.Data)] = trace.SpanContextFromContext(ctx)
		mu.Unlock()
		return e.recordEffect(ctx, m)
	})
	c.Batch, c.TracerProvider = 16, tp
	run(t, c)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(e.effects(t)) == 20 }, "20 effects")

	processed := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var batches []sdktrace.ReadOnlySpan
	testkit.Eventually(t, 5*time.Second, func() bool {
		clear(processed)
		batches = batches[:0]
		for _, s := range rec.Ended() {
			switch s.Name() {
			case "process " + e.ns + "crm.src.thing_happened":
				processed[s.SpanContext().SpanID()] = s
			case "process effects":
				batches = append(batches, s)
			}
		}
		return len(processed) == 20
	}, "a process span per event")
	mu.Lock()
	defer mu.Unlock()
	for body, parent := range parents {
		sc := seen[body]
		s := processed[sc.SpanID()]
		if s == nil || sc.TraceID() != parent.TraceID() || s.Parent().SpanID() != parent.SpanID() {
			t.Errorf("event %s handled in %v, want a process span under %v", body, sc, parent)
		}
	}
	if len(batches) == 0 {
		t.Fatal("no batch span: the events were not applied in batches")
	}
	for _, b := range batches {
		if len(b.Links()) < 2 || b.Parent().TraceID() != b.Links()[0].SpanContext.TraceID() {
			t.Errorf("batch span: parent %v, links %v", b.Parent(), b.Links())
		}
	}
}
