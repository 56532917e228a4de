package logx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestRecordsOfARecordingSpanCarryItsIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(WithTrace(slog.NewJSONHandler(&buf, nil))).With("service", "lead").WithGroup("g")
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background()) //nolint:errcheck
	ctx, span := tp.Tracer("test").Start(context.Background(), "call")
	log.InfoContext(ctx, "finished call", "code", "OK")
	span.End()
	var line struct {
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
		Service string `json:"service"`
		G       struct {
			TraceID string `json:"trace_id"`
			SpanID  string `json:"span_id"`
			Code    string `json:"code"`
		} `json:"g"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	// Record attributes land in the logger's open group, with the others.
	if line.Service != "lead" || line.G.Code != "OK" || line.G.TraceID != sc.TraceID().String() || line.G.SpanID != sc.SpanID().String() {
		t.Fatalf("line = %s", buf.Bytes())
	}

	// No span, or one that does not record (tracing off, or a remote
	// parent only): no ids.
	for _, ctx := range []context.Context{
		context.Background(),
		trace.ContextWithSpanContext(context.Background(), sc),
		func() context.Context { c, _ := noop.NewTracerProvider().Tracer("").Start(ctx, "x"); return c }(),
	} {
		buf.Reset()
		log.InfoContext(ctx, "x")
		if bytes.Contains(buf.Bytes(), []byte("trace_id")) {
			t.Errorf("line = %s", buf.Bytes())
		}
	}
}
