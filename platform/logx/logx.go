// Package logx builds the structured logger every process uses.
package logx

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// New returns a logger writing JSON (or text, for people at a terminal) to
// stderr at level ("debug", "info", "warn", "error"), tagged with service.
// Lines logged with a context whose span is recording carry its trace_id
// and span_id (WithTrace).
// Output is buffered and flushed every 100ms (and by Flush), so that a busy
// service does not pay a write system call per log line; a crash loses at
// most the last 100ms of lines.
func New(service, level, format string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(stderr(), opts)
	if strings.EqualFold(format, "text") {
		h = slog.NewTextHandler(stderr(), opts)
	}
	return slog.New(WithTrace(h)).With("service", service)
}

// WithTrace wraps h so that records logged with a context whose span is
// recording (tracing is on and the trace sampled) carry trace_id and
// span_id, to find a request's trace from its log lines and back.
func WithTrace(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		sc := span.SpanContext()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

// Flush writes out buffered log lines; call it before exiting.
func Flush() {
	if out != nil {
		out.flush()
	}
}

var (
	once sync.Once
	out  *bufferedWriter
)

func stderr() io.Writer {
	once.Do(func() {
		out = &bufferedWriter{w: bufio.NewWriterSize(os.Stderr, 64<<10)}
		go func() {
			for range time.Tick(100 * time.Millisecond) {
				out.flush()
			}
		}()
	})
	return out
}

type bufferedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedWriter) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}
