package wsroute_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// obsKey marks a context made by an observer's Start function.
type obsKey struct{}

// events records what an Observer was told, in order.
type events struct {
	mu   sync.Mutex
	list []string
	msgs []wsroute.MessageInfo
	ctxs []any // the obsKey value of each end callback's context
	dlv  []wsroute.DeliverInfo
	errs []wsroute.BrokerErrorInfo
	refs []wsroute.RefuseInfo
}

func (e *events) add(s string, ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
	if ctx != nil {
		e.ctxs = append(e.ctxs, ctx.Value(obsKey{}))
	}
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

func (e *events) observer(tag string) *wsroute.Observer {
	return &wsroute.Observer{
		StartOpen: func(ctx context.Context, c *wsroute.Channel) context.Context {
			e.add(tag+"startOpen", nil)
			return context.WithValue(ctx, obsKey{}, tag+"open")
		},
		OnOpen: func(ctx context.Context, c *wsroute.Channel) { e.add(tag+"open", ctx) },
		OnOpenRefused: func(ctx context.Context, c *wsroute.Channel, info wsroute.RefuseInfo) {
			e.mu.Lock()
			e.refs = append(e.refs, info)
			e.mu.Unlock()
			e.add(tag+"refused", ctx)
		},
		OnClose: func(ctx context.Context, c *wsroute.Channel, info wsroute.CloseInfo) { e.add(tag+"close", ctx) },
		StartMessage: func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) context.Context {
			e.add(tag+"startMessage "+m.Route(), nil)
			return context.WithValue(ctx, obsKey{}, tag+"msg")
		},
		OnMessage: func(ctx context.Context, c *wsroute.Channel, info wsroute.MessageInfo) {
			e.mu.Lock()
			e.msgs = append(e.msgs, info)
			e.mu.Unlock()
			e.add(tag+"message", ctx)
		},
		OnSubscribe:   func(c *wsroute.Channel, topic string) { e.add(tag+"subscribe "+topic, nil) },
		OnUnsubscribe: func(c *wsroute.Channel, topic string) { e.add(tag+"unsubscribe "+topic, nil) },
		InjectEnvelope: func(ctx context.Context, h map[string]string) {
			if v, ok := ctx.Value(obsKey{}).(string); ok {
				h["from"] = v
			}
		},
		OnPublish: func(ctx context.Context, info wsroute.PublishInfo) { e.add(tag+"publish "+info.Topic, ctx) },
		OnDeliver: func(info wsroute.DeliverInfo) {
			e.mu.Lock()
			e.dlv = append(e.dlv, info)
			e.mu.Unlock()
			e.add(tag+"deliver "+info.Topic, nil)
		},
		OnBrokerError: func(info wsroute.BrokerErrorInfo) {
			e.mu.Lock()
			e.errs = append(e.errs, info)
			e.mu.Unlock()
		},
	}
}

// TestObserverContexts: what StartOpen and StartMessage return is the
// context of what runs inside (middleware, the handler) and of the matching
// end callback; MessageInfo carries route, code, ref and sizes.
func TestObserverContexts(t *testing.T) {
	var ev events
	r := newRouter(t, wsroute.Options{Observer: ev.observer("")})
	var mwSaw, handlerSaw any
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true,
		Middleware: []wsroute.Middleware{func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				if m.IsOpen() {
					mwSaw = ctx.Value(obsKey{})
				}
				return next.Handle(ctx, c, m)
			})
		}}})
	wsroute.Handle(ch, "echo", func(ctx context.Context, _ *wsroute.Channel, in struct {
		S string `json:"s"`
	}) (struct {
		S string `json:"s"`
	}, error) {
		handlerSaw = ctx.Value(obsKey{})
		return in, nil
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "fail", func(context.Context, *wsroute.Channel, struct{}) (any, error) {
		return nil, wsroute.NewError("teapot", "no")
	}, wsroute.RouteConfig{Public: true})

	c := wsroutetest.MustDial(t, r, "/c", nil)
	got := exchange(t, c, `{"action":"echo","ref":7,"s":"hi"}`, `{"action":"fail","ref":"x"}`, `{"action":"nope"}`)
	require.Len(t, got, 3)
	require.NoError(t, c.Close(1000, ""))
	<-c.Done()
	require.NoError(t, r.Shutdown(t.Context()))

	assert.Equal(t, "open", mwSaw, "middleware runs under StartOpen's context")
	assert.Equal(t, "msg", handlerSaw, "the handler runs under StartMessage's context")
	assert.Equal(t, []string{
		"startOpen", "open",
		"startMessage echo", "message",
		"startMessage fail", "message",
		"startMessage nope", "message",
		"close",
	}, ev.get())
	// StartOpen's values, like middleware's, stay in the channel's context
	// (so OnClose sees "open"); StartMessage's are the message's own.
	assert.Equal(t, []any{"open", "msg", "msg", "msg", "open"}, ev.ctxs, "end callbacks get their Start's context")
	require.Len(t, ev.msgs, 3)
	m := ev.msgs[0]
	assert.Equal(t, "echo", m.Route)
	assert.Equal(t, "", m.Code)
	assert.Equal(t, json.RawMessage("7"), m.Ref)
	assert.Equal(t, len(`{"action":"echo","ref":7,"s":"hi"}`), m.BytesIn)
	assert.Equal(t, len(got[0]), m.BytesOut)
	assert.Positive(t, m.Duration)
	assert.Equal(t, "teapot", ev.msgs[1].Code)
	assert.Equal(t, json.RawMessage(`"x"`), ev.msgs[1].Ref)
	assert.Equal(t, len(got[1]), ev.msgs[1].BytesOut)
	assert.Equal(t, "", ev.msgs[2].Route, "an unknown route is bounded to \"\"")
	assert.Equal(t, wsroute.CodeNotFound, ev.msgs[2].Code)
}

