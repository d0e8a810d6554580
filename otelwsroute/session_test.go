package otelwsroute_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/otelwsroute"
	"github.com/wsroute/wsroute/wsroutetest"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

const (
	clientTrace = "0af7651916cd43dd8448eb211c80319c"
	clientSpan  = "b7ad6b7169203331"
)

// chatRouter is the Router of the scripted session: /chat with echo, fail
// (a refusal of the app's), boom (a handler error: internal), sub and pub;
// /private (refuses without a session), /broken (a middleware fails the
// opening: internal) and /flood (floods a client that does not read, with
// a small send queue). flooded receives the CloseInfo of /flood's channel.
func chatRouter(t *testing.T, obs *wsroute.Observer) (r *wsroute.Router, flooded chan wsroute.CloseInfo) {
	// flooded is told by an observer joined after obs: once it hears of the
	// close, obs has been told too.
	flooded = make(chan wsroute.CloseInfo, 1)
	r = newRouter(t, wsroute.Options{Observer: wsroute.JoinObservers(obs, &wsroute.Observer{
		OnClose: func(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
			if c.Name() == "/flood" {
				flooded <- info
			}
		}})})
	pub := wsroute.RouteConfig{Public: true}
	ch := r.Channel("/chat", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
		return in, nil
	}, pub)
	wsroute.Handle(ch, "fail", func(context.Context, *wsroute.Channel, struct{}) (any, error) {
		return nil, wsroute.NewError("teapot", "no")
	}, pub)
	wsroute.Handle(ch, "boom", func(context.Context, *wsroute.Channel, struct{}) (any, error) {
		return nil, errors.New("database down")
	}, pub)
	wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		return nil, c.Subscribe("room")
	}, pub)
	wsroute.Handle(ch, "pub", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		return nil, c.Router().Publish(ctx, "room", "hi", wsroute.PublishOptions{})
	}, pub)

	r.Channel("/private", wsroute.ChannelConfig{})
	r.Channel("/broken", wsroute.ChannelConfig{Public: true, Middleware: []wsroute.Middleware{
		func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				if m.IsOpen() {
					return errors.New("session store down")
				}
				return next.Handle(ctx, c, m)
			})
		},
	}})

	fl := r.Channel("/flood", wsroute.ChannelConfig{Public: true, Limits: wsroute.Limits{SendQueue: 16}})
	wsroute.Handle(fl, "flood", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		payload := strings.Repeat("x", 1024)
		for range 200_000 {
			if err := c.Send(ctx, payload); err != nil {
				return nil, wsroute.ErrNoReply
			}
		}
		return nil, nil
	}, pub)
	return r, flooded
}

// tally adds up what the test sent and received per route.
type tally struct{ n, in, out map[string]int }

func (ty *tally) add(route string, in, out int) {
	ty.n[route]++
	ty.in[route] += in
	ty.out[route] += out
}

// TestSession runs a scripted session and checks every span and metric:
// an opening that continues the trace of its request's traceparent, ten
// messages with three errors (one internal), a publish to three
// subscribers, two refused openings and a slow consumer's drop.
func TestSession(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	r, flooded := chatRouter(t, tl.obs)
	ty := &tally{map[string]int{}, map[string]int{}, map[string]int{}}
	ctx := t.Context()

	// Three subscribers.
	var subs []*wsroutetest.Conn
	for range 3 {
		s := wsroutetest.MustDial(t, r, "/chat", nil)
		const frame = `{"action":"sub"}`
		require.NoError(t, s.SendText(frame))
		reply, err := s.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, `{"action":"sub"}`, string(reply))
		ty.add("sub", len(frame), len(reply))
		subs = append(subs, s)
	}

	// The session: its opening request carries a traceparent.
	c := wsroutetest.MustDial(t, r, "/chat", &wsroutetest.DialOptions{
		Header: http.Header{"Traceparent": {"00-" + clientTrace + "-" + clientSpan + "-01"}}})
	script := []struct{ route, frame, code string }{
		{"echo", `{"action":"echo","ref":1,"x":1}`, ""},
		{"echo", `{"action":"echo","ref":2,"x":22}`, ""},
		{"echo", `{"action":"echo","ref":3,"x":333}`, ""},
		{"echo", `{"action":"echo","ref":4,"x":4444}`, ""},
		{"fail", `{"action":"fail","ref":5}`, "teapot"},
		{"(default)", `{"action":"nope","ref":6}`, wsroute.CodeNotFound},
		{"boom", `{"action":"boom","ref":7}`, wsroute.CodeInternal},
		{"echo", `{"action":"echo","ref":8,"x":"eight"}`, ""},
		{"echo", `{"action":"echo","ref":9,"x":"nine!"}`, ""},
		{"pub", `{"action":"pub","ref":10}`, ""},
	}
	for i, s := range script {
		require.NoError(t, c.SendText(s.frame))
		reply, err := c.ReadReply(ctx, i+1)
		require.NoError(t, err)
		if s.code != "" {
			wsroutetest.RequireError(t, reply, s.code)
		}
		ty.add(s.route, len(s.frame), len(reply))
	}
	for _, s := range subs {
		ev, err := s.ReadEvent(ctx, "room")
		require.NoError(t, err)
		assert.Equal(t, `"hi"`, string(ev))
	}
	mid := tl.collect(t)
	assert.Equal(t, map[string]int64{"wsroute.channel=/chat": 3}, points(t, mid, "wsroute.subscriptions"))
	assert.Equal(t, map[string]int64{"wsroute.channel=/chat": 4}, points(t, mid, "wsroute.channels.open"))

	// Two refused openings.
	_, err := wsroutetest.Dial(ctx, r, "/private", nil)
	var he *wsroutetest.HandshakeError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusUnauthorized, he.StatusCode)
	_, err = wsroutetest.Dial(ctx, r, "/broken", nil)
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusInternalServerError, he.StatusCode)

	// A slow consumer, over loopback TCP: the in-memory connection never
	// pushes back.
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fc, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/flood", nil)
	require.NoError(t, err)
	defer fc.CloseNow()
	const floodFrame = `{"action":"flood"}`
	require.NoError(t, fc.Write(dctx, websocket.MessageText, []byte(floodFrame)))
	select {
	case info := <-flooded:
		require.Equal(t, wsroute.CloseInfo{Code: -1, Reason: wsroute.ReasonSlowConsumer}, info)
	case <-time.After(60 * time.Second):
		t.Fatal("the client that does not read was not dropped within 60s")
	}

	// Every channel ends: the observer's end callbacks have run once Close
	// returns.
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	for _, s := range subs {
		require.NoError(t, s.Close(websocket.StatusNormalClosure, ""))
	}

	t.Run("spans", func(t *testing.T) {
		checkSessionSpans(t, tl, c.Channel().ID(), script)
	})
	t.Run("metrics", func(t *testing.T) {
		checkSessionMetrics(t, tl, ty, len(floodFrame))
	})
}

