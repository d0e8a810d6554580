package natsbroker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
)

func TestFanOutAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprint(nodes, " nodes"), func(t *testing.T) {
			t.Parallel()
			p := prefix()
			ns := make([]*node, nodes)
			for i := range ns {
				ns[i] = newNode(t, natsbroker.Options{Prefix: p})
			}
			pub := ns[1].dial(t) // a client on node B whose handler publishes
			var subs []*client
			for i, n := range ns {
				if i != 1 {
					c := n.dial(t)
					c.sub("news")
					subs = append(subs, c)
				}
			}
			require.JSONEq(t, `{"action":"pub"}`, pub.call("pub", map[string]any{"topic": "news", "data": "hello"}))
			require.JSONEq(t, `{"action":"pub"}`, pub.call("pub", map[string]any{"topic": "news", "data": "marker"}))
			for _, c := range subs {
				c.expect("news", "hello")
				c.expect("news", "marker") // not a second "hello"
			}
		})
	}
}

func TestExclusionAcrossNodes(t *testing.T) {
	t.Parallel()
	p := prefix()
	a, b := newNode(t, natsbroker.Options{Prefix: p}), newNode(t, natsbroker.Options{Prefix: p})
	a1, a2, b1 := a.dial(t), a.dial(t), b.dial(t)
	for _, c := range []*client{a1, a2, b1} {
		c.sub("room")
	}

	// a1's handler publishes excluding a1: the other node delivers to all of its own.
	require.JSONEq(t, `{"action":"pub"}`, a1.call("pub", map[string]any{"topic": "room", "data": "from a1", "exclude": true}))
	a2.expect("room", "from a1")
	b1.expect("room", "from a1")
	b.publish(t, "room", "marker 1", wsroute.PublishOptions{})
	for _, c := range []*client{a1, a2, b1} {
		c.expect("room", "marker 1") // a1: and not "from a1" first
	}

	// Node B publishes excluding a channel of node A: the exclusion rides in
	// the envelope and node A applies it.
	a1ch, ok := a.r.Lookup(a1.id())
	require.True(t, ok)
	b.publish(t, "room", "from b", wsroute.PublishOptions{Exclude: a1ch})
	a2.expect("room", "from b")
	b1.expect("room", "from b")
	b.publish(t, "room", "marker 2", wsroute.PublishOptions{})
	for _, c := range []*client{a1, a2, b1} {
		c.expect("room", "marker 2") // a1: and not "from b" first
	}
}