// TestObserverRefusals: a refused opening ends with OnOpenRefused (code and
// status), under StartOpen's context; one refused before a channel exists
// (origin, connection limit) too, with a nil channel.
func TestObserverRefusals(t *testing.T) {
	var ev events
	r := newRouter(t, wsroute.Options{Observer: ev.observer(""), MaxChannels: 1})
	r.Channel("/private", wsroute.ChannelConfig{})
	r.Channel("/public", wsroute.ChannelConfig{Public: true})

	_, err := wsroutetest.Dial(t.Context(), r, "/private", nil)
	require.Error(t, err)
	c := wsroutetest.MustDial(t, r, "/public", nil)
	_, err = wsroutetest.Dial(t.Context(), r, "/public", nil) // past MaxChannels
	require.Error(t, err)
	require.NoError(t, c.Close(1000, ""))

	assert.Equal(t, []wsroute.RefuseInfo{
		{Code: wsroute.CodeUnauthenticated, Status: http.StatusUnauthorized},
		{Code: wsroute.CodeUnavailable, Status: http.StatusServiceUnavailable},
	}, ev.refs)
	assert.Equal(t, []string{"startOpen", "refused", "startOpen", "open", "refused"}, ev.get()[:5])
	assert.Equal(t, []any{"open", "open", nil}, ev.ctxs[:3], "the early refusal has the request's context")
}

// TestObserverTopics: subscriptions begin and end (also at close), a
// publish carries what InjectEnvelope wrote to the other node's OnDeliver.
func TestObserverTopics(t *testing.T) {
	b := wsroute.NewMemoryBroker()
	var evA, evB events
	a := newRouter(t, wsroute.Options{Broker: b, Observer: evA.observer("")})
	bb := newRouter(t, wsroute.Options{Broker: b, Observer: evB.observer("")})
	for _, r := range []*wsroute.Router{a, bb} {
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
		wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
			return nil, errors.Join(c.Subscribe("t"), c.Subscribe("u"))
		}, wsroute.RouteConfig{Public: true})
		wsroute.Handle(ch, "unsub", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
			c.Unsubscribe("u")
			c.Unsubscribe("u") // idempotent: told once
			return nil, nil
		}, wsroute.RouteConfig{Public: true})
		wsroute.Handle(ch, "pub", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
			return nil, c.Router().Publish(ctx, "t", 1, wsroute.PublishOptions{})
		}, wsroute.RouteConfig{Public: true})
	}
	ca := wsroutetest.MustDial(t, a, "/c", nil)
	cb := wsroutetest.MustDial(t, bb, "/c", nil)
	exchange(t, cb, `{"action":"sub"}`, `{"action":"unsub"}`)
	exchange(t, ca, `{"action":"pub"}`)
	ev, err := cb.ReadEvent(t.Context(), "t")
	require.NoError(t, err)
	assert.Equal(t, "1", string(ev))
	require.NoError(t, cb.Close(1000, ""))
	<-cb.Done()

	evB.mu.Lock()
	require.Len(t, evB.dlv, 1)
	d := evB.dlv[0]
	evB.mu.Unlock()
	assert.Equal(t, "t", d.Topic)
	assert.Equal(t, 1, d.Local)
	assert.Equal(t, 1, d.Bytes)
	assert.Equal(t, map[string]string{"from": "msg"}, d.Headers, "InjectEnvelope saw the publisher's context")
	var subs []string
	for _, e := range evB.get() {
		if strings.HasPrefix(e, "subscribe") || strings.HasPrefix(e, "unsubscribe") {
			subs = append(subs, e)
		}
	}
	assert.Equal(t, []string{"subscribe t", "subscribe u", "unsubscribe u", "unsubscribe t"}, subs)
	assert.Contains(t, evA.get(), "publish t")
}

