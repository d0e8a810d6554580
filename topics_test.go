package wsroute_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type topicIn struct {
	Topic string `json:"topic"`
}

type sayIn struct {
	Text string `json:"text"`
}

// chatRouter subscribes by message and publishes "say" to topic "room",
// excluding the sender.
func chatRouter(t *testing.T, opts wsroute.Options) *wsroute.Router {
	r := newRouter(t, opts)
	ch := r.Channel("/chat", wsroute.ChannelConfig{Public: true})
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, in topicIn) (*struct{}, error) {
		return nil, c.Subscribe(in.Topic)
	}, public)
	wsroute.Handle(ch, "unsub", func(_ context.Context, c *wsroute.Channel, in topicIn) (*struct{}, error) {
		c.Unsubscribe(in.Topic)
		return nil, nil
	}, public)
	wsroute.Handle(ch, "say", func(ctx context.Context, c *wsroute.Channel, in sayIn) (*struct{}, error) {
		return nil, c.Router().Publish(ctx, "room", in, wsroute.PublishOptions{Exclude: c})
	}, public)
	return r
}

func TestTopics(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var pubs []wsroute.PublishInfo
	r := chatRouter(t, wsroute.Options{Observer: &wsroute.Observer{OnPublish: func(_ context.Context, i wsroute.PublishInfo) {
		mu.Lock()
		pubs = append(pubs, i)
		mu.Unlock()
	}}})
	a := wsroutetest.MustDial(t, r, "/chat", nil)
	b := wsroutetest.MustDial(t, r, "/chat", nil)
	c := wsroutetest.MustDial(t, r, "/chat", nil)
	for _, conn := range []*wsroutetest.Conn{a, b} {
		assert.Equal(t, []string{`{"action":"sub"}`, `{"action":"sub"}`},
			exchange(t, conn, `{"action":"sub","topic":"room"}`, `{"action":"sub","topic":"room"}`), "idempotent")
	}
	assert.Equal(t, []string{"room"}, a.Channel().Topics())

	assert.Equal(t, []string{`{"action":"say"}`}, exchange(t, a, `{"action":"say","text":"hi"}`))
	assert.Empty(t, exchange(t, a), "the sender is excluded")
	assert.Equal(t, []string{`{"topic":"room","data":{"text":"hi"}}`}, exchange(t, b))
	assert.Empty(t, exchange(t, c), "not subscribed")

	exchange(t, b, `{"action":"unsub","topic":"room"}`, `{"action":"unsub","topic":"room"}`)
	exchange(t, c, `{"action":"say","text":"again"}`)
	assert.Equal(t, []string{`{"topic":"room","data":{"text":"again"}}`}, exchange(t, a))
	assert.Empty(t, exchange(t, b), "unsubscribed")

	a.Drop()
	require.ErrorIs(t, a.Channel().Subscribe("room"), wsroute.ErrClosed)
	assert.Empty(t, a.Channel().Topics(), "subscriptions are dropped on close")
	exchange(t, c, `{"action":"say","text":"nobody"}`)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, pubs, 3)
	assert.Equal(t, []int{1, 1, 0}, []int{pubs[0].Local, pubs[1].Local, pubs[2].Local})
}

func TestPublishAcrossRoutersInOneProcess(t *testing.T) {
	t.Parallel()
	broker := wsroute.NewMemoryBroker()
	r1 := chatRouter(t, wsroute.Options{Broker: broker})
	r2 := chatRouter(t, wsroute.Options{Broker: broker})
	a := wsroutetest.MustDial(t, r1, "/chat", nil)
	b := wsroutetest.MustDial(t, r2, "/chat", nil)
	exchange(t, a, `{"action":"sub","topic":"room"}`)
	exchange(t, b, `{"action":"sub","topic":"room"}`)
	exchange(t, a, `{"action":"say","text":"x"}`)
	assert.Empty(t, exchange(t, a), "excluded on its own node")
	assert.Equal(t, []string{`{"topic":"room","data":{"text":"x"}}`}, exchange(t, b), "delivered once on the other node")
	require.NoError(t, r2.Publish(t.Context(), "room", 1, wsroute.PublishOptions{}))
	assert.Equal(t, []string{`{"topic":"room","data":1}`}, exchange(t, a))
	assert.Equal(t, []string{`{"topic":"room","data":1}`}, exchange(t, b), "no duplicate on the publishing node")
}

func TestPublishEncodeError(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{})
	err := r.Publish(t.Context(), "t", func() {}, wsroute.PublishOptions{})
	assert.ErrorContains(t, err, `wsroute: publish "t": encode payload`)
}

func TestTopicNamesAreJSONQuoted(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{})
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	for _, topic := range []string{"bell\a", "vt\v", "bad\xff", `quote"back\slash`, "émoji 🎉"} {
		require.NoError(t, c.Channel().Subscribe(topic))
		require.NoError(t, r.Publish(t.Context(), topic, 1, wsroute.PublishOptions{}))
		got := exchange(t, c)
		require.Len(t, got, 1)
		var ev struct {
			Topic string `json:"topic"`
			Data  int    `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(got[0]), &ev), "event for %q: %s", topic, got[0])
		assert.Equal(t, strings.ToValidUTF8(topic, "\uFFFD"), ev.Topic)
	}
}
