package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestMetricsEndpoint runs the demo with -metrics, talks to it over a real
// socket, then scrapes /metrics and parses it with Prometheus's own text
// parser: the wsroute metrics are there, with the counts of what was done.
func TestMetricsEndpoint(t *testing.T) {
	tel, err := newTelemetry(t.Context(), true, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.close(context.Background()) })
	a, h := newAppWith(slog.New(slog.DiscardHandler), nil, tel)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, a.router.Shutdown(context.Background()))
	})
	ctx := timeout(t)
	c := dial(t, ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/todos", nil)
	read(t, ctx, c) // {"connected":true,...}
	roundTrip(t, ctx, c, `{"action":"auth","token":"alice-token"}`)
	roundTrip(t, ctx, c, `{"action":"create","title":"milk"}`)
	roundTrip(t, ctx, c, `{"action":"create","title":""}`) // invalid
	roundTrip(t, ctx, c, `{"action":"nope"}`)              // the default handler echoes it
	require.Equal(t, 1, a.router.Len())
	c.CloseRead(context.Background()) // answers the server's close frame
	// The observer is told about a message after its reply is queued:
	// Shutdown returns once every handler and observer call is done.
	require.NoError(t, a.router.Shutdown(ctx))

	res, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	require.NoError(t, err)

	count := func(name string, labels map[string]string) float64 {
		t.Helper()
		mf, ok := families[name]
		require.True(t, ok, "no %s in /metrics", name)
		total := 0.0
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if label(m, k) != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return total
	}
	assert.Equal(t, 0.0, count("wsroute_channels_open", map[string]string{"wsroute_channel": "todos"}), "opened, then closed by Shutdown")
	assert.Equal(t, 1.0, count("wsroute_closes_total", map[string]string{"wsroute_channel": "todos", "wsroute_close_reason": "server shutdown"}))
	assert.Equal(t, 1.0, count("wsroute_messages_total", map[string]string{"wsroute_route": "create", "wsroute_code": "ok"}))
	assert.Equal(t, 1.0, count("wsroute_messages_total", map[string]string{"wsroute_route": "create", "wsroute_code": "invalid"}))
	assert.Equal(t, 1.0, count("wsroute_messages_total", map[string]string{"wsroute_route": "auth", "wsroute_code": "ok"}))
	assert.Equal(t, 1.0, count("wsroute_messages_total", map[string]string{"wsroute_route": "(default)"}))
	assert.Equal(t, 4.0, count("wsroute_message_duration_seconds", map[string]string{"wsroute_channel": "todos"}))
	assert.Positive(t, count("wsroute_message_bytes_in_total", nil))
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestTelemetryOff: without -metrics and -otlp nothing is installed and
// /metrics is not served.
func TestTelemetryOff(t *testing.T) {
	tel, err := newTelemetry(t.Context(), false, "")
	require.NoError(t, err)
	assert.Nil(t, tel.observer)
	a, h := newAppWith(slog.New(slog.DiscardHandler), nil, tel)
	t.Cleanup(func() { require.NoError(t, a.router.Shutdown(context.Background())) })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

// TestOTLPTraces runs the demo with -otlp pointed at a loopback HTTP server
// that decodes what the real OTLP/HTTP exporter posts: the spans of the
// opening and of each message arrive, and logs carry their trace ids.
func TestOTLPTraces(t *testing.T) {
	var mu sync.Mutex
	var spans []*tracepb.Span
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.URL.Path != "/v1/traces" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				spans = append(spans, ss.GetSpans()...)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer collector.Close()

	tel, err := newTelemetry(t.Context(), false, collector.URL+"/v1/traces")
	require.NoError(t, err)
	var logs strings.Builder
	var logMu sync.Mutex
	logger := slog.New(tel.logHandler(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a, h := newAppWith(logger, nil, tel)
	srv := httptest.NewServer(h)
	ctx := timeout(t)
	c := dial(t, ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/todos", nil)
	read(t, ctx, c)
	roundTrip(t, ctx, c, `{"action":"auth","token":"alice-token"}`)
	roundTrip(t, ctx, c, `{"action":"create","title":"milk"}`)
	_ = c.CloseNow()
	srv.Close()
	require.NoError(t, a.router.Shutdown(context.Background()))
	require.NoError(t, tel.close(context.Background())) // flushes the batch to the collector

	mu.Lock()
	defer mu.Unlock()
	var names []string
	for _, s := range spans {
		names = append(names, s.GetName())
	}
	assert.Contains(t, names, "open todos")
	assert.Contains(t, names, "todos auth")
	assert.Contains(t, names, "todos create")
	logMu.Lock()
	defer logMu.Unlock()
	assert.Contains(t, logs.String(), `"trace_id"`, "the message log lines carry the span's ids")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