// failingBroker refuses every call.
type failingBroker struct{ wsroute.MemoryBroker }

var errEngineDown = errors.New("engine down")

func (*failingBroker) Subscribe(context.Context, string, string) error { return errEngineDown }
func (*failingBroker) Publish(context.Context, wsroute.Envelope) error { return errEngineDown }

func TestObserverBrokerErrors(t *testing.T) {
	var ev events
	fb := &failingBroker{MemoryBroker: *wsroute.NewMemoryBroker()}
	r := newRouter(t, wsroute.Options{Broker: fb, Observer: ev.observer("")})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "go", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		_ = c.Subscribe("t")
		_ = c.Router().Publish(ctx, "t", 1, wsroute.PublishOptions{})
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	exchange(t, wsroutetest.MustDial(t, r, "/c", nil), `{"action":"go"}`)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	require.Len(t, ev.errs, 2)
	assert.Equal(t, "subscribe", ev.errs[0].Op)
	assert.Equal(t, "publish", ev.errs[1].Op)
	assert.ErrorIs(t, ev.errs[1].Err, errEngineDown)
}

// TestJoinObservers: joined observers run in order, Start contexts chain,
// and a panic in one neither stops the others nor escapes (it is logged).
func TestJoinObservers(t *testing.T) {
	var ev events
	var logs logBuffer
	boom := &wsroute.Observer{
		OnOpen:    func(context.Context, *wsroute.Channel) { panic("first observer bug") },
		OnMessage: func(context.Context, *wsroute.Channel, wsroute.MessageInfo) { panic("again") },
		StartMessage: func(ctx context.Context, _ *wsroute.Channel, _ *wsroute.Message) context.Context {
			return context.WithValue(ctx, obsKey{}, "boom")
		},
	}
	r := newRouter(t, wsroute.Options{Logger: logs.logger(), Observer: wsroute.JoinObservers(nil, boom, ev.observer("2:"))})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "x", func(ctx context.Context, _ *wsroute.Channel, _ struct{}) (any, error) {
		return ctx.Value(obsKey{}), nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	got := exchange(t, c, `{"action":"x"}`)
	assert.Equal(t, []string{`{"action":"x","result":"2:msg"}`}, got, "the second Start saw and replaced the first's context")
	events := ev.get()
	assert.Contains(t, events, "2:open", "the second OnOpen ran although the first panicked")
	assert.Contains(t, events, "2:message")
	assert.Contains(t, logs.String(), "first observer bug")
	assert.Contains(t, logs.String(), "observer_test.go", "the panic is logged with the stack where it happened")

	assert.Same(t, boom, wsroute.JoinObservers(nil, boom), "one observer is itself")
}

// TestTraceKey: the trace key's field is not input (a strict schema accepts
// the frame), Message.TraceContext returns it, and registration refuses
// inputs that name it.
func TestTraceKey(t *testing.T) {
	r := newRouter(t, wsroute.Options{})
	var seen map[string]string
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, TraceKey: "trace",
		Middleware: []wsroute.Middleware{func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				if !m.IsOpen() {
					seen = m.TraceContext()
				}
				return next.Handle(ctx, c, m)
			})
		}}})
	type in struct {
		Title string `json:"title"`
	}
	wsroute.Handle(ch, "create", func(_ context.Context, _ *wsroute.Channel, v in) (in, error) { return v, nil },
		wsroute.RouteConfig{Public: true, StrictFields: true, Schema: wsroute.SchemaString(
			`{"type":"object","properties":{"title":{"type":"string"}},"required":["title"],"additionalProperties":false}`)})
	ch3 := r.Channel("/f", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch3, "echo", func(_ context.Context, _ *wsroute.Channel, v map[string]any) (map[string]any, error) { return v, nil },
		wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	got := exchange(t, c, `{"action":"create","trace":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},"title":"milk"}`,
		`{"action":"create","title":"tea","trace":5}`)
	assert.Equal(t, []string{`{"action":"create","title":"milk"}`, `{"action":"create","title":"tea"}`}, got)
	assert.Nil(t, seen, "a trace field that is not an object of strings is ignored")

	exchange(t, c, `{"action":"create","trace":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},"title":"milk"}`)
	assert.Equal(t, map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, seen)

	// Without a TraceKey the field is input like any other.
	got = exchange(t, wsroutetest.MustDial(t, r, "/f", nil), `{"action":"echo","trace":{"a":"b"}}`)
	assert.Equal(t, []string{`{"action":"echo","trace":{"a":"b"}}`}, got)

	r2 := newRouter(t, wsroute.Options{})
	assert.PanicsWithValue(t, `wsroute: channel "/d": TraceKey "ref" is also the route key or ref`, func() {
		r2.Channel("/d", wsroute.ChannelConfig{TraceKey: "ref"})
	})
	ch2 := r2.Channel("/e", wsroute.ChannelConfig{TraceKey: "trace"})
	assert.Panics(t, func() {
		wsroute.Handle(ch2, "x", func(context.Context, *wsroute.Channel, struct {
			Trace string `json:"trace"`
		}) (any, error) {
			return nil, nil
		})
	}, "an input field named like the trace key")
}