func checkSessionSpans(t *testing.T, tl *tel, id string, script []struct{ route, frame, code string }) {
	// The openings: four of /chat (one continues the request's trace), the
	// two refused, /flood's.
	opens := tl.ended("open /chat")
	require.Len(t, opens, 4)
	var open sdktrace.ReadOnlySpan
	for _, s := range opens {
		if attrs(s.Attributes())["wsroute.channel.id"] == id {
			open = s
		}
	}
	require.NotNil(t, open)
	assert.Equal(t, trace.SpanKindServer, open.SpanKind())
	assert.Equal(t, clientTrace, open.Parent().TraceID().String(), "the open span continues the request's trace")
	assert.Equal(t, clientSpan, open.Parent().SpanID().String())
	assert.True(t, open.Parent().IsRemote())
	assert.Equal(t, map[string]any{
		"wsroute.channel": "/chat", "wsroute.channel.id": id,
		"network.peer.address": "192.0.2.1", "network.peer.port": int64(1234),
	}, attrs(open.Attributes()))
	assert.Equal(t, codes.Unset, open.Status().Code)

	private := tl.ended("open /private")
	require.Len(t, private, 1)
	assert.Equal(t, "unauthenticated", attrs(private[0].Attributes())["wsroute.code"])
	assert.Equal(t, int64(401), attrs(private[0].Attributes())["http.response.status_code"])
	assert.Equal(t, codes.Unset, private[0].Status().Code, "a refusal is an expected outcome")
	broken := tl.ended("open /broken")
	require.Len(t, broken, 1)
	assert.Equal(t, codes.Error, broken[0].Status().Code, "an internal error is an error")
	assert.Equal(t, "internal", attrs(broken[0].Attributes())["error.type"])
	assert.Len(t, tl.ended("open /flood"), 1)

	// The session's ten messages: new roots linked to the open span.
	var msgs []sdktrace.ReadOnlySpan
	for _, s := range tl.spans.Ended() {
		if a := attrs(s.Attributes()); a["wsroute.channel.id"] == id && a["wsroute.route"] != nil {
			msgs = append(msgs, s)
		}
	}
	require.Len(t, msgs, len(script))
	for i, s := range msgs {
		sc := script[i]
		assert.Equal(t, "/chat "+sc.route, s.Name())
		assert.Equal(t, trace.SpanKindServer, s.SpanKind())
		assert.False(t, s.Parent().IsValid(), "a message span is a new root")
		assert.NotEqual(t, clientTrace, s.SpanContext().TraceID().String())
		require.Len(t, s.Links(), 1)
		assert.Equal(t, open.SpanContext(), s.Links()[0].SpanContext, "linked to the open span")
		a := attrs(s.Attributes())
		code := sc.code
		if code == "" {
			code = "ok"
		}
		assert.Equal(t, code, a["wsroute.code"], s.Name())
		assert.Equal(t, sc.route, a["wsroute.route"])
		assert.Equal(t, "/chat", a["wsroute.channel"])
		assert.Equal(t, strconv.Itoa(i+1), a["wsroute.ref"])
		assert.Equal(t, int64(len(sc.frame)), a["wsroute.message.bytes_in"])
		assert.Positive(t, a["wsroute.message.bytes_out"])
		if code == wsroute.CodeInternal {
			assert.Equal(t, codes.Error, s.Status().Code)
			assert.Equal(t, "internal", a["error.type"])
		} else {
			assert.Equal(t, codes.Unset, s.Status().Code, s.Name())
			assert.NotContains(t, a, "error.type")
		}
	}

	// The publish is an event of the pub message's span.
	pub := msgs[len(msgs)-1]
	require.Len(t, pub.Events(), 1)
	ev := pub.Events()[0]
	assert.Equal(t, "publish", ev.Name)
	assert.Equal(t, map[string]any{
		"messaging.system": "wsroute", "messaging.operation.type": "send", "messaging.operation.name": "publish",
		"messaging.destination.name": "room", "messaging.message.body.size": int64(len(`"hi"`)), "wsroute.deliveries": int64(3),
	}, attrs(ev.Attributes))

	assert.Len(t, tl.ended("/chat sub"), 3)
	assert.Len(t, tl.ended("/flood flood"), 1)
	assert.Empty(t, tl.ended("deliver"), "a local delivery is no span of its own")
}

