// Package logger builds the structured logger every app uses.
package logger

import (
	"context"
	"log/slog"
	"os"
	"strings"
)

// New returns a JSON slog logger that tags every record with the Dapr app id. LOG_LEVEL (debug, info, warn,
// error) sets the level; LOG_FORMAT=text switches to the human-readable format.
func New(appID string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(os.Stdout, opts)
	if strings.EqualFold(os.Getenv("LOG_FORMAT"), "text") {
		h = slog.NewTextHandler(os.Stdout, opts)
	}
	return slog.New(contextHandler{h}).With("app", appID)
}

type ctxKey struct{}

// WithAttrs returns a context whose log records carry attrs (for example the request id and tenant).
func WithAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	return context.WithValue(ctx, ctxKey{}, append(append([]slog.Attr(nil), prev...), attrs...))
}

// contextHandler adds the attributes stored by WithAttrs to each record logged with a context.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(ctxKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
