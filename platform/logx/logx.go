// Package logx builds the structured logger every process uses.
package logx

import (
	"log/slog"
	"os"
	"strings"
)

// New returns a logger writing JSON (or text, for people at a terminal) to
// stderr at level ("debug", "info", "warn", "error"), tagged with service.
func New(service, level, format string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if strings.EqualFold(format, "text") {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	return slog.New(h).With("service", service)
}
