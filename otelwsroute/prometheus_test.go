package otelwsroute_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/otelwsroute"
	"github.com/wsroute/wsroute/wsroutetest"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestPrometheus: through the Prometheus exporter the metrics come out
// with the names and units a scrape expects.
func TestPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	obs, err := otelwsroute.New(otelwsroute.Config{TracerProvider: noop.NewTracerProvider(), MeterProvider: mp})
	require.NoError(t, err)
	r := newRouter(t, wsroute.Options{Observer: obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "x", func(context.Context, *wsroute.Channel, struct{}) (any, error) { return nil, nil },
		wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"x"}`))
	_, err = c.Read(t.Context())
	require.NoError(t, err)

	want := []string{
		`wsroute_channels_open{wsroute_channel="/c"} 1`,
		`wsroute_messages_total{wsroute_channel="/c",wsroute_code="ok",wsroute_route="x"} 1`,
		`wsroute_message_bytes_in_total{wsroute_channel="/c",wsroute_route="x"} 14`,
		`wsroute_message_duration_seconds_count{wsroute_channel="/c",wsroute_route="x"} 1`,
	}
	scrape := func() string {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		var buf bytes.Buffer
		for _, mf := range mfs {
			require.NoError(t, expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain)).Encode(mf))
		}
		return buf.String()
	}
	// The reply goes out before OnMessage records the message (it counts
	// the reply's bytes): scrape until it has, as Prometheus would again.
	var text string
	assert.Eventually(t, func() bool {
		text = scrape()
		for _, line := range want {
			if !strings.Contains(text, line+"\n") {
				return false
			}
		}
		return true
	}, 5*time.Second, 5*time.Millisecond)
	for _, line := range want {
		assert.Contains(t, text, line+"\n")
	}
	if t.Failed() {
		t.Log(text)
	}
}
