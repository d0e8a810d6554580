package redisbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
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
func (r *recorder) waitFor(t testing.TB, topic, data string, wait time.Duration) bool {
	t.Helper()
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

// publishOn publishes data (a JSON string) on topic from b, attached as node.
func publishOn(t testing.TB, b *redisbroker.Broker, node, topic, data string) {
	t.Helper()
	require.NoError(t, b.Publish(context.Background(), wsroute.Envelope{Node: node, Topic: topic, Data: json.RawMessage(data)}))
}

// numSub returns how many Redis connections subscribe to channel.
func numSub(t testing.TB, rdb *redis.Client, channel string) int64 {
	t.Helper()
	n, err := rdb.PubSubNumSub(context.Background(), channel).Result()
	require.NoError(t, err)
	return n[channel]
}

// pair attaches sub and pub, two Brokers of one prefix, as nodes "sub" and
// "pub", and detaches them when the test ends.
func pair(t *testing.T, subOpts redisbroker.Options) (sub, pub *redisbroker.Broker, rec *recorder, prefix string) {
	t.Helper()
	if subOpts.Prefix == "" {
		subOpts.Prefix = uniquePrefix(t)
	}
	if subOpts.PublishTimeout == 0 {
		subOpts.PublishTimeout = 5 * time.Second // longer than any wait of these tests
	}
	sub = newBroker(t, subOpts)
	pub = newBroker(t, redisbroker.Options{Prefix: subOpts.Prefix})
	rec = newRecorder()
	sub.Attach("sub", rec.deliver)
	pub.Attach("pub", func(wsroute.Envelope) {})
	t.Cleanup(func() {
		assert.NoError(t, sub.Detach("sub"))
		assert.NoError(t, pub.Detach("pub"))
	})
	return sub, pub, rec, subOpts.Prefix
}

// TestConfirmationIsTheSubscribesOwn: a Subscribe returns on the answer to
// its own SUBSCRIBE, not on a late answer to an earlier one of the topic.
func TestConfirmationIsTheSubscribesOwn(t *testing.T) {
	t.Parallel()
	p := newProxy(t, redisAddr())
	sub, pub, rec, prefix := pair(t, redisbroker.Options{Addr: p.addr()})
	rdb := newRedisClient(t, redisAddr())
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel"))

	// A first Subscribe gives up while Redis's answers wait in the proxy.
	p.down.hold()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- sub.Subscribe(ctx, "sub", "room") }()
	waitUntil(t, "Redis has the first SUBSCRIBE", func() bool { return numSub(t, rdb, prefix+"room") == 1 })
	cancel()
	if err := result(t, res); err == nil {
		require.NoError(t, sub.Unsubscribe(t.Context(), "sub", "room")) // as the Router would
	}
	waitUntil(t, "the node is unsubscribed", func() bool { return numSub(t, rdb, prefix+"room") == 0 })

	// The next Subscribe's SUBSCRIBE waits in the proxy while the answers
	// to the first one arrive.
	p.up.hold()
	sent := p.upBytes.Load()
	go func() { res <- sub.Subscribe(t.Context(), "sub", "room") }()
	waitUntil(t, "the second SUBSCRIBE reaches the proxy", func() bool { return p.upBytes.Load() > sent })
	p.down.release()
	select {
	case err := <-res:
		t.Fatalf("Subscribe returned (%v) while Redis had not received its SUBSCRIBE (subscribers: %d)",
			err, numSub(t, rdb, prefix+"room"))
	case <-time.After(300 * time.Millisecond):
	}
	p.up.release()
	require.NoError(t, result(t, res))
	assert.EqualValues(t, 1, numSub(t, rdb, prefix+"room"))
	publishOn(t, pub, "pub", "room", `"after"`)
	assert.True(t, rec.waitFor(t, "room", `"after"`, 5*time.Second))
}

// TestSubscribeCancelledBeforeConfirmation: a Subscribe whose context ends
// while Redis has not answered either fails and leaves nothing subscribed,
// or succeeds and then a publish made after it returned arrives.
func TestSubscribeCancelledBeforeConfirmation(t *testing.T) {
	t.Parallel()
	p := newProxy(t, redisAddr())
	sub, pub, rec, prefix := pair(t, redisbroker.Options{Addr: p.addr()})
	rdb := newRedisClient(t, redisAddr())
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel")) // the connection is up

	p.up.hold() // the SUBSCRIBE waits in the proxy
	sent := p.upBytes.Load()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- sub.Subscribe(ctx, "sub", "room") }()
	waitUntil(t, "the SUBSCRIBE reaches the proxy", func() bool { return p.upBytes.Load() > sent })
	cancel()
	err := result(t, res)
	publishOn(t, pub, "pub", "room", `"after"`)
	p.up.release()

	if err == nil {
		assert.True(t, rec.waitFor(t, "room", `"after"`, 5*time.Second),
			"Subscribe returned nil before Redis had the subscription: a publish made after it was lost")
		return
	}
	require.ErrorIs(t, err, context.Canceled)
	// Another Subscribe's confirmation comes after Redis went through every
	// earlier command of the connection, the undoing UNSUBSCRIBE included.
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "other"))
	assert.Zero(t, numSub(t, rdb, prefix+"room"), "a failed Subscribe leaves no subscription")
	publishOn(t, pub, "pub", "room", `"later"`)
	publishOn(t, pub, "pub", "sentinel", `"end"`)
	require.True(t, rec.waitFor(t, "sentinel", `"end"`, 10*time.Second))
	assert.Zero(t, rec.count("room", `"later"`))
}

