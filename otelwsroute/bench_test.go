package otelwsroute_test

// BenchmarkMessage measures the cost of the observer per message: the same
// Router and echo route, observer off and on (SDK TracerProvider with
// AlwaysSample and a batcher on a no-op exporter; SDK MeterProvider with a
// ManualReader), and on with a 1% ratio sampler, through an in-memory
// connection (wsroutetest) and a real loopback WebSocket whose client runs
// in another process. Frames go in windows of 32 so the channel is never
// idle. Besides ns/op it reports cpu-ns/op: the process's CPU time (user
// and system, every goroutine: the Router, the span batcher, and in memory
// the client's few calls) per message.
//
//	go test -run='^$' -bench=Message -benchmem -count=6 ./otelwsroute/

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
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
func benchObserver(b *testing.B, sampler sdktrace.Sampler) *wsroute.Observer {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler),
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
		for _, variant := range []string{"off", "on", "on-sampled-1pct"} {
			b.Run(transport+"/"+variant, func(b *testing.B) {
				var obs *wsroute.Observer
				switch variant {
				case "on":
					obs = benchObserver(b, sdktrace.AlwaysSample())
				case "on-sampled-1pct":
					obs = benchObserver(b, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))
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
	if err := window(benchWindow, send, recv); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	if err := window(b.N, send, recv); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// window sends n frames in windows of benchWindow, reading the replies of
// each before the next.
func window(n int, send func(string) error, recv func() error) error {
	for done := 0; done < n; {
		k := min(benchWindow, n-done)
		for i := range k {
			if err := send(benchFrames[i]); err != nil {
				return err
			}
		}
		for range k {
			if err := recv(); err != nil {
				return err
			}
		}
		done += k
	}
	return nil
}

func benchMemory(b *testing.B, r *wsroute.Router) {
	c := wsroutetest.MustDial(b, r, "/bench", nil)
	ctx := context.Background()
	run(b, c.SendText, func() error { _, err := c.Read(ctx); return err })
}

// benchLoopback serves r over loopback TCP to a client in another process
// (this test binary, run by benchClientMain), so that the CPU time measured
// is the server's alone. allocs/op and B/op are the server's too.
func benchLoopback(b *testing.B, r *wsroute.Router) {
	srv := httptest.NewServer(r)
	b.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), clientEnv+"="+"ws"+strings.TrimPrefix(srv.URL, "http")+"/bench "+strconv.Itoa(b.N))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		b.Fatalf("the client process did not start: %q %v", lines.Text(), lines.Err())
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		b.Fatal(err)
	}
	if !lines.Scan() || lines.Text() != "done" {
		b.Fatalf("the client process failed: %q %v", lines.Text(), lines.Err())
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	_ = in.Close()
}

// clientEnv makes the test binary a benchmark client: "URL N".
const clientEnv = "OTELWSROUTE_BENCH_CLIENT"

// benchClientMain is the client process of benchLoopback: it dials, warms
// up, says "ready", waits for "go", sends N frames in windows reading every
// reply, says "done" and exits. It returns the exit code.
func benchClientMain(arg string) int {
	u, ns, _ := strings.Cut(arg, " ")
	n, err := strconv.Atoi(ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench client:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench client:", err)
		return 1
	}
	defer c.CloseNow()
	send := func(s string) error { return c.Write(ctx, websocket.MessageText, []byte(s)) }
	recv := func() error { _, _, err := c.Read(ctx); return err }
	if err := window(benchWindow, send, recv); err != nil {
		fmt.Fprintln(os.Stderr, "bench client:", err)
		return 1
	}
	fmt.Println("ready")
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || line != "go\n" {
		return 1
	}
	if err := window(n, send, recv); err != nil {
		fmt.Fprintln(os.Stderr, "bench client:", err)
		return 1
	}
	fmt.Println("done")
	_ = c.Close(websocket.StatusNormalClosure, "")
	return 0
}
