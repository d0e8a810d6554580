package wsroute

// Benchmarks of the message lifecycle without a network: the whole dispatch of
// one frame (BenchmarkDispatch), its stages alone (BenchmarkStage), and a
// hand-written echo's work per message (BenchmarkRawReference) for
// proportion. The load test over real sockets is bench/wsload.
//
//	go test -run='^$' -bench='Dispatch|Stage|RawReference' -benchmem .

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/frame"
	"github.com/wsroute/wsroute/internal/schema"
	"github.com/wsroute/wsroute/internal/transport"
)

var (
	// benchTitle is the 100-character title of the benchmark frame.
	benchTitle = strings.Repeat("0123456789", 10)
	// benchFrame is the message every benchmark handles.
	benchFrame = []byte(`{"action":"echo","ref":12345,"title":"` + benchTitle + `"}`)
)

// benchSchema is the schema of the schema variants.
const benchSchema = `{"type":"object","properties":{"title":{"type":"string","maxLength":200}},"required":["title"],"additionalProperties":false}`

type (
	// benchUser is the session of the benchmark channel.
	benchUser struct {
		ID     string
		Banned bool
	}
	// benchEchoIn is the echo route's input.
	benchEchoIn struct {
		Title string `json:"title"`
	}
	// benchEchoOut is the echo route's output; the library adds action and ref.
	benchEchoOut struct {
		Title string `json:"title"`
	}
	// benchRawMsg is what a hand-written echo server decodes and encodes
	// (bench/wsload's raw server uses the same shape).
	benchRawMsg struct {
		Action string      `json:"action"`
		Ref    json.Number `json:"ref"`
		Title  string      `json:"title"`
	}
)

// benchNotBanned is the route's one session-based permission.
func benchNotBanned(_ context.Context, c *Channel, _ *Message) error {
	if u, ok := SessionAs[benchUser](c); !ok || u.Banned {
		return errForbidden
	}
	return nil
}

// benchEcho is the typed handler: it returns the title.
func benchEcho(_ context.Context, _ *Channel, in benchEchoIn) (benchEchoOut, error) {
	return benchEchoOut(in), nil
}

// benchEnv is an open channel on an in-memory pipe whose client end the
// benchmark reads.
type benchEnv struct {
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
	// A closed loop far above an interactive client's rate: a limit this
	// high never refuses, but its bucket still runs per message.
	r := New(Options{Limits: Limits{RateLimit: RateLimit{Rate: 1e9, Burst: 1e9}}})
	cr := r.Channel("/echo", ChannelConfig{Authenticator: TokenAuth{
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
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "d3Nyb3V0ZS1iZW5jaC1rIQ=="} {
		req.Header.Set(k, v)
	}
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
	return &benchEnv{cr: cr, c: hook.Channel.(*Channel), client: client}
}

// readReply reads the next frame the channel sent and, when check is set,
// fails b unless it is the echo reply to benchFrame.
func (env *benchEnv) readReply(b *testing.B, check bool) {
	typ, data, err := env.client.Read(context.Background())
	if err != nil || !check {
		if err != nil {
			b.Fatal(err)
		}
		return
	}
	var got struct {
		Action, Title string
		Ref           json.Number
		Error         json.RawMessage
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
			env.c.handle(inFrame{data: benchFrame}, &runner{})
			env.readReply(b, true)
			b.ReportAllocs()
			for b.Loop() {
				env.c.handle(inFrame{data: benchFrame}, &runner{})
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
				if err := c.run(c.ctx, rt, m); err != nil || m.reply == nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-e2e", func(b *testing.B) {
			env := newBenchEnv(b, withSchema)
			ctx := context.Background()
			if err := env.client.Write(ctx, websocket.MessageText, benchFrame); err != nil {
				b.Fatal(err)
			}
			env.readReply(b, true)
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
// frame and channel as BenchmarkDispatch, plus the push to the writer.
func BenchmarkStage(b *testing.B) {
	env := newBenchEnv(b, false)
	cr, c := env.cr, env.c
	ctx := c.ctx
	rt := cr.routes["echo"]
	newMsg := func() *Message {
		return &Message{cr: cr, route: rt, data: benchFrame, f: frame.Parse(benchFrame, cr.cfg.RouteKey, cr.cfg.RefKey)}
	}
	sch := SchemaString(benchSchema).mustCompile("bench", cr.cfg.RouteKey, cr.cfg.RefKey)
	decoded, err := schema.Decode(benchFrame)
	if err != nil {
		b.Fatal(err)
	}
	input := decoded.(map[string]any)
	delete(input, cr.cfg.RouteKey)
	delete(input, cr.cfg.RefKey)
	inPlan := inputPlanFor[benchEchoIn]("bench", cr.keys, false)
	guard := newKeyGuard(reflect.TypeFor[benchEchoIn](), false, 0)
	outPlan := outputPlanFor[benchEchoOut]("bench", cr.cfg.RouteKey, cr.cfg.RefKey)
	handler := benchEcho // called through a func value, as the route does
	m := newMsg()
	if err := m.setReply(benchEchoOut{Title: benchTitle}, outPlan); err != nil {
		b.Fatal(err)
	}
	reply := m.reply
	failed := errors.New("unexpected result")

	stages := []struct {
		name string
		op   func() error
	}{
		{"classify", func() error { // frame.Parse + route lookup
			m := Message{cr: cr, data: benchFrame, f: frame.Parse(benchFrame, cr.cfg.RouteKey, cr.cfg.RefKey)}
			if got, err := cr.classify(&m); err != nil || got != rt {
				return cmp.Or(err, failed)
			}
			return nil
		}},
		{"auth", func() error { return authStage(ctx, c, nil, false) }},
		{"permissions", func() error { return permissionStage(ctx, c, m, benchNotBanned) }},
		{"validate", func() error { return validateStage(m, sch) }},
		{"keys", func() error { return keyStage(m, guard) }},
		{"validate-decode-any", func() error { _, err := schema.Decode(benchFrame); return err }},
		{"validate-jsonschema", func() error {
			if d := sch.Validate(input); d != nil {
				return failed
			}
			return nil
		}},
		{"decode", func() error {
			var v benchEchoIn
			if err := decodeInput(&inPlan, m, &v); err != nil || v.Title != benchTitle {
				return cmp.Or(err, failed)
			}
			return nil
		}},
		{"handler", func() error { _, err := handler(ctx, c, benchEchoIn{Title: benchTitle}); return err }},
		{"encode", func() error { out := benchEchoOut{Title: benchTitle}; return setTypedReply(m, &out, &outPlan) }},
		{"push", func() error { // push, the writer goroutine, the pipe, the client's read
			if err := c.push(outFrame{data: reply}, false); err != nil {
				return err
			}
			_, _, err := env.client.Read(context.Background())
			return err
		}},
		{"run", func() error { return c.run(c.ctx, rt, newMsg()) }}, // the route's chain: auth … encode
	}
	for _, st := range stages {
		b.Run(st.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := st.op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if !bytes.Contains(m.reply, []byte(`"ref":12345`)) {
		b.Fatalf("bad reply %s", m.reply)
	}
}

// BenchmarkRawReference is what a hand-written server does per message minus
// the network: json.Unmarshal into a struct and json.Marshal of the reply.
func BenchmarkRawReference(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var m benchRawMsg
		if err := json.Unmarshal(benchFrame, &m); err != nil {
			b.Fatal(err)
		}
		out, err := json.Marshal(benchRawMsg{Action: m.Action, Ref: m.Ref, Title: m.Title})
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}
