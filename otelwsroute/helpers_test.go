package otelwsroute_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/leakcheck"
	"github.com/wsroute/wsroute/otelwsroute"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestMain fails the run if a goroutine of wsroute, coder/websocket, a
// broker adapter or its client is still alive once every test has shut its
// Routers down.
func TestMain(m *testing.M) {
	if arg := os.Getenv(clientEnv); arg != "" {
		os.Exit(benchClientMain(arg))
	}
	code := m.Run()
	if code == 0 {
		if left := leakcheck.Matching(10*time.Second, leaked); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// leaked matches the goroutines that must be gone after the tests: the
// library's, and the broker adapters' with the engine clients' subscription
// readers (go-redis starts and stops other goroutines by itself).
func leaked(stack string) bool {
	if strings.Contains(stack, "testing.tRunner(") || strings.Contains(stack, "testing.(*M).") {
		return false
	}
	for _, f := range []string{
		"github.com/wsroute/wsroute.", "github.com/wsroute/wsroute/internal/", "github.com/wsroute/wsroute/wsroutetest.",
		"github.com/wsroute/wsroute/otelwsroute.", "github.com/coder/websocket.",
		"brokers/redisbroker.", "brokers/natsbroker.", "github.com/redis/go-redis/v9.(*PubSub)", "github.com/nats-io/nats.go.",
		"go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor)",
	} {
		if strings.Contains(stack, f) {
			return true
		}
	}
	return false
}

// tel is a test's OpenTelemetry: spans recorded, metrics read on demand.
type tel struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	obs    *wsroute.Observer
}

func newTel(t testing.TB, cfg otelwsroute.Config) *tel {
	t.Helper()
	tl := &tel{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tl.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tl.spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tl.reader))
	t.Cleanup(func() {
		_ = tl.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	cfg.TracerProvider, cfg.MeterProvider = tl.tp, mp
	if cfg.Propagator == nil {
		cfg.Propagator = propagation.TraceContext{}
	}
	obs, err := otelwsroute.New(cfg)
	require.NoError(t, err)
	tl.obs = obs
	return tl
}

// ended returns the ended spans named name.
func (tl *tel) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tl.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// waitEnded waits up to 10s for n ended spans named name and returns them.
func (tl *tel) waitEnded(t testing.TB, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := tl.ended(name)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans %q ended within 10s, want %d; ended: %v", len(got), name, n, names(tl.spans.Ended()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

// attrs returns a span's attributes as a map.
func attrs(kv []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kv))
	for _, a := range kv {
		m[string(a.Key)] = a.Value.AsInterface()
	}
	return m
}

// collect reads the metrics.
func (tl *tel) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tl.reader.Collect(context.Background(), &rm))
	return rm
}

// find returns the metric named name.
func find(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// points returns an int sum's data points as "k=v,k=v" → value, the keys
// sorted.
func points(t testing.TB, rm metricdata.ResourceMetrics, name string) map[string]int64 {
	t.Helper()
	m, ok := find(rm, name)
	if !ok {
		return nil
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		out[label(dp.Attributes)] = dp.Value
	}
	return out
}

// counts returns a histogram's counts and sums by attributes.
func counts(t testing.TB, rm metricdata.ResourceMetrics, name string) (map[string]uint64, map[string]float64) {
	t.Helper()
	m, ok := find(rm, name)
	require.True(t, ok, "no metric %s", name)
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	n, s := map[string]uint64{}, map[string]float64{}
	for _, dp := range h.DataPoints {
		n[label(dp.Attributes)] = dp.Count
		s[label(dp.Attributes)] = dp.Sum
	}
	return n, s
}

func label(set attribute.Set) string {
	var parts []string
	for _, kv := range set.ToSlice() { // sorted by key
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

// newRouter returns a Router shut down when the test ends.
func newRouter(t testing.TB, opts wsroute.Options) *wsroute.Router {
	t.Helper()
	r := wsroute.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
	})
	return r
}
