//go:build unix

package serverless_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/coder/websocket"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/servicetest"
	"github.com/wsroute/wsroute/serverless"
	"github.com/wsroute/wsroute/serverless/apigw"
)

// BenchmarkMessage measures the per-message cost of the serverless path
// against the long-lived one, for the same Router and echo route, over one
// real coder/websocket client connection on loopback, closed loop (one
// frame in flight: send, read the reply, repeat):
//
//   - longlived: the Router serves the socket itself (wsroute's usual path:
//     reader, worker, writer of a live channel);
//   - serverless/memory and serverless/redis: the apigw Emulator receives
//     the frame and invokes the Lambda Handler in process, which reads the
//     channel's state from the store, runs HandleDetached, writes the state
//     back (Update) and posts the reply through the Management API (a
//     SigV4-signed HTTP POST the Emulator verifies and forwards to the
//     socket). The Redis variant needs Redis (WSROUTE_REDIS_ADDR or
//     127.0.0.1:6379) and is skipped without it unless CI is set.
//
// Every variant runs client and server in this process; ns/op is the
// round-trip latency, cpu-ns/op the CPU of the whole process (user and
// system, client included) per message, allocs/op and B/op the Go heap's
// (Redis's own CPU is not counted).
//
//	go test -run='^$' -bench=. -benchmem -count=3 ./serverless/
func BenchmarkMessage(b *testing.B) {
	b.Run("longlived", func(b *testing.B) {
		r := benchRouter(b, nil)
		mux := http.NewServeMux()
		mux.Handle("/bench", r)
		srv := httptest.NewServer(mux)
		b.Cleanup(srv.Close)
		benchLoop(b, "ws"+strings.TrimPrefix(srv.URL, "http")+"/bench")
	})
	b.Run("serverless/memory", func(b *testing.B) {
		benchServerless(b, serverless.NewMemoryStore())
	})
	b.Run("serverless/redis", func(b *testing.B) {
		benchNeedRedis(b)
		s, err := serverless.NewRedisStore(serverless.RedisStoreOptions{Addr: redisAddr(), Prefix: uniquePrefix(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		benchServerless(b, s)
	})
	// Where the serverless path's cost goes, without sockets: the core's
	// detached message lifecycle alone, then the Lambda handler (store
	// round trips and the adapter) with a Poster that posts nothing. The
	// rest of serverless/* is the emulator and the Management API's HTTP
	// POST with its SigV4 signing and verification.
	b.Run("parts/detached", func(b *testing.B) {
		r := benchRouter(b, nil)
		req := httptest.NewRequest(http.MethodGet, "/bench", nil)
		open := r.OpenDetached(req, "bench-id")
		if open.Status != 0 {
			b.Fatalf("open: %d %v", open.Status, open.Error)
		}
		ctx := context.Background()
		frame := []byte(benchFrame)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := benchCPUTime()
		for range b.N {
			res, err := r.HandleDetached(ctx, open.State, frame, false)
			if err != nil || len(res.Frames) != 1 {
				b.Fatalf("%v %d frames", err, len(res.Frames))
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(benchCPUTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("parts/handler/memory", func(b *testing.B) {
		benchHandler(b, serverless.NewMemoryStore())
	})
	b.Run("parts/handler/redis", func(b *testing.B) {
		benchNeedRedis(b)
		s, err := serverless.NewRedisStore(serverless.RedisStoreOptions{Addr: redisAddr(), Prefix: uniquePrefix(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		benchHandler(b, s)
	})
}

// benchPoster counts posts and sends nothing.
type benchPoster struct{ posts int }

func (p *benchPoster) Post(context.Context, string, []byte) error { p.posts++; return nil }
func (p *benchPoster) Delete(context.Context, string) error       { return nil }

// benchHandler invokes the Handler directly with $default events of one
// connection, its replies posted nowhere.
func benchHandler(b *testing.B, store serverless.ChannelStore) {
	poster := &benchPoster{}
	broker := serverless.NewBroker(store, poster)
	r := benchRouter(b, broker)
	h, err := serverless.NewHandler(serverless.Options{Router: r, Store: store, Poster: poster, Broker: broker})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ev := func(typ, key string) events.APIGatewayWebsocketProxyRequest {
		return events.APIGatewayWebsocketProxyRequest{Body: benchFrame, RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: "bench-id", EventType: typ, RouteKey: key, Stage: "bench"}}
	}
	if resp, err := h.Handle(ctx, ev("CONNECT", "$connect")); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("$connect: %d %v", resp.StatusCode, err)
	}
	b.Cleanup(func() { _, _ = h.Handle(context.Background(), ev("DISCONNECT", "$disconnect")) })
	msg := ev("MESSAGE", "$default")
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchCPUTime()
	for range b.N {
		if resp, err := h.Handle(ctx, msg); err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("message: %d %v", resp.StatusCode, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(benchCPUTime()-cpu)/float64(b.N), "cpu-ns/op")
	if poster.posts != b.N {
		b.Fatalf("%d replies posted, want %d", poster.posts, b.N)
	}
}

// benchIn is the echo route's input and output.
type benchIn struct {
	Title string `json:"title"`
}

const (
	benchFrame = `{"action":"echo","ref":1,"title":"buy milk and eggs"}`
	benchReply = `{"action":"echo","ref":1,"title":"buy milk and eggs"}`
)

// benchRouter is a Router with a public channel /bench whose public "echo"
// route returns its input (no session, so the cost is the path's alone); shut down when b ends.
func benchRouter(b *testing.B, broker wsroute.Broker) *wsroute.Router {
	// No rate limit: the long-lived channel's bucket would refuse a tight
	// loop, while every detached event starts with a full one.
	r := wsroute.New(wsroute.Options{Broker: broker, Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{Rate: -1}}})
	ch := r.Channel("/bench", wsroute.ChannelConfig{Name: "bench", Public: true})
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in benchIn) (benchIn, error) {
		return in, nil
	}, wsroute.RouteConfig{Public: true})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r
}

// benchServerless serves the Router through an Emulator (stage "bench")
// invoking a Handler on store, and runs the loop against it.
func benchServerless(b *testing.B, store serverless.ChannelStore) {
	creds := aws.Credentials{AccessKeyID: "AKIDBENCH", SecretAccessKey: "bench-secret"}
	srv := httptest.NewUnstartedServer(nil)
	poster, err := apigw.NewManagementClient(apigw.ManagementOptions{
		Endpoint:    "http://" + srv.Listener.Addr().String() + "/bench",
		Credentials: apigw.StaticCredentials(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
	if err != nil {
		b.Fatal(err)
	}
	broker := serverless.NewBroker(store, poster)
	r := benchRouter(b, broker)
	h, err := serverless.NewHandler(serverless.Options{Router: r, Store: store, Poster: poster, Broker: broker})
	if err != nil {
		b.Fatal(err)
	}
	emu, err := apigw.NewEmulator(apigw.EmulatorOptions{Handler: h.Handle, Stage: "bench", Credentials: &creds})
	if err != nil {
		b.Fatal(err)
	}
	srv.Config.Handler = emu
	srv.Start()
	b.Cleanup(func() { // after the client's close (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = emu.Shutdown(ctx)
		srv.Close()
	})
	benchLoop(b, "ws"+strings.TrimPrefix(srv.URL, "http")+"/bench")
}

// benchLoop dials url and sends b.N frames, one at a time, each after the
// previous reply.
func benchLoop(b *testing.B, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close(websocket.StatusNormalClosure, "") })
	frame := []byte(benchFrame)
	roundTrip := func() error {
		if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
			return err
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if string(got) != benchReply {
			b.Fatalf("reply %s, want %s", got, benchReply)
		}
		return nil
	}
	for range 100 { // warm up: connections of the Management client, pools, scripts
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchCPUTime()
	for range b.N {
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(benchCPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// benchNeedRedis skips b without Redis, or fails it when CI is set.
func benchNeedRedis(b *testing.B) { servicetest.Need(b, "Redis", redisAddr(), servicetest.RedisHint) }

// benchCPUTime is the CPU time (user and system) this process used so far.
func benchCPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
