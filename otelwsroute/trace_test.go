package otelwsroute_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/otelwsroute"
	"github.com/wsroute/wsroute/wsroutetest"
	"go.opentelemetry.io/otel/trace"
)

// TestFrameTraceContext: on a channel with a TraceKey, a frame that carries
// trace context makes the message span a child of the client's span (still
// linked to the open span); a frame without one starts a new root; a
// malformed one is ignored.
func TestFrameTraceContext(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	r := newRouter(t, wsroute.Options{Observer: tl.obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, TraceKey: "trace"})
	var handlerSaw []trace.SpanContext // the handler's goroutine, then read after Close
	wsroute.Handle(ch, "create", func(ctx context.Context, _ *wsroute.Channel, in struct {
		Title string `json:"title"`
	}) (any, error) {
		handlerSaw = append(handlerSaw, trace.SpanContextFromContext(ctx))
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	for _, f := range []string{
		`{"action":"create","ref":1,"trace":{"traceparent":"00-` + clientTrace + `-` + clientSpan + `-01"},"title":"milk"}`,
		`{"action":"create","ref":2,"title":"tea"}`,
		`{"action":"create","ref":3,"trace":{"traceparent":"00-garbage"},"title":"tea"}`,
	} {
		require.NoError(t, c.SendText(f))
	}
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.NoError(t, c.Close(1000, ""))

	open := tl.waitEnded(t, "open /c", 1)[0]
	spans := tl.waitEnded(t, "/c create", 3)
	child := spans[0]
	assert.Equal(t, clientTrace, child.SpanContext().TraceID().String(), "the message continues the client's trace")
	assert.Equal(t, clientSpan, child.Parent().SpanID().String())
	assert.True(t, child.Parent().IsRemote())
	require.Len(t, child.Links(), 1)
	assert.Equal(t, open.SpanContext(), child.Links()[0].SpanContext)
	require.Len(t, handlerSaw, 3)
	for i, s := range spans {
		assert.Equal(t, s.SpanContext(), handlerSaw[i], "the handler ran under the message span")
	}
	for _, s := range spans[1:] {
		assert.False(t, s.Parent().IsValid(), "without (valid) trace context: a new root")
		assert.NotEqual(t, open.SpanContext().TraceID(), s.SpanContext().TraceID())
		require.Len(t, s.Links(), 1)
		assert.Equal(t, open.SpanContext(), s.Links()[0].SpanContext)
	}
}

// TestFrameTraceContextOff: without a TraceKey the field is input, and the
// message span is a new root whatever the frame says.
func TestFrameTraceContextOff(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	r := newRouter(t, wsroute.Options{Observer: tl.obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
		return in, nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"echo","trace":{"traceparent":"00-`+clientTrace+`-`+clientSpan+`-01"}}`))
	_, err := c.Read(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Close(1000, ""))
	s := tl.waitEnded(t, "/c echo", 1)[0]
	assert.False(t, s.Parent().IsValid())
	assert.NotEqual(t, clientTrace, s.SpanContext().TraceID().String())
}

// TestSpanNameBounded: the message span is named after the route that took
// the frame, never after what the client sent.
func TestSpanNameBounded(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	r := newRouter(t, wsroute.Options{Observer: tl.obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "x", func(context.Context, *wsroute.Channel, struct{}) (any, error) { return nil, nil },
		wsroute.RouteConfig{Public: true})
	wsroute.HandleBinary(ch, func(context.Context, *wsroute.Channel, *wsroute.Message) ([]byte, error) { return nil, nil }, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"x"}`))
	require.NoError(t, c.SendText(`{"action":"random-1234"}`))
	require.NoError(t, c.SendText(`{"action":"x"}`))
	require.NoError(t, c.SendText(`not json`))
	require.NoError(t, c.SendBinary([]byte{1, 2, 3}))
	_, err := c.Received(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Close(1000, ""))
	var got []string
	for _, s := range tl.spans.Ended() {
		if s.SpanKind() == trace.SpanKindServer && s.Name() != "open /c" {
			got = append(got, s.Name())
		}
	}
	assert.Equal(t, []string{"/c x", "/c (default)", "/c x", "/c (default)", "/c (binary)"}, got)
}

// TestLogHandler: records logged under a span carry its ids at the top
// level, also through WithAttrs and WithGroup; others carry none.
func TestLogHandler(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	var buf bytes.Buffer
	log := slog.New(otelwsroute.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx, span := tl.tp.Tracer("test").Start(context.Background(), "op")
	sc := span.SpanContext()
	defer span.End()

	lines := func() []map[string]any {
		var out []map[string]any
		dec := json.NewDecoder(&buf)
		for dec.More() {
			var m map[string]any
			require.NoError(t, dec.Decode(&m))
			delete(m, "time")
			out = append(out, m)
		}
		buf.Reset()
		return out
	}
	ids := func(m map[string]any) map[string]any {
		m["trace_id"], m["span_id"] = sc.TraceID().String(), sc.SpanID().String()
		return m
	}

	log.InfoContext(ctx, "in", "a", 1)
	log.InfoContext(context.Background(), "out", "a", 1)
	log.Info("no context")
	assert.Equal(t, []map[string]any{
		ids(map[string]any{"level": "INFO", "msg": "in", "a": 1.0}),
		{"level": "INFO", "msg": "out", "a": 1.0},
		{"level": "INFO", "msg": "no context"},
	}, lines())

	l2 := log.With("svc", "chat").WithGroup("req").With("id", 7)
	l2.InfoContext(ctx, "grouped", "b", 2)
	l2.InfoContext(context.Background(), "grouped")
	log.With("svc", "chat").InfoContext(ctx, "attrs")
	assert.Equal(t, []map[string]any{
		ids(map[string]any{"level": "INFO", "msg": "grouped", "svc": "chat", "req": map[string]any{"id": 7.0, "b": 2.0}}),
		{"level": "INFO", "msg": "grouped", "svc": "chat", "req": map[string]any{"id": 7.0}},
		ids(map[string]any{"level": "INFO", "msg": "attrs", "svc": "chat"}),
	}, lines())

	// Levels pass through.
	quiet := slog.New(otelwsroute.NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	quiet.InfoContext(ctx, "dropped")
	assert.Empty(t, lines())
	assert.False(t, quiet.Handler().Enabled(ctx, slog.LevelInfo))
}

// TestLogHandlerInHandler: a route handler's logs carry its message span's
// ids.
func TestLogHandlerInHandler(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	var buf bytes.Buffer
	log := slog.New(otelwsroute.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	r := newRouter(t, wsroute.Options{Observer: tl.obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "x", func(ctx context.Context, _ *wsroute.Channel, _ struct{}) (any, error) {
		log.InfoContext(ctx, "handling")
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"x"}`))
	_, err := c.Read(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Close(1000, ""))
	s := tl.waitEnded(t, "/c x", 1)[0]
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
	assert.Equal(t, s.SpanContext().TraceID().String(), m["trace_id"])
	assert.Equal(t, s.SpanContext().SpanID().String(), m["span_id"])
}
