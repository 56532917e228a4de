package otlpsink

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestSinkTakesAnExportersSpans(t *testing.T) {
	for _, keep := range []bool{true, false} {
		s, err := Start(keep)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(s.Addr()), otlptracegrpc.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		pctx, parent := tp.Tracer("t").Start(ctx, "parent")
		_, child := tp.Tracer("t").Start(pctx, "child")
		child.End()
		parent.End()
		// The export fails when the sink answers badly.
		if err := exp.ExportSpans(ctx, rec.Ended()); err != nil {
			t.Fatal(err)
		}
		if err := exp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if keep {
			spans := s.Spans()
			if len(spans) != 2 || spans[0].Name != "child" || spans[0].ParentID != spans[1].SpanID || spans[1].ParentID != "" || s.Received() != 2 {
				t.Errorf("spans = %+v", spans)
			}
		} else if s.Bytes() == 0 || len(s.Spans()) != 0 {
			t.Errorf("discarding sink: %d bytes, %d spans kept", s.Bytes(), len(s.Spans()))
		}
		s.Close()
	}
}
