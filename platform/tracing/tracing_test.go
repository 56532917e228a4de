package tracing

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestTracingIsOffUnlessAnExporterIsConfigured(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		on   bool
		err  bool
	}{
		{name: "nothing set", env: map[string]string{}},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "traces endpoint over gRPC", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true},
		{name: "otlp exporter, default endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		{name: "SDK disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: true},
		{name: "unknown protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, err: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
				t.Setenv(k, c.env[k])
			}
			tp, shutdown, err := Setup(context.Background(), "lead", discard)
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			defer stop(shutdown)
			if on := tp != nil; on != c.on {
				t.Fatalf("tracing on = %v, want %v", on, c.on)
			}
			if c.on {
				_, span := tp.Tracer("t").Start(context.Background(), "x")
				defer span.End()
				ro, ok := span.(sdktrace.ReadOnlySpan)
				if !ok || !span.IsRecording() {
					t.Fatal("span not recorded")
				}
				if v, _ := ro.Resource().Set().Value("service.name"); v.AsString() != "lead" {
					t.Errorf("service.name = %q", v.AsString())
				}
			}
		})
	}
}

func TestServiceNameFromEnvironmentWins(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_SERVICE_NAME", "lead-canary")
	tp, shutdown, err := Setup(context.Background(), "lead", discard)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(shutdown)
	_, span := tp.Tracer("t").Start(context.Background(), "x")
	span.End()
	if v, _ := span.(sdktrace.ReadOnlySpan).Resource().Set().Value("service.name"); v.AsString() != "lead-canary" {
		t.Errorf("service.name = %q", v.AsString())
	}
}

// stop shuts a provider down without waiting for the export to the
// endpoint no one listens on.
func stop(shutdown func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = shutdown(ctx)
}

func TestNATSHeadersCarryTraceContext(t *testing.T) {
	otel.SetTextMapPropagator(Propagator())
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "x")
	defer span.End()
	h := nats.Header{}
	Inject(ctx, h)
	if h.Get("traceparent") == "" {
		t.Fatalf("headers = %v", h)
	}
	got := trace.SpanContextFromContext(Extract(context.Background(), h))
	if !got.IsRemote() || got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("extracted %v, want %v", got, span.SpanContext())
	}
}
