package otelwsroute

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// NewLogHandler returns a slog.Handler that passes records to h, adding the
// attributes trace_id and span_id (hex) when the record's context carries a
// valid span context — a handler's context under New's observer, say. The
// ids stay at the top level of the record even under WithGroup. h must not
// be nil.
func NewLogHandler(h slog.Handler) slog.Handler { return &logHandler{h: h, base: h} }

// logHandler wraps h. base is h before its first WithGroup, and steps
// replays on base what came after, so that the ids can be added outside
// the groups.
type logHandler struct {
	h     slog.Handler
	base  slog.Handler
	steps []func(slog.Handler) slog.Handler
}

func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return l.h.Handle(ctx, r)
	}
	ids := [2]slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
	if len(l.steps) == 0 {
		r = r.Clone()
		r.AddAttrs(ids[:]...)
		return l.h.Handle(ctx, r)
	}
	h := l.base.WithAttrs(ids[:])
	for _, step := range l.steps {
		h = step(h)
	}
	return h.Handle(ctx, r)
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return l
	}
	if len(l.steps) == 0 {
		h := l.h.WithAttrs(attrs)
		return &logHandler{h: h, base: h}
	}
	return l.then(l.h.WithAttrs(attrs), func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return l
	}
	return l.then(l.h.WithGroup(name), func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (l *logHandler) then(h slog.Handler, step func(slog.Handler) slog.Handler) *logHandler {
	steps := append(l.steps[:len(l.steps):len(l.steps)], step)
	return &logHandler{h: h, base: l.base, steps: steps}
}