func TestNoDuplicateOnPublishingNode(t *testing.T) {
	t.Parallel()
	u := natsURL(t)
	tests := []struct {
		name string
		opts func(t *testing.T) natsbroker.Options
	}{
		{"connection made by New (no echo)", func(*testing.T) natsbroker.Options { return natsbroker.Options{} }},
		{"connection of the caller (echo on)", func(t *testing.T) natsbroker.Options { return natsbroker.Options{Conn: connect(t, u)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := prefix()
			a := newNode(t, natsbroker.Options{Prefix: p})
			opts := tt.opts(t)
			opts.Prefix = p
			b := newNode(t, opts)
			a1, b1 := a.dial(t), b.dial(t)
			a1.sub("t")
			b1.sub("t")
			b.publish(t, "t", "once", wsroute.PublishOptions{})
			b1.expect("t", "once")
			a1.expect("t", "once")
			// a1 has the message, so the server has sent it, and any echo of
			// it, before A's marker: B's echo would come first.
			a.publish(t, "t", "marker", wsroute.PublishOptions{})
			b1.expect("t", "marker")
			a1.expect("t", "marker")
		})
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	t.Parallel()
	p := prefix()
	a, b := newNode(t, natsbroker.Options{Prefix: p}), newNode(t, natsbroker.Options{Prefix: p})
	a1, a2 := a.dial(t), a.dial(t)
	a1.sub("t")
	a1.sub("m")
	a2.sub("t")
	assert.Equal(t, []string{"m", "t"}, a.b.Topics())
	assert.Equal(t, 2, a.b.Conn().NumSubscriptions())

	a1.unsub("t") // a2 is still on t: the node stays subscribed
	assert.Equal(t, []string{"m", "t"}, a.b.Topics())
	b.publish(t, "t", "for a2", wsroute.PublishOptions{})
	a2.expect("t", "for a2")
	b.publish(t, "m", "marker 1", wsroute.PublishOptions{})
	a1.expect("m", "marker 1")

	a2.unsub("t") // the last local subscriber leaves; the Router unsubscribes in the background
	require.Eventually(t, func() bool {
		return slices.Equal([]string{"m"}, a.b.Topics()) && a.b.Conn().NumSubscriptions() == 1
	}, wait, 10*time.Millisecond, "the node's subscription to t outlived its last subscriber")
	b.publish(t, "t", "nobody", wsroute.PublishOptions{})
	b.publish(t, "m", "marker 2", wsroute.PublishOptions{})
	a1.expect("m", "marker 2")

	require.NoError(t, a1.c.CloseNow()) // closing drops the channel's topics
	require.Eventually(t, func() bool {
		return len(a.b.Topics()) == 0 && a.b.Conn().NumSubscriptions() == 0
	}, wait, 10*time.Millisecond, "the node's subscriptions outlived its last subscriber")
}

func TestOrder(t *testing.T) {
	t.Parallel()
	const n = 300
	p := prefix()
	a, b, c := newNode(t, natsbroker.Options{Prefix: p}), newNode(t, natsbroker.Options{Prefix: p}), newNode(t, natsbroker.Options{Prefix: p})
	a1, c1 := a.dial(t), c.dial(t)
	a1.sub("seq")
	c1.sub("seq")
	for i := range n {
		b.publish(t, "seq", i, wsroute.PublishOptions{})
	}
	for _, cl := range []*client{a1, c1} {
		for i := range n {
			cl.expect("seq", i)
		}
	}
}

func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	p1, p2 := prefix(), prefix()
	a, b := newNode(t, natsbroker.Options{Prefix: p1}), newNode(t, natsbroker.Options{Prefix: p1})
	c, d := newNode(t, natsbroker.Options{Prefix: p2}), newNode(t, natsbroker.Options{Prefix: p2})
	a1, c1 := a.dial(t), c.dial(t)
	a1.sub("t")
	c1.sub("t")
	b.publish(t, "t", "app 1", wsroute.PublishOptions{})
	a1.expect("t", "app 1")
	d.publish(t, "t", "app 2", wsroute.PublishOptions{})
	c1.expect("t", "app 2") // not "app 1"
	assert.True(t, strings.HasPrefix(a.b.Subject("t"), p1))
}

// taggedCodec is JSON behind a tag, counting its calls.
type taggedCodec struct{ enc, dec atomic.Int64 }

const tag = "WSR1:"

func (c *taggedCodec) Encode(e wsroute.Envelope) ([]byte, error) {
	c.enc.Add(1)
	b, err := wsroute.JSONCodec{}.Encode(e)
	return append([]byte(tag), b...), err
}

func (c *taggedCodec) Decode(b []byte) (wsroute.Envelope, error) {
	c.dec.Add(1)
	rest, ok := strings.CutPrefix(string(b), tag)
	if !ok {
		return wsroute.Envelope{}, errors.New("untagged")
	}
	return wsroute.JSONCodec{}.Decode([]byte(rest))
}

func TestCustomCodec(t *testing.T) {
	t.Parallel()
	p := prefix()
	codec := &taggedCodec{}
	a, b := newNode(t, natsbroker.Options{Prefix: p, Codec: codec}), newNode(t, natsbroker.Options{Prefix: p, Codec: codec})
	rawConn := connect(t, natsURL(t))
	raw, err := rawConn.SubscribeSync(p + ">")
	require.NoError(t, err)
	require.NoError(t, rawConn.Flush())
	a1 := a.dial(t)
	a1.sub("t")
	b.publish(t, "t", map[string]int{"n": 1}, wsroute.PublishOptions{})
	a1.expect("t", map[string]int{"n": 1})
	m, err := raw.NextMsg(wait)
	require.NoError(t, err)
	assert.Equal(t, b.b.Subject("t"), m.Subject)
	assert.True(t, strings.HasPrefix(string(m.Data), tag), "payload %q", m.Data)
	assert.Equal(t, int64(1), codec.enc.Load())
	assert.Equal(t, int64(1), codec.dec.Load())
}

func TestTopicNames(t *testing.T) {
	t.Parallel()
	p := prefix()
	a, b := newNode(t, natsbroker.Options{Prefix: p}), newNode(t, natsbroker.Options{Prefix: p})
	topics := []string{"a.b", "with space", "*", ">", "a.*.>", "", "tab\tand\nnewline", "é/ü ✓", strings.Repeat("long.", 100)}
	a1 := a.dial(t)
	for _, topic := range topics {
		a1.sub(topic)
	}
	assert.Len(t, a.b.Topics(), len(topics))
	for i, topic := range topics {
		subject := a.b.Subject(topic)
		assert.Len(t, strings.Split(subject, "."), 3, "one token after the prefix: %q", subject)
		assert.NotContains(t, subject, " ")
		b.publish(t, topic, i, wsroute.PublishOptions{})
		a1.expect(topic, i) // and nothing from a wildcard match before it
	}
	assert.NotEqual(t, a.b.Subject(strings.Repeat("x", 300)), a.b.Subject(strings.Repeat("x", 301)))
}

func TestOptions(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"a b", "a.*", "a.>", "a..b", ".a", "a\tb"} {
		_, err := natsbroker.New(natsbroker.Options{Prefix: p, URL: "nats://127.0.0.1:1"})
		assert.ErrorContains(t, err, "invalid Prefix", p)
	}
	_, err := natsbroker.New(natsbroker.Options{URL: "nats://[::1"})
	assert.Error(t, err, "malformed URL")

	nc := connect(t, natsURL(t))
	b, err := natsbroker.New(natsbroker.Options{Conn: nc, Prefix: "app"})
	require.NoError(t, err)
	assert.Same(t, nc, b.Conn())
	assert.False(t, b.Owned())
	assert.Equal(t, "app.dA", b.Subject("t"))
	require.NoError(t, b.Detach("never attached"))
	assert.False(t, nc.IsClosed(), "the caller's connection stays open")

	closed := connect(t, natsURL(t))
	closed.Close()
	_, err = natsbroker.New(natsbroker.Options{Conn: closed})
	assert.ErrorContains(t, err, "closed")

	d, err := natsbroker.New(natsbroker.Options{URL: natsURL(t)})
	require.NoError(t, err)
	assert.Equal(t, "wsroute.dA", d.Subject("t"))
	assert.True(t, d.Owned())
	require.NoError(t, d.Detach(""))
	assert.True(t, d.Conn().IsClosed())
}

