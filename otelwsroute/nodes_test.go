package otelwsroute_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
	"github.com/wsroute/wsroute/brokers/redisbroker"
	"github.com/wsroute/wsroute/internal/servicetest"
	"github.com/wsroute/wsroute/otelwsroute"
	"github.com/wsroute/wsroute/wsroutetest"
	"go.opentelemetry.io/otel/trace"
)

func uniqueHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestAcrossNodesMemory(t *testing.T) {
	t.Parallel()
	b := wsroute.NewMemoryBroker()
	acrossNodes(t, b, b)
}

func TestAcrossNodesRedis(t *testing.T) {
	t.Parallel()
	addr := servicetest.RedisAddr()
	servicetest.Need(t, "Redis", addr, servicetest.RedisHint)
	prefix := "wsroute-test:otel:" + uniqueHex() + ":"
	var bs [2]wsroute.Broker
	for i := range bs {
		b, err := redisbroker.New(redisbroker.Options{Addr: addr, Prefix: prefix})
		require.NoError(t, err)
		bs[i] = b
	}
	acrossNodes(t, bs[0], bs[1])
}

func TestAcrossNodesNATS(t *testing.T) {
	t.Parallel()
	u := servicetest.NATSURL()
	servicetest.Need(t, "NATS", servicetest.HostOf(u), servicetest.NATSHint)
	prefix := "wsroute-test.otel." + uniqueHex() + "."
	var bs [2]wsroute.Broker
	for i := range bs {
		b, err := natsbroker.New(natsbroker.Options{URL: u, Prefix: prefix})
		require.NoError(t, err)
		bs[i] = b
	}
	acrossNodes(t, bs[0], bs[1])
}

// acrossNodes: a publish made in a message handler on node A reaches a
// subscriber on node B, where a "deliver" span links to A's message
// span (same trace), and both nodes count the event.
func acrossNodes(t *testing.T, ba, bb wsroute.Broker) {
	telA, telB := newTel(t, otelwsroute.Config{}), newTel(t, otelwsroute.Config{})
	mk := func(tl *tel, b wsroute.Broker) *wsroute.Router {
		r := newRouter(t, wsroute.Options{Broker: b, Observer: tl.obs})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
		wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
			return nil, c.Subscribe("news")
		}, wsroute.RouteConfig{Public: true})
		wsroute.Handle(ch, "pub", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
			return nil, c.Router().Publish(ctx, "news", map[string]string{"title": "hello"}, wsroute.PublishOptions{})
		}, wsroute.RouteConfig{Public: true})
		return r
	}
	ra, rb := mk(telA, ba), mk(telB, bb)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	sb := wsroutetest.MustDial(t, rb, "/c", nil)
	require.NoError(t, sb.SendText(`{"action":"sub"}`))
	reply, err := sb.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, `{"action":"sub"}`, string(reply))

	sa := wsroutetest.MustDial(t, ra, "/c", nil)
	require.NoError(t, sa.SendText(`{"action":"pub"}`))
	reply, err = sa.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, `{"action":"pub"}`, string(reply))
	ev, err := sb.ReadEvent(ctx, "news")
	require.NoError(t, err)
	assert.JSONEq(t, `{"title":"hello"}`, string(ev))

	pub := telA.waitEnded(t, "/c pub", 1)[0]
	require.Len(t, pub.Events(), 1)
	assert.Equal(t, int64(0), attrs(pub.Events()[0].Attributes)["wsroute.deliveries"], "no subscriber on A")
	d := telB.waitEnded(t, "deliver", 1)[0] // no TopicAttribute: no topic in the name
	assert.Equal(t, trace.SpanKindConsumer, d.SpanKind())
	assert.False(t, d.Parent().IsValid(), "a new root")
	require.Len(t, d.Links(), 1)
	link := d.Links()[0].SpanContext
	assert.Equal(t, pub.SpanContext().TraceID(), link.TraceID(), "the link points at A's message span")
	assert.Equal(t, pub.SpanContext().SpanID(), link.SpanID())
	a := attrs(d.Attributes())
	assert.NotEmpty(t, a["wsroute.origin.node"])
	delete(a, "wsroute.origin.node")
	assert.Equal(t, map[string]any{
		"messaging.system": "wsroute", "messaging.operation.type": "process", "messaging.operation.name": "deliver",
		"messaging.destination.name": "news", "messaging.message.body.size": int64(len(`{"title":"hello"}`)),
		"wsroute.deliveries": int64(1),
	}, a)

	assert.Equal(t, map[string]int64{"": 1}, points(t, telA.collect(t), "wsroute.events.published"))
	assert.Equal(t, map[string]int64{"wsroute.origin=remote": 1}, points(t, telB.collect(t), "wsroute.events.delivered"))
	assert.Empty(t, points(t, telA.collect(t), "wsroute.events.delivered"), "A's own event is not delivered back to it")
	for _, s := range telA.spans.Ended() {
		assert.False(t, strings.HasPrefix(s.Name(), "deliver"), "A's own event is no delivery on A")
	}
}
