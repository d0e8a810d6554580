package wsroute

// Benchmarks of the message lifecycle without a network: the whole dispatch
// of one frame (BenchmarkDispatch), each of its stages alone
// (BenchmarkStage), and what a hand-written echo server does per message
// (BenchmarkRawReference) to put the numbers in proportion. The load test
// over real sockets is bench/wsload.
//
//	go test -run='^$' -bench='Dispatch|Stage|RawReference' -benchmem .

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/frame"
	"github.com/wsroute/wsroute/internal/transport"
)

// benchTitle is the 100-character title of the benchmark frame.
var benchTitle = strings.Repeat("0123456789", 10)

// benchFrame is the message every benchmark handles.
var benchFrame = []byte(`{"action":"echo","ref":12345,"title":"` + benchTitle + `"}`)

// benchSchema is the schema of the schema variants.
const benchSchema = `{"type":"object","properties":{"title":{"type":"string","maxLength":200}},"required":["title"],"additionalProperties":false}`

// benchUser is the session of the benchmark channel.
type benchUser struct {
	ID     string
	Banned bool
}

// benchEchoIn is the echo route's input.
type benchEchoIn struct {
	Title string `json:"title"`
}

// benchEchoOut is the echo route's output.
type benchEchoOut struct {
	Title string `json:"title"`
}

// benchNotBanned is the route's one session-based permission.
func benchNotBanned(_ context.Context, c *Channel, _ *Message) bool {
	u, ok := SessionAs[benchUser](c)
	return ok && !u.Banned
}

// benchEcho is the typed handler: it returns the title.
func benchEcho(_ context.Context, _ *Channel, in benchEchoIn) (benchEchoOut, error) {
	return benchEchoOut(in), nil
}

// benchEnv is an open channel on an in-memory pipe whose client end the
// benchmark reads.
type benchEnv struct {
	r      *Router
	cr     *ChannelRoute
	c      *Channel
	client *transport.End
}