// TestSubscribeCancelledAtOnce: a Subscribe whose context has ended fails
// without subscribing.
func TestSubscribeCancelledAtOnce(t *testing.T) {
	t.Parallel()
	sub, _, _, prefix := pair(t, redisbroker.Options{})
	rdb := newRedisClient(t, redisAddr())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, sub.Subscribe(ctx, "sub", "room"), context.Canceled)
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "other"))
	assert.Zero(t, numSub(t, rdb, prefix+"room"))
}

// TestCancelledSubscribeDoesNotConfirmAnother: a channel whose Subscribe to
// a topic is cancelled (it closed) while Redis has not answered must not
// let a second channel's Subscribe to the same topic return before Redis
// has the subscription.
func TestCancelledSubscribeDoesNotConfirmAnother(t *testing.T) {
	t.Parallel()
	p := newProxy(t, redisAddr())
	prefix := uniquePrefix(t)
	a := newNode(t, newBroker(t, redisbroker.Options{Addr: p.addr(), Prefix: prefix, PublishTimeout: 5 * time.Second}))
	b := newNode(t, newBroker(t, redisbroker.Options{Prefix: prefix}))
	c1, c2 := a.dial(t), a.dial(t)
	c1.sub(t, "sentinel") // the subscription connection is up

	p.up.hold()
	sent := p.upBytes.Load()
	c1.send(t, map[string]any{"action": "sub", "topic": "room"})
	waitUntil(t, "c1's SUBSCRIBE reaches the proxy", func() bool { return p.upBytes.Load() > sent })
	c2.send(t, map[string]any{"action": "sub", "topic": "room"})
	time.Sleep(50 * time.Millisecond) // c2's Subscribe waits for c1's
	_ = c1.c.CloseNow()               // cancels c1's Subscribe

	var reply string
	select {
	case reply = <-c2.frames: // returned while Redis may not have its subscription
		require.Equal(t, `{"action":"sub"}`, reply)
		require.NoError(t, b.r.Publish(t.Context(), "room", "after", wsroute.PublishOptions{}))
		p.up.release()
	case <-time.After(300 * time.Millisecond):
		p.up.release()
		require.Equal(t, `{"action":"sub"}`, c2.next(t))
		require.NoError(t, b.r.Publish(t.Context(), "room", "after", wsroute.PublishOptions{}))
	}
	assert.Equal(t, event("room", "after"), c2.next(t), "a publish made after Channel.Subscribe returned arrives")
}

// TestSubscribeOvertakenByDetach: a Subscribe still waiting for Redis when
// Detach runs reports an error: the node is subscribed to nothing.
func TestSubscribeOvertakenByDetach(t *testing.T) {
	t.Parallel()
	p := newProxy(t, redisAddr())
	b := newBroker(t, redisbroker.Options{Addr: p.addr(), Prefix: uniquePrefix(t), PublishTimeout: 5 * time.Second})
	b.Attach("n", func(wsroute.Envelope) {})
	require.NoError(t, b.Subscribe(t.Context(), "n", "sentinel"))
	p.down.hold()
	sent := p.upBytes.Load()
	res := make(chan error, 1)
	go func() { res <- b.Subscribe(t.Context(), "n", "room") }()
	waitUntil(t, "the SUBSCRIBE reaches the proxy", func() bool { return p.upBytes.Load() > sent })
	require.NoError(t, b.Detach("n"))
	start := time.Now()
	err := result(t, res)
	assert.ErrorContains(t, err, "detached")
	assert.Less(t, time.Since(start), time.Second, "Detach wakes the waiting Subscribe")
	p.down.release()
}

// TestCallsAfterDetach: after Detach, Subscribe and Publish fail,
// Unsubscribe does nothing, and none of them connects to Redis again.
func TestCallsAfterDetach(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprint("caller's client: ", own), func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, redisAddr())
			opts := redisbroker.Options{Addr: p.addr(), Prefix: uniquePrefix(t)}
			if own {
				opts.Client = redis.NewClient(&redis.Options{Addr: p.addr()})
				t.Cleanup(func() { _ = opts.Client.Close() })
			}
			b := newBroker(t, opts)
			b.Attach("n", func(wsroute.Envelope) {})
			ctx := t.Context()
			require.NoError(t, b.Subscribe(ctx, "n", "room"))
			require.NoError(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}))
			require.NoError(t, b.Detach("n"))
			if !own {
				waitUntil(t, "Detach closed the Broker's connections", func() bool { return p.open.Load() == 0 })
			}
			accepted := p.accepted.Load()

			assert.ErrorContains(t, b.Subscribe(ctx, "n", "room"), "detached")
			assert.ErrorContains(t, b.Subscribe(ctx, "n", "new"), "detached")
			assert.NoError(t, b.Unsubscribe(ctx, "n", "room"), "nothing is subscribed any more")
			assert.ErrorIs(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}), wsroute.ErrBrokerUnavailable)
			assert.NoError(t, b.Detach("n"))
			assert.ErrorContains(t, b.Subscribe(ctx, "other", "room"), "detached")
			time.Sleep(50 * time.Millisecond)
			assert.Equal(t, accepted, p.accepted.Load(), "no call after Detach connects to Redis")
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
	b := newBroker(t, redisbroker.Options{Prefix: uniquePrefix(t), PublishTimeout: 5 * time.Second})
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
				assert.Less(t, time.Since(start), 2*time.Second, "Subscribe returned in time")
				if after {
					assert.Error(t, err, "Subscribe after Detach")
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
}
