package redisbroker_test

import (
	"context"
	"encoding/json"
	"sync"
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