func TestBrokerCalls(t *testing.T) {
	t.Parallel()
	b, err := natsbroker.New(natsbroker.Options{URL: natsURL(t), Prefix: prefix()})
	require.NoError(t, err)
	r := wsroute.New(wsroute.Options{Broker: b})
	assert.Panics(t, func() { b.Attach("other", func(wsroute.Envelope) {}) }, "one Broker per Router")
	ctx := t.Context()
	assert.ErrorContains(t, b.Subscribe(ctx, "other", "t"), "not attached")
	assert.ErrorContains(t, b.Detach("other"), "not attached")
	big := make([]byte, b.Conn().MaxPayload()+1)
	for i := range big {
		big[i] = '1'
	}
	err = b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "t", Data: big})
	require.ErrorIs(t, err, nats.ErrMaxPayload)
	assert.NotErrorIs(t, err, wsroute.ErrBrokerUnavailable, "a request error is not an outage")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, b.Publish(cctx, wsroute.Envelope{Topic: "t", Data: []byte("1")}), context.Canceled)

	require.NoError(t, r.Shutdown(ctx))
	assert.True(t, b.Conn().IsClosed())
	assert.ErrorIs(t, b.Publish(ctx, wsroute.Envelope{Topic: "t", Data: []byte("1")}), wsroute.ErrBrokerUnavailable)
	assert.ErrorIs(t, b.Subscribe(ctx, "x", "t"), wsroute.ErrBrokerUnavailable)
	assert.NoError(t, b.Detach("x"), "Detach again")
}