// TestEnvelopeVersions: JSONCodec writes its version and headers; an
// envelope of an older node (no "v", no headers) reads; a node of the
// release before "v" and "headers" reads the new encoding (unknown members
// are skipped); a version above this node's is refused.
func TestEnvelopeVersions(t *testing.T) {
	var codec wsroute.JSONCodec
	e := wsroute.Envelope{Node: "n1", Topic: "t", Data: json.RawMessage(`{"a":1}`), Headers: map[string]string{"traceparent": "00-x"}}
	b, err := codec.Encode(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":1,"node":"n1","topic":"t","data":{"a":1},"headers":{"traceparent":"00-x"}}`, string(b))
	back, err := codec.Decode(b)
	require.NoError(t, err)
	assert.Equal(t, e, back)

	// What the previous release decoded into.
	var old struct {
		Node    string          `json:"node"`
		Topic   string          `json:"topic"`
		Data    json.RawMessage `json:"data"`
		Exclude string          `json:"exclude,omitempty"`
	}
	require.NoError(t, json.Unmarshal(b, &old))
	assert.Equal(t, "n1", old.Node)
	assert.JSONEq(t, `{"a":1}`, string(old.Data))

	fromOld, err := codec.Decode([]byte(`{"node":"n0","topic":"t","data":2,"exclude":"c1"}`))
	require.NoError(t, err)
	assert.Equal(t, wsroute.Envelope{Node: "n0", Topic: "t", Data: json.RawMessage("2"), Exclude: "c1"}, fromOld)

	_, err = codec.Decode([]byte(`{"v":2,"node":"n9","topic":"t","data":1}`))
	require.ErrorContains(t, err, "envelope version 2 is newer")
}

// TestMiddlewareSeesOutcome: middleware learns the code of the stages it
// wraps (ErrorCode) and whether they prepared a reply (Message.Reply).
func TestMiddlewareSeesOutcome(t *testing.T) {
	r := newRouter(t, wsroute.Options{})
	type outcome struct {
		code  string
		reply string
	}
	var mu sync.Mutex
	var seen []outcome
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true,
		Middleware: []wsroute.Middleware{func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				err := next.Handle(ctx, c, m)
				if !m.IsOpen() {
					mu.Lock()
					seen = append(seen, outcome{wsroute.ErrorCode(err), string(m.Reply())})
					mu.Unlock()
				}
				return err
			})
		}}})
	wsroute.Handle(ch, "ok", func(context.Context, *wsroute.Channel, struct{}) (string, error) { return "yes", nil },
		wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "no", func(context.Context, *wsroute.Channel, struct{}) (any, error) {
		return nil, wsroute.NewError(wsroute.CodeForbidden, "no")
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "boom", func(context.Context, *wsroute.Channel, struct{}) (any, error) {
		return nil, errors.New("db down")
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "quiet", func(context.Context, *wsroute.Channel, struct{}) (any, error) {
		return nil, wsroute.ErrNoReply
	}, wsroute.RouteConfig{Public: true})
	exchange(t, wsroutetest.MustDial(t, r, "/c", nil), `{"action":"ok","ref":1}`, `{"action":"no"}`, `{"action":"boom"}`, `{"action":"quiet"}`)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []outcome{
		{"", `{"action":"ok","ref":1,"result":"yes"}`},
		{wsroute.CodeForbidden, ""},
		{wsroute.CodeInternal, ""},
		{"", ""},
	}, seen)
}

// TestObserverClosedWhileOpening: a channel its middleware closes while it
// opens ends its StartOpen with OnOpenRefused (closed_while_opening), and
// is told no OnOpen or OnClose.
func TestObserverClosedWhileOpening(t *testing.T) {
	var ev events
	r := newRouter(t, wsroute.Options{Observer: ev.observer("")})
	r.Channel("/c", wsroute.ChannelConfig{Public: true, Middleware: []wsroute.Middleware{func(next wsroute.Handler) wsroute.Handler {
		return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
			if m.IsOpen() {
				c.Close(4000, "go away")
			}
			return next.Handle(ctx, c, m)
		})
	}}})
	c, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
	require.NoError(t, err)
	<-c.Done()
	require.NoError(t, r.Shutdown(t.Context()))
	assert.Equal(t, []string{"startOpen", "refused"}, ev.get())
	assert.Equal(t, []wsroute.RefuseInfo{{Code: wsroute.CodeClosedWhileOpening}}, ev.refs)
}
