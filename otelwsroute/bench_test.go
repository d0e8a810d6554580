package otelwsroute_test

// BenchmarkMessage measures the cost of the observer per message: the same
// Router and echo route, observer off and on (SDK TracerProvider with
// AlwaysSample and a batcher on a no-op exporter; SDK MeterProvider with a
// ManualReader), through an in-memory connection (wsroutetest) and a real
// loopback WebSocket. Frames go in windows of 32 so the channel is never
// idle. Besides ns/op it reports cpu-ns/op: the process's CPU time (user
// and system, every goroutine: the Router, the client, the span batcher)
// per message.
//
//	go test -run='^$' -bench=Message -benchmem -count=6 ./otelwsroute/

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/otelwsroute"
	"github.com/wsroute/wsroute/wsroutetest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const benchWindow = 32

var benchTitle = strings.Repeat("0123456789", 10)

type benchIn struct {
	Title string `json:"title"`
}

// benchRouter is the Router of both variants: one channel, one echo route.
func benchRouter(b *testing.B, obs *wsroute.Observer) *wsroute.Router {
	// No rate limit: the benchmark floods on purpose.
	r := newRouter(b, wsroute.Options{Observer: obs, Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{Rate: -1}}})
	ch := r.Channel("/bench", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in benchIn) (benchIn, error) {
		return in, nil
	}, wsroute.RouteConfig{Public: true})
	return r
}

// benchObserver is the observer of the "on" variant.
func benchObserver(b *testing.B) *wsroute.Observer {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	obs, err := otelwsroute.New(otelwsroute.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	return obs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// frames are the benchmark's frames, one per ref in a window.
var benchFrames = func() [benchWindow]string {
	var f [benchWindow]string
	for i := range f {
		f[i] = `{"action":"echo","ref":` + strconv.Itoa(i) + `,"title":"` + benchTitle + `"}`
	}
	return f
}()

func BenchmarkMessage(b *testing.B) {
	for _, transport := range []string{"memory", "loopback"} {
		for _, variant := range []string{"off", "on"} {
			b.Run(transport+"/"+variant, func(b *testing.B) {
				var obs *wsroute.Observer
				if variant == "on" {
					obs = benchObserver(b)
				}
				r := benchRouter(b, obs)
				if transport == "memory" {
					benchMemory(b, r)
				} else {
					benchLoopback(b, r)
				}
			})
		}
	}
}

// run sends b.N frames in windows through send and recv, timing the CPU.
func run(b *testing.B, send func(string) error, recv func() error) {
	// Warm up: caches of the observer, pools of the Router.
	for i := range benchWindow {
		if err := send(benchFrames[i]); err != nil {
			b.Fatal(err)
		}
	}
	for range benchWindow {
		if err := recv(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for done := 0; done < b.N; {
		n := min(benchWindow, b.N-done)
		for i := range n {
			if err := send(benchFrames[i]); err != nil {
				b.Fatal(err)
			}
		}
		for range n {
			if err := recv(); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

func benchMemory(b *testing.B, r *wsroute.Router) {
	c := wsroutetest.MustDial(b, r, "/bench", nil)
	ctx := context.Background()
	run(b, c.SendText, func() error { _, err := c.Read(ctx); return err })
}

func benchLoopback(b *testing.B, r *wsroute.Router) {
	srv := httptest.NewServer(r)
	b.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	run(b, func(s string) error { return c.Write(ctx, websocket.MessageText, []byte(s)) },
		func() error { _, _, err := c.Read(ctx); return err })
}
