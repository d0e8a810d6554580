package otelwsroute_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/otelwsroute"
	"github.com/wsroute/wsroute/wsroutetest"
	"go.opentelemetry.io/otel/codes"
)

// TestTopicAttribute: with Config.TopicAttribute the subscription and event
// metrics carry messaging.destination.name as the function bounds it; ""
// leaves it out.
func TestTopicAttribute(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{TopicAttribute: func(topic string) string {
		if room, ok := strings.CutPrefix(topic, "rooms/"); ok && room != "" {
			return "rooms/{room}"
		}
		return ""
	}})
	r := newRouter(t, wsroute.Options{Observer: tl.obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "go", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		for _, topic := range []string{"rooms/a", "rooms/b", "lobby"} {
			if err := c.Subscribe(topic); err != nil {
				return nil, err
			}
			if err := c.Router().Publish(ctx, topic, 1, wsroute.PublishOptions{}); err != nil {
				return nil, err
			}
		}
		c.Unsubscribe("rooms/b")
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"go"}`))
	_, err := c.Received(t.Context())
	require.NoError(t, err)

	rm := tl.collect(t)
	assert.Equal(t, map[string]int64{
		"messaging.destination.name=rooms/{room},wsroute.channel=/c": 1,
		"wsroute.channel=/c": 1,
	}, points(t, rm, "wsroute.subscriptions"))
	assert.Equal(t, map[string]int64{"messaging.destination.name=rooms/{room}": 2, "": 1},
		points(t, rm, "wsroute.events.published"))
	assert.Equal(t, map[string]int64{
		"messaging.destination.name=rooms/{room},wsroute.origin=local": 2,
		"wsroute.origin=local": 1,
	}, points(t, rm, "wsroute.events.delivered"))
}

// failingBroker refuses every call.
type failingBroker struct{ *wsroute.MemoryBroker }

var errEngineDown = errors.New("engine down")

func (failingBroker) Subscribe(context.Context, string, string) error { return errEngineDown }
func (failingBroker) Publish(context.Context, wsroute.Envelope) error { return errEngineDown }

// TestBrokerErrors: failed broker calls are counted by operation; a failed
// publish is counted apart and marks the publisher's span.
func TestBrokerErrors(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	r := newRouter(t, wsroute.Options{Broker: failingBroker{wsroute.NewMemoryBroker()}, Observer: tl.obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "go", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		_ = c.Subscribe("t")
		_ = c.Router().Publish(ctx, "t", 1, wsroute.PublishOptions{})
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"go"}`))
	_, err := c.Read(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Close(1000, ""))

	rm := tl.collect(t)
	assert.Equal(t, map[string]int64{"wsroute.broker.operation=publish": 1, "wsroute.broker.operation=subscribe": 1},
		points(t, rm, "wsroute.broker.errors"))
	assert.Equal(t, map[string]int64{"error.type=broker": 1}, points(t, rm, "wsroute.events.published"))

	s := tl.waitEnded(t, "/c go", 1)[0]
	assert.Equal(t, codes.Unset, s.Status().Code, "the handler succeeded")
	var names []string
	for _, ev := range s.Events() {
		names = append(names, ev.Name)
	}
	assert.Equal(t, []string{"exception", "publish"}, names)
	assert.Equal(t, "broker", attrs(s.Events()[1].Attributes)["error.type"])
	assert.Contains(t, attrs(s.Events()[0].Attributes)["exception.message"], "engine down")
}

// TestEarlyRefusal: an opening refused before its channel exists (here at
// MaxChannels) is counted without a channel attribute, and has no span.
func TestEarlyRefusal(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	r := newRouter(t, wsroute.Options{Observer: tl.obs, MaxChannels: 1})
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
	var he *wsroutetest.HandshakeError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusServiceUnavailable, he.StatusCode)
	require.NoError(t, c.Close(1000, ""))

	assert.Equal(t, map[string]int64{"http.response.status_code=503,wsroute.code=unavailable": 1},
		points(t, tl.collect(t), "wsroute.opens.refused"))
	assert.Len(t, tl.ended("open /c"), 1, "the refused opening has no span")
}

// TestGlobalDefaults: the zero Config uses the global (here no-op)
// providers and propagator, and a session runs through it.
func TestGlobalDefaults(t *testing.T) {
	obs, err := otelwsroute.New(otelwsroute.Config{})
	require.NoError(t, err)
	r := newRouter(t, wsroute.Options{Observer: obs})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, TraceKey: "trace"})
	wsroute.Handle(ch, "x", func(context.Context, *wsroute.Channel, struct{}) (any, error) { return nil, nil },
		wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"x","trace":{"traceparent":"00-`+clientTrace+`-`+clientSpan+`-01"}}`))
	got, err := c.Read(t.Context())
	require.NoError(t, err)
	assert.Equal(t, `{"action":"x"}`, string(got))
	require.NoError(t, c.Close(1000, ""))
}

// TestCloseWhileOpening: a channel its middleware closes while it opens is
// upgraded and closed at once, without OnOpen or OnOpenRefused (OnConnect
// never runs): its open span still ends, marked, and it is not counted
// open.
func TestCloseWhileOpening(t *testing.T) {
	tl := newTel(t, otelwsroute.Config{})
	r := newRouter(t, wsroute.Options{Observer: tl.obs})
	r.Channel("/c", wsroute.ChannelConfig{Public: true, Middleware: []wsroute.Middleware{
		func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				if m.IsOpen() {
					c.Close(4000, "go away")
				}
				return next.Handle(ctx, c, m)
			})
		},
	}})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.Error(t, c.Wait(t.Context()))
	open := tl.waitEnded(t, "open /c", 1)[0]
	require.Len(t, open.Events(), 1)
	assert.Equal(t, "closed while opening", open.Events()[0].Name)
	rm := tl.collect(t)
	assert.Empty(t, points(t, rm, "wsroute.channels.open"))
	assert.Empty(t, points(t, rm, "wsroute.closes"))
}

// TestDeliverSpanNames: a delivery span is named "deliver" followed by
// what Config.TopicAttribute makes of the topic, never by the topic itself
// (span names stay bounded); without a name for it, "deliver" alone.
func TestDeliverSpanNames(t *testing.T) {
	rooms := otelwsroute.Config{TopicAttribute: func(topic string) string {
		if strings.HasPrefix(topic, "rooms/") {
			return "rooms/{room}"
		}
		return ""
	}}
	b := wsroute.NewMemoryBroker()
	telA, telB := newTel(t, rooms), newTel(t, rooms)
	ra := newRouter(t, wsroute.Options{Broker: b, Observer: telA.obs})
	rb := newRouter(t, wsroute.Options{Broker: b, Observer: telB.obs})
	ch := rb.Channel("/c", wsroute.ChannelConfig{Public: true})
	topics := []string{"rooms/a", "rooms/b", "lobby"}
	wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		for _, topic := range topics {
			if err := c.Subscribe(topic); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, rb, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"sub"}`))
	_, err := c.Read(t.Context())
	require.NoError(t, err)
	for _, topic := range topics {
		require.NoError(t, ra.Publish(t.Context(), topic, 1, wsroute.PublishOptions{}))
	}
	named := telB.waitEnded(t, "deliver rooms/{room}", 2)
	plain := telB.waitEnded(t, "deliver", 1)
	var dests []string
	for _, s := range append(named, plain...) {
		dests = append(dests, attrs(s.Attributes())["messaging.destination.name"].(string))
	}
	assert.ElementsMatch(t, topics, dests, "the topic itself is an attribute")
}
