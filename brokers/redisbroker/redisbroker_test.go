package redisbroker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
)

// cluster returns n nodes, each with its own Broker, sharing one Redis prefix.
func cluster(t *testing.T, n int, opts redisbroker.Options) []*node {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = uniquePrefix(t)
	}
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = newNode(t, newBroker(t, opts))
	}
	return nodes
}

func TestFanOutAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3} {
		t.Run(strconv.Itoa(n)+" nodes", func(t *testing.T) {
			t.Parallel()
			nodes := cluster(t, n, redisbroker.Options{})
			publisher := nodes[n-1].dial(t)
			var subscribers []*client
			for _, nd := range nodes[:n-1] {
				c := nd.dial(t)
				c.sub(t, "room")
				subscribers = append(subscribers, c)
			}
			publisher.call(t, "say", map[string]any{"topic": "room", "text": "hi"})
			for _, c := range subscribers {
				assert.Equal(t, event("room", "hi"), c.next(t))
			}
			publisher.call(t, "say", map[string]any{"topic": "room", "text": "marker"})
			for _, c := range subscribers {
				assert.Equal(t, event("room", "marker"), c.next(t), "exactly once: the marker follows at once")
			}
		})
	}
}

func TestExclusionAcrossNodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		from int // the publishing node; the excluded channel is on node 1
	}{
		{"excluded on the publishing node", 1},
		{"excluded on another node", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nodes := cluster(t, 2, redisbroker.Options{})
			var all []*client
			for _, nd := range nodes {
				for range 2 {
					c := nd.dial(t)
					c.sub(t, "room")
					all = append(all, c)
				}
			}
			excluded := all[2] // the first client of node 1
			ch, ok := nodes[1].r.Lookup(excluded.id(t))
			require.True(t, ok)
			require.NoError(t, nodes[tt.from].r.Publish(t.Context(), "room", "x", wsroute.PublishOptions{Exclude: ch}))
			require.NoError(t, nodes[tt.from].r.Publish(t.Context(), "room", "marker", wsroute.PublishOptions{}))
			for i, c := range all {
				if c != excluded {
					assert.Equal(t, event("room", "x"), c.next(t), "client %d", i)
				}
				assert.Equal(t, event("room", "marker"), c.next(t), "client %d", i)
			}
		})
	}
}

func TestNoDuplicateOnThePublishingNode(t *testing.T) {
	t.Parallel()
	nodes := cluster(t, 2, redisbroker.Options{})
	local := nodes[1].dial(t)
	local.sub(t, "room")
	remote := nodes[0].dial(t)
	remote.sub(t, "room")

	local.send(t, map[string]any{"action": "say", "topic": "room", "text": "once"})
	assert.Equal(t, event("room", "once"), local.next(t), "delivered locally before the reply")
	assert.Equal(t, `{"action":"say"}`, local.next(t))
	require.NoError(t, nodes[1].r.Publish(t.Context(), "room", "marker", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "marker"), local.next(t), "no second copy through Redis")
	assert.Equal(t, event("room", "once"), remote.next(t))
	assert.Equal(t, event("room", "marker"), remote.next(t))
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix(t)
	nodes := cluster(t, 2, redisbroker.Options{Prefix: prefix})
	rdb := newRedisClient(t, redisAddr())
	numsub := func() int64 {
		n, err := rdb.PubSubNumSub(t.Context(), prefix+"room").Result()
		require.NoError(t, err)
		return n[prefix+"room"]
	}
	a1, a2 := nodes[0].dial(t), nodes[0].dial(t)
	for _, c := range []*client{a1, a2} {
		c.sub(t, "room")
		c.sub(t, "marker")
	}
	assert.EqualValues(t, 1, numsub(), "one Redis subscription for the node")
	publish := func(topic, text string) {
		t.Helper()
		require.NoError(t, nodes[1].r.Publish(t.Context(), topic, text, wsroute.PublishOptions{}))
	}

	a1.unsub(t, "room")
	publish("room", "x")
	publish("marker", "m1")
	assert.Equal(t, event("marker", "m1"), a1.next(t), "unsubscribed: nothing before the marker")
	assert.Equal(t, event("room", "x"), a2.next(t))
	assert.Equal(t, event("marker", "m1"), a2.next(t))
	assert.EqualValues(t, 1, numsub(), "a2 still subscribed")

	a2.unsub(t, "room")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for numsub() != 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the node's Redis subscription outlived its last local subscriber")
		case <-time.After(10 * time.Millisecond):
		}
	}
	publish("room", "y")
	publish("marker", "m2")
	assert.Equal(t, event("marker", "m2"), a1.next(t))
	assert.Equal(t, event("marker", "m2"), a2.next(t))
}

func TestOrderFromOnePublisher(t *testing.T) {
	t.Parallel()
	const n = 200 // under the default SendQueue (256): a slow client is never dropped
	nodes := cluster(t, 3, redisbroker.Options{})
	a, c := nodes[0].dial(t), nodes[2].dial(t)
	a.sub(t, "seq")
	c.sub(t, "seq")
	for i := range n {
		require.NoError(t, nodes[1].r.Publish(t.Context(), "seq", strconv.Itoa(i), wsroute.PublishOptions{}))
	}
	for _, cl := range []*client{a, c} {
		for i := range n {
			require.Equal(t, event("seq", strconv.Itoa(i)), cl.next(t))
		}
	}
}

