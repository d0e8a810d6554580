package natsbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
)

// The Router serializes broker calls per topic only: Subscribe and
// Unsubscribe of different topics run concurrently, Unsubscribe runs in the
// background (so possibly after Detach), and Subscribe's context is the
// channel's, cancelled when it closes. These tests hold the adapter to that.

// recorder collects the envelopes reaching an attached Broker.
type recorder struct {
	mu      sync.Mutex
	got     map[string][]string // topic → the data of each envelope, in order
	arrived chan struct{}       // signalled after each envelope
}

func newRecorder() *recorder {
	return &recorder{got: make(map[string][]string), arrived: make(chan struct{}, 1)}
}

func (r *recorder) deliver(e wsroute.Envelope) {
	r.mu.Lock()
	r.got[e.Topic] = append(r.got[e.Topic], string(e.Data))
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// count returns how many envelopes carrying data reached topic.
func (r *recorder) count(topic, data string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.got[topic] {
		if d == data {
			n++
		}
	}
	return n
}

// waitFor waits, at most wait, for an envelope carrying data on topic.
func (r *recorder) waitFor(topic, data string, wait time.Duration) bool {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for r.count(topic, data) == 0 {
		select {
		case <-r.arrived:
		case <-deadline.C:
			return false
		}
	}
	return true
}

// publishOn publishes data (JSON) on topic from b, attached as node.
func publishOn(t testing.TB, b *natsbroker.Broker, node, topic, data string) {
	t.Helper()
	require.NoError(t, b.Publish(context.Background(), wsroute.Envelope{Node: node, Topic: topic, Data: json.RawMessage(data)}))
}

// pair attaches sub, made with subOpts (the shared NATS unless URL or Conn
// is set), and pub, on the shared NATS, as nodes "sub" and "pub" of one
// prefix, and detaches them when the test ends.
func pair(t *testing.T, subOpts natsbroker.Options) (sub, pub *natsbroker.Broker, rec *recorder) {
	t.Helper()
	if subOpts.Prefix == "" {
		subOpts.Prefix = prefix()
	}
	if subOpts.URL == "" && subOpts.Conn == nil {
		subOpts.URL = natsURL(t)
	}
	var err error
	sub, err = natsbroker.New(subOpts)
	require.NoError(t, err)
	pub, err = natsbroker.New(natsbroker.Options{URL: natsURL(t), Prefix: subOpts.Prefix})
	require.NoError(t, err)
	rec = newRecorder()
	sub.Attach("sub", rec.deliver)
	pub.Attach("pub", func(wsroute.Envelope) {})
	t.Cleanup(func() {
		assert.NoError(t, sub.Detach("sub"))
		assert.NoError(t, pub.Detach("pub"))
	})
	waitStatus(t.Context(), t, sub.Conn(), nats.CONNECTED)
	waitStatus(t.Context(), t, pub.Conn(), nats.CONNECTED)
	return sub, pub, rec
}

// TestSubscribeCancelledBeforeConfirmation: a Subscribe whose context ends
// while NATS has not confirmed either fails and leaves nothing subscribed,
// or succeeds and then a publish made after it returned arrives.
func TestSubscribeCancelledBeforeConfirmation(t *testing.T) {
	t.Parallel()
	p := newProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
	sub, pub, rec := pair(t, natsbroker.Options{URL: "nats://" + p.addr()})
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel"))

	p.up.hold() // the SUB and the PING wait in the proxy
	sent := p.upBytes.Load()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- sub.Subscribe(ctx, "sub", "room") }()
	waitUntil(t, "the SUB reaches the proxy", func() bool { return p.upBytes.Load() > sent })
	cancel()
	err := result(t, res)
	publishOn(t, pub, "pub", "room", `"after"`)
	require.NoError(t, pub.Conn().Flush()) // the server has the publish
	p.up.release()

	if err == nil {
		assert.True(t, rec.waitFor("room", `"after"`, 5*time.Second),
			"Subscribe returned nil before NATS had the subscription: a publish made after it was lost")
		return
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{"sentinel"}, sub.Topics(), "a failed Subscribe leaves no subscription")
	// Another Subscribe's confirmation comes after the server went through
	// every earlier message of the connection, the undoing UNSUB included.
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "other"))
	publishOn(t, pub, "pub", "room", `"later"`)
	publishOn(t, pub, "pub", "sentinel", `"end"`)
	require.True(t, rec.waitFor("sentinel", `"end"`, wait))
	assert.Zero(t, rec.count("room", `"later"`))
}

// TestSubscribeCancelledAtOnce: a Subscribe whose context has ended fails
// without subscribing.
func TestSubscribeCancelledAtOnce(t *testing.T) {
	t.Parallel()
	sub, _, _ := pair(t, natsbroker.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, sub.Subscribe(ctx, "sub", "room"), context.Canceled)
	assert.Empty(t, sub.Topics())
	assert.Zero(t, sub.Conn().NumSubscriptions())
}