// newBenchEnv opens a channel "/echo?token=alice" (session required, set by
// TokenAuth) with the route "echo" (session required, one permission, the
// schema if withSchema) through the real open lifecycle, in memory. The
// channel's reader runs but sees no frame unless the benchmark writes one on
// the client end.
func newBenchEnv(b *testing.B, withSchema bool) *benchEnv {
	b.Helper()
	r := New(Options{})
	cr := r.Route("/echo", ChannelConfig{Authenticator: TokenAuth{
		Check: func(_ context.Context, c *Channel, token string) error {
			c.SetSession(benchUser{ID: token})
			return nil
		},
	}})
	cfg := RouteConfig{Permissions: benchNotBanned}
	if withSchema {
		cfg.Schema = SchemaString(benchSchema)
	}
	Handle(cr, "echo", benchEcho, cfg)

	server, client := transport.NewPipe()
	hook := &transport.Hook{Conn: server, Opened: make(chan struct{})}
	req := httptest.NewRequestWithContext(transport.WithHook(context.Background(), hook), http.MethodGet, "/echo?token=alice", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString([]byte("wsroute-bench-k!")))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.ServeHTTP(httptest.NewRecorder(), req)
	}()
	select {
	case <-hook.Opened:
	case <-done:
		b.Fatal("opening refused")
	case <-time.After(10 * time.Second):
		b.Fatal("opening timed out")
	}
	b.Cleanup(func() {
		_ = client.CloseNow()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return &benchEnv{r: r, cr: cr, c: hook.Channel.(*Channel), client: client}
}

// readReply reads the next frame the channel sent and, when check is set,
// verifies that it is the echo reply.
func (env *benchEnv) readReply(b *testing.B, check bool) {
	typ, data, err := env.client.Read(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if check {
		checkBenchReply(b, typ, data)
	}
}

// checkBenchReply fails b unless data is the echo reply to benchFrame.
func checkBenchReply(b *testing.B, typ websocket.MessageType, data []byte) {
	b.Helper()
	var got struct {
		Action string
		Ref    json.Number
		Title  string
		Error  json.RawMessage
	}
	if err := json.Unmarshal(data, &got); err != nil || typ != websocket.MessageText ||
		got.Action != "echo" || got.Ref != "12345" || got.Title != benchTitle || got.Error != nil {
		b.Fatalf("unexpected reply %s (%v)", data, err)
	}
}

// BenchmarkDispatch measures the whole message lifecycle of one frame on an
// open channel:
//
//   - no-schema, schema: Channel.handle (classify, route, auth, permission,
//     [validate,] decode, handler, encode, enqueue) plus the writer goroutine
//     writing the reply into the pipe, and reading it on the client end;
//   - *-pipeline: classify and the route's pipeline up to the encoded reply,
//     without enqueue and writer (pure CPU of the dispatch);
//   - *-e2e: the frame written on the client end, so the channel's reader,
//     inbound queue, worker and writer goroutines all take part, as on a
//     socket minus coder/websocket's framing.
func BenchmarkDispatch(b *testing.B) {
	for _, withSchema := range []bool{false, true} {
		name := "no-schema"
		if withSchema {
			name = "schema"
		}
		b.Run(name, func(b *testing.B) {
			env := newBenchEnv(b, withSchema)
			env.c.handle(benchFrame)
			env.readReply(b, true)
			b.ReportAllocs()
			for b.Loop() {
				env.c.handle(benchFrame)
				env.readReply(b, false)
			}
		})
		b.Run(name+"-pipeline", func(b *testing.B) {
			env := newBenchEnv(b, withSchema)
			cr, c := env.cr, env.c
			b.ReportAllocs()
			for b.Loop() {
				m := &Message{cr: cr, data: benchFrame, f: frame.Parse(benchFrame, cr.cfg.RouteKey, cr.cfg.RefKey)}
				rt, err := cr.classify(m)
				if err != nil {
					b.Fatal(err)
				}
				m.route = rt
				if err := c.run(rt, m); err != nil || m.reply == nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-e2e", func(b *testing.B) {
			env := newBenchEnv(b, withSchema)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := env.client.Write(ctx, websocket.MessageText, benchFrame); err != nil {
					b.Fatal(err)
				}
				env.readReply(b, false)
			}
		})
	}
}

// BenchmarkStage isolates each stage of the message lifecycle, on the same
// frame and channel as BenchmarkDispatch.
func BenchmarkStage(b *testing.B) {
	env := newBenchEnv(b, false)
	cr, c := env.cr, env.c
	ctx := c.ctx
	rt := cr.lookup("echo")
	newMsg := func() *Message {
		return &Message{cr: cr, route: rt, data: benchFrame, f: frame.Parse(benchFrame, cr.cfg.RouteKey, cr.cfg.RefKey)}
	}

	b.Run("classify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := Message{cr: cr, data: benchFrame, f: frame.Parse(benchFrame, cr.cfg.RouteKey, cr.cfg.RefKey)}
			if got, err := cr.classify(&m); err != nil || got != rt {
				b.Fatal(err)
			}
		}
	})
	b.Run("auth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := authStage(ctx, c, nil, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("permissions", func(b *testing.B) {
		m := newMsg()
		b.ReportAllocs()
		for b.Loop() {
			if err := permissionStage(ctx, c, m, benchNotBanned); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		sch := SchemaString(benchSchema).mustCompile("bench", cr.cfg.RouteKey, cr.cfg.RefKey)
		m := newMsg()
		b.ReportAllocs()
		for b.Loop() {
			if err := validateStage(m, sch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		plan := inputPlanFor[benchEchoIn]("bench", cr.cfg.RouteKey, cr.cfg.RefKey)
		m := newMsg()
		b.ReportAllocs()
		for b.Loop() {
			var v benchEchoIn
			if err := plan.decode(m, &v); err != nil || v.Title != benchTitle {
				b.Fatal(err)
			}
		}
	})
	b.Run("handler", func(b *testing.B) {
		fn := benchEcho // called through a func value, as the route does
		in := benchEchoIn{Title: benchTitle}
		b.ReportAllocs()
		for b.Loop() {
			if out, err := fn(ctx, c, in); err != nil || out.Title != benchTitle {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		plan := outputPlanFor[benchEchoOut]("bench", cr.cfg.RouteKey, cr.cfg.RefKey)
		m := newMsg()
		out := benchEchoOut{Title: benchTitle}
		b.ReportAllocs()
		for b.Loop() {
			if err := m.setReply(out, plan); err != nil {
				b.Fatal(err)
			}
		}
		if !bytes.Contains(m.reply, []byte(`"ref":12345`)) {
			b.Fatalf("bad reply %s", m.reply)
		}
	})
	b.Run("enqueue", func(b *testing.B) {
		m := newMsg()
		if err := m.setReply(benchEchoOut{Title: benchTitle}, outputPlan{trusted: true}); err != nil {
			b.Fatal(err)
		}
		reply := m.reply
		b.ReportAllocs()
		for b.Loop() {
			if err := c.enqueue(reply); err != nil {
				b.Fatal(err)
			}
			env.readReply(b, false)
		}
	})
	b.Run("run", func(b *testing.B) { // auth → permissions → decode → handler → encode, via the chain
		b.ReportAllocs()
		for b.Loop() {
			if err := c.run(rt, newMsg()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write-timeout-ctx", func(b *testing.B) { // what the writer adds per frame besides Write
		b.ReportAllocs()
		for b.Loop() {
			wctx, cancel := context.WithTimeout(context.Background(), c.router.opts.WriteTimeout)
			_ = wctx
			cancel()
		}
	})
}

// rawMsg is what a hand-written echo server decodes (bench/wsload's raw
// server uses the same shape).
type rawMsg struct {
	Action string      `json:"action"`
	Ref    json.Number `json:"ref"`
	Title  string      `json:"title"`
}

// BenchmarkRawReference is what a hand-written server does per message minus
// the network: json.Unmarshal into a struct and json.Marshal of the reply.
func BenchmarkRawReference(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var m rawMsg
		if err := json.Unmarshal(benchFrame, &m); err != nil {
			b.Fatal(err)
		}
		out, err := json.Marshal(rawMsg{Action: m.Action, Ref: m.Ref, Title: m.Title})
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}