func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	app1 := cluster(t, 2, redisbroker.Options{Prefix: uniquePrefix(t) + "app1:"})
	app2 := cluster(t, 2, redisbroker.Options{Prefix: uniquePrefix(t) + "app2:"})
	c1, c2 := app1[0].dial(t), app2[0].dial(t)
	c1.sub(t, "room")
	c2.sub(t, "room")
	require.NoError(t, app1[1].r.Publish(t.Context(), "room", "for app1", wsroute.PublishOptions{}))
	require.NoError(t, app2[1].r.Publish(t.Context(), "room", "for app2", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "for app1"), c1.next(t))
	assert.Equal(t, event("room", "for app2"), c2.next(t), "app1's publish did not reach app2")
	require.NoError(t, app2[1].r.Publish(t.Context(), "room", "marker", wsroute.PublishOptions{}))
	require.NoError(t, app1[1].r.Publish(t.Context(), "room", "marker", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "marker"), c1.next(t), "app2's publish did not reach app1")
	assert.Equal(t, event("room", "marker"), c2.next(t))
}

// deliveries records what reaches an attached Broker.
type deliveries chan wsroute.Envelope

func (d deliveries) next(t *testing.T) wsroute.Envelope {
	t.Helper()
	select {
	case e := <-d:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no envelope within 10s")
		return wsroute.Envelope{}
	}
}

// TestBrokerContract drives two Brokers directly, as the Router does.
func TestBrokerContract(t *testing.T) {
	t.Parallel()
	prefix := uniquePrefix(t)
	b1, b2 := newBroker(t, redisbroker.Options{Prefix: prefix}), newBroker(t, redisbroker.Options{Prefix: prefix})
	d1, d2 := make(deliveries, 16), make(deliveries, 16)
	b1.Attach("n1", func(e wsroute.Envelope) { d1 <- e })
	b2.Attach("n2", func(e wsroute.Envelope) { d2 <- e })
	t.Cleanup(func() {
		assert.NoError(t, b1.Detach("n1"))
		assert.NoError(t, b2.Detach("n2"))
	})
	ctx := t.Context()
	require.NoError(t, b1.Subscribe(ctx, "n1", "t"))
	require.NoError(t, b2.Subscribe(ctx, "n2", "t"))

	sent := wsroute.Envelope{Node: "n1", Topic: "t", Data: []byte(`{"a":1}`), Exclude: "n2-7"}
	require.NoError(t, b1.Publish(ctx, sent))
	assert.Equal(t, sent, d2.next(t), "envelope carried whole")
	require.NoError(t, b2.Publish(ctx, wsroute.Envelope{Node: "n2", Topic: "t", Data: []byte(`2`)}))
	assert.Equal(t, "n2", d1.next(t).Node, "b1 got b2's publish and not its own echo first")

	require.ErrorContains(t, b1.Subscribe(ctx, "other", "t"), "not the one attached")
	require.ErrorContains(t, b1.Detach("other"), "attached to node")
	assert.Panics(t, func() { b1.Attach("again", func(wsroute.Envelope) {}) }, "one Router per Broker")
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts redisbroker.Options
		err  string
	}{
		{"zero value", redisbroker.Options{}, ""},
		{"negative timeout", redisbroker.Options{PublishTimeout: -time.Second}, "negative PublishTimeout"},
		{"bad address", redisbroker.Options{Addr: "localhost"}, "not host:port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := redisbroker.New(tt.opts)
			if tt.err == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.err)
			}
		})
	}
}

// TestUnreachableRedis: New, Attach, Subscribe and Unsubscribe work without
// Redis; Publish fails fast with ErrBrokerUnavailable.
func TestUnreachableRedis(t *testing.T) {
	t.Parallel()
	b, err := redisbroker.New(redisbroker.Options{Addr: freeAddr(t)})
	require.NoError(t, err, "a Redis that is down is no error for New")
	require.ErrorContains(t, b.Subscribe(t.Context(), "n", "t"), "not attached")
	require.ErrorContains(t, b.Detach("n"), "never attached")
	b.Attach("n", func(wsroute.Envelope) {})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.Subscribe(ctx, "n", "t"), "recorded for the reconnection")
	require.NoError(t, b.Unsubscribe(ctx, "n", "t"))
	err = b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "t", Data: []byte(`1`)})
	require.ErrorIs(t, err, wsroute.ErrBrokerUnavailable)
	require.NoError(t, ctx.Err(), "Publish returned before the deadline")
	require.NoError(t, b.Detach("n"))
	require.NoError(t, b.Detach("n"), "idempotent")
	require.ErrorIs(t, b.Publish(ctx, wsroute.Envelope{Topic: "t"}), wsroute.ErrBrokerUnavailable)
	require.ErrorContains(t, b.Subscribe(ctx, "n", "t"), "detached")
}

func TestPublishCallerCancelled(t *testing.T) {
	t.Parallel()
	b := newBroker(t, redisbroker.Options{Prefix: uniquePrefix(t)})
	b.Attach("n", func(wsroute.Envelope) {})
	t.Cleanup(func() { assert.NoError(t, b.Detach("n")) })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "t", Data: []byte(`1`)})
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, wsroute.ErrBrokerUnavailable, "the caller gave up; Redis is fine")
}