// TestSubscribeOvertakenByDetach: a Subscribe still waiting for NATS when
// Detach runs reports an error, at once: the node is subscribed to nothing.
func TestSubscribeOvertakenByDetach(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprint("caller's connection: ", own), func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
			opts := natsbroker.Options{Prefix: prefix(), URL: "nats://" + p.addr()}
			if own {
				opts.Conn = connect(t, opts.URL)
			}
			b, err := natsbroker.New(opts)
			require.NoError(t, err)
			b.Attach("n", func(wsroute.Envelope) {})
			waitStatus(t.Context(), t, b.Conn(), nats.CONNECTED)
			p.up.hold()
			sent := p.upBytes.Load()
			res := make(chan error, 1)
			go func() { res <- b.Subscribe(t.Context(), "n", "room") }()
			waitUntil(t, "the SUB reaches the proxy", func() bool { return p.upBytes.Load() > sent })
			require.NoError(t, b.Detach("n"))
			start := time.Now()
			assert.ErrorIs(t, result(t, res), wsroute.ErrBrokerUnavailable)
			assert.Less(t, time.Since(start), time.Second, "Detach wakes the waiting Subscribe")
			assert.Empty(t, b.Topics())
			p.up.release()
		})
	}
}

// TestCallsAfterDetach: after Detach, Subscribe and Publish fail,
// Unsubscribe does nothing, and none of them connects to NATS again.
func TestCallsAfterDetach(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprint("caller's connection: ", own), func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
			opts := natsbroker.Options{Prefix: prefix(), URL: "nats://" + p.addr()}
			if own {
				opts.Conn = connect(t, opts.URL)
			}
			b, err := natsbroker.New(opts)
			require.NoError(t, err)
			b.Attach("n", func(wsroute.Envelope) {})
			waitStatus(t.Context(), t, b.Conn(), nats.CONNECTED)
			ctx := t.Context()
			require.NoError(t, b.Subscribe(ctx, "n", "room"))
			require.NoError(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}))
			require.NoError(t, b.Detach("n"))
			if !own {
				waitUntil(t, "Detach closed the Broker's connection", func() bool { return p.open.Load() == 0 })
			}
			accepted := p.accepted.Load()

			assert.ErrorIs(t, b.Subscribe(ctx, "n", "room"), wsroute.ErrBrokerUnavailable)
			assert.ErrorIs(t, b.Subscribe(ctx, "n", "new"), wsroute.ErrBrokerUnavailable)
			assert.NoError(t, b.Unsubscribe(ctx, "n", "room"), "nothing is subscribed any more")
			assert.ErrorIs(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}), wsroute.ErrBrokerUnavailable)
			assert.NoError(t, b.Detach("n"))
			assert.Empty(t, b.Topics())
			assert.Zero(t, b.Conn().NumSubscriptions())
			time.Sleep(50 * time.Millisecond)
			assert.Equal(t, accepted, p.accepted.Load(), "no call after Detach connects to NATS")
			if !own {
				assert.Zero(t, p.open.Load())
			}
		})
	}
}

// TestDetachDuringCalls: Detach while goroutines subscribe and unsubscribe
// distinct topics: nothing panics or hangs, and every Subscribe begun after
// Detach returned fails.
func TestDetachDuringCalls(t *testing.T) {
	t.Parallel()
	const workers = 16
	b, err := natsbroker.New(natsbroker.Options{URL: natsURL(t), Prefix: prefix()})
	require.NoError(t, err)
	b.Attach("n", func(wsroute.Envelope) {})
	var detached atomic.Bool
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			topic := fmt.Sprint("t", i)
			for {
				after := detached.Load()
				start := time.Now()
				err := b.Subscribe(context.Background(), "n", topic)
				assert.Less(t, time.Since(start), time.Second, "Subscribe returned in time")
				if after {
					assert.ErrorIs(t, err, wsroute.ErrBrokerUnavailable, "Subscribe after Detach")
					return
				}
				if err == nil {
					assert.NoError(t, b.Unsubscribe(context.Background(), "n", topic))
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, b.Detach("n"))
	detached.Store(true)
	wg.Wait()
	assert.Empty(t, b.Topics())
}

// TestCancelledSubscribeDoesNotConfirmAnother: a channel whose Subscribe to
// a topic is cancelled (it closed) while NATS has not confirmed must not
// let a second channel's Subscribe to the same topic return before NATS
// has the subscription.
func TestCancelledSubscribeDoesNotConfirmAnother(t *testing.T) {
	t.Parallel()
	p := newProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
	pf := prefix()
	a := newNode(t, natsbroker.Options{URL: "nats://" + p.addr(), Prefix: pf})
	b := newNode(t, natsbroker.Options{Prefix: pf})
	waitStatus(t.Context(), t, a.b.Conn(), nats.CONNECTED)
	c1, c2 := a.dial(t), a.dial(t)

	p.up.hold()
	sent := p.upBytes.Load()
	c1.send(`{"action":"sub","topic":"room"}`)
	waitUntil(t, "c1's SUB reaches the proxy", func() bool { return p.upBytes.Load() > sent })
	c2.send(`{"action":"sub","topic":"room"}`)
	time.Sleep(50 * time.Millisecond) // c2's Subscribe waits for c1's
	_ = c1.c.CloseNow()               // cancels c1's Subscribe

	select {
	case reply := <-c2.frames: // returned while NATS may not have its subscription
		require.JSONEq(t, `{"action":"sub"}`, reply)
		b.publish(t, "room", "after", wsroute.PublishOptions{})
		require.NoError(t, b.b.Conn().Flush())
		p.up.release()
	case <-time.After(300 * time.Millisecond):
		p.up.release()
		require.JSONEq(t, `{"action":"sub"}`, c2.next())
		b.publish(t, "room", "after", wsroute.PublishOptions{})
	}
	c2.expect("room", "after")
}
