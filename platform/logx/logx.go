// Package logx builds the structured logger every process uses.
package logx

import (
	"bufio"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// New returns a logger writing JSON (or text, for people at a terminal) to
// stderr at level ("debug", "info", "warn", "error"), tagged with service.
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
	return slog.New(h).With("service", service)
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
