// Package tracing sets up OpenTelemetry tracing for a process of the
// suite (each service's main through platform/service, and the gateway's),
// and carries trace context across NATS messages.
//
// Tracing is configured by the standard OTEL_* environment variables and
// is off unless an exporter is asked for: with OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) unset and OTEL_TRACES_EXPORTER
// unset or "none", or with OTEL_SDK_DISABLED=true, Setup returns no
// provider and the process keeps OpenTelemetry's no-op tracer: spans are
// neither recorded nor exported, and incoming trace context is still passed
// on (the no-op span carries its parent's context), so a traced caller's
// trace continues through an untraced service.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the suite's trace context format: W3C trace context and
// baggage, in gRPC metadata, HTTP headers, outbox rows and NATS headers.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Setup installs the propagator and, when the environment asks for an
// exporter, a TracerProvider exporting to it in batches, as the global
// one; its resource names service (OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override). It returns that provider, or nil
// when tracing is off, and a shutdown that flushes the spans still queued
// (call it before exiting; it does nothing when tracing is off).
//
// The OTLP exporter reads the rest of its configuration itself:
// OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,PROTOCOL,HEADERS,TIMEOUT,INSECURE,
// CERTIFICATE,COMPRESSION}; the SDK reads OTEL_TRACES_SAMPLER[_ARG] and
// OTEL_BSP_*. Export errors go to log.
func Setup(ctx context.Context, service string, log *slog.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	otel.SetTextMapPropagator(Propagator())
	none := func(context.Context) error { return nil }
	exp, err := newExporter(ctx)
	if err != nil || exp == nil {
		return nil, none, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithFromEnv(),
	)
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES leaves a partial resource;
		// tracing still works.
		log.Warn("opentelemetry resource", "error", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("opentelemetry", "error", err) }))
	log.Info("tracing on", "exporter", "otlp", "protocol", protocol())
	return tp, tp.Shutdown, nil
}

// newExporter returns the span exporter the environment asks for, or nil
// when it asks for none.
func newExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	switch kind := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); kind {
	case "none":
		return nil, nil
	case "":
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
	case "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: want otlp or none", kind)
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch p := protocol(); p {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want grpc or http/protobuf", p)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	return exp, nil
}

// protocol is the OTLP protocol asked for; the specification's default is
// http/protobuf (port 4318), a collector's gRPC port is 4317.
func protocol() string {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return "http/protobuf"
}

// HeaderCarrier reads and writes trace context in NATS message headers.
// nats.Header keys are case-sensitive (unlike HTTP's), so the propagator's
// lower-case keys ("traceparent") are kept as they are.
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces the values of key.
func (c HeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns ctx with the trace context carried by h as its remote
// parent.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, HeaderCarrier(h))
}

// Inject writes the trace context of ctx into h.
func Inject(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, HeaderCarrier(h))
}