func checkSessionMetrics(t *testing.T, tl *tel, ty *tally, floodIn int) {
	rm := tl.collect(t)
	assert.Equal(t, map[string]int64{
		"wsroute.channel=/chat,wsroute.code=ok,wsroute.route=echo":             6,
		"wsroute.channel=/chat,wsroute.code=teapot,wsroute.route=fail":         1,
		"wsroute.channel=/chat,wsroute.code=not_found,wsroute.route=(default)": 1,
		"wsroute.channel=/chat,wsroute.code=internal,wsroute.route=boom":       1,
		"wsroute.channel=/chat,wsroute.code=ok,wsroute.route=pub":              1,
		"wsroute.channel=/chat,wsroute.code=ok,wsroute.route=sub":              3,
		"wsroute.channel=/flood,wsroute.code=ok,wsroute.route=flood":           1,
	}, points(t, rm, "wsroute.messages"))

	n, sum := counts(t, rm, "wsroute.message.duration")
	wantN := map[string]uint64{"wsroute.channel=/flood,wsroute.route=flood": 1}
	wantIn := map[string]int64{"wsroute.channel=/flood,wsroute.route=flood": int64(floodIn)}
	wantOut := map[string]int64{"wsroute.channel=/flood,wsroute.route=flood": 0}
	for route, k := range ty.n {
		l := "wsroute.channel=/chat,wsroute.route=" + route
		wantN[l] = uint64(k)
		wantIn[l] = int64(ty.in[route])
		wantOut[l] = int64(ty.out[route])
	}
	assert.Equal(t, wantN, n)
	for l, s := range sum {
		assert.Positive(t, s, l)
	}
	assert.Equal(t, wantIn, points(t, rm, "wsroute.message.bytes_in"))
	assert.Equal(t, wantOut, points(t, rm, "wsroute.message.bytes_out"))

	assert.Equal(t, map[string]int64{
		"http.response.status_code=401,wsroute.channel=/private,wsroute.code=unauthenticated": 1,
		"http.response.status_code=500,wsroute.channel=/broken,wsroute.code=internal":         1,
	}, points(t, rm, "wsroute.opens.refused"))
	assert.Equal(t, map[string]int64{"wsroute.channel=/chat": 0, "wsroute.channel=/flood": 0},
		points(t, rm, "wsroute.channels.open"))
	assert.Equal(t, map[string]int64{
		"wsroute.channel=/chat,wsroute.close.code=1000,wsroute.close.reason=none":         4,
		"wsroute.channel=/flood,wsroute.close.code=-1,wsroute.close.reason=slow consumer": 1,
	}, points(t, rm, "wsroute.closes"))
	assert.Equal(t, map[string]int64{"wsroute.channel=/chat": 0}, points(t, rm, "wsroute.subscriptions"))
	assert.Equal(t, map[string]int64{"": 1}, points(t, rm, "wsroute.events.published"))
	assert.Equal(t, map[string]int64{"wsroute.origin=local": 3}, points(t, rm, "wsroute.events.delivered"))
	assert.Empty(t, points(t, rm, "wsroute.broker.errors"))

	// Units as the semantic conventions write them.
	for name, unit := range map[string]string{
		"wsroute.message.duration": "s", "wsroute.message.bytes_in": "By", "wsroute.message.bytes_out": "By",
		"wsroute.messages": "{message}", "wsroute.channels.open": "{channel}",
	} {
		m, ok := find(rm, name)
		require.True(t, ok, name)
		assert.Equal(t, unit, m.Unit, name)
	}
}
