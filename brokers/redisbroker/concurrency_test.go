package redisbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
	"github.com/wsroute/wsroute/internal/brokertest"
)

// The Router serializes broker calls per topic only, and Subscribe's
// context is the channel's, cancelled when it closes: the contract tests
// (TestContract) hold the adapter to that. What follows depends on how
// Redis answers.

// numSub returns how many Redis connections subscribe to channel.
func numSub(t testing.TB, rdb *redis.Client, channel string) int64 {
	t.Helper()
	n, err := rdb.PubSubNumSub(context.Background(), channel).Result()
	require.NoError(t, err)
	return n[channel]
}

// pair attaches sub, made with subOpts, and pub, two Brokers of one prefix,
// as nodes "sub" and "pub", and detaches them when the test ends.
func pair(t *testing.T, subOpts redisbroker.Options) (sub, pub *redisbroker.Broker, rec *brokertest.Recorder, prefix string) {
	t.Helper()
	if subOpts.Prefix == "" {
		subOpts.Prefix = uniquePrefix(t)
	}
	if subOpts.PublishTimeout == 0 {
		subOpts.PublishTimeout = 5 * time.Second // longer than any wait of these tests
	}
	sub = newBroker(t, subOpts)
	pub = newBroker(t, redisbroker.Options{Prefix: subOpts.Prefix})
	rec = brokertest.NewRecorder()
	sub.Attach("sub", rec.Deliver)
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
	p := brokertest.NewProxy(t, redisAddr())
	sub, pub, rec, prefix := pair(t, redisbroker.Options{Addr: p.Addr()})
	rdb := newRedisClient(t, redisAddr())
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel"))

	// A first Subscribe gives up while Redis's answers wait in the proxy.
	p.Down.Hold()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- sub.Subscribe(ctx, "sub", "room") }()
	brokertest.WaitUntil(t, "Redis has the first SUBSCRIBE", func() bool { return numSub(t, rdb, prefix+"room") == 1 })
	cancel()
	if err := brokertest.Result(t, res); err == nil {
		require.NoError(t, sub.Unsubscribe(t.Context(), "sub", "room")) // as the Router would
	}
	brokertest.WaitUntil(t, "the node is unsubscribed", func() bool { return numSub(t, rdb, prefix+"room") == 0 })

	// The next Subscribe's SUBSCRIBE waits in the proxy while the answers
	// to the first one arrive.
	p.Up.Hold()
	sent := p.UpBytes()
	go func() { res <- sub.Subscribe(t.Context(), "sub", "room") }()
	brokertest.WaitUntil(t, "the second SUBSCRIBE reaches the proxy", func() bool { return p.UpBytes() > sent })
	p.Down.Release()
	select {
	case err := <-res:
		t.Fatalf("Subscribe returned (%v) while Redis had not received its SUBSCRIBE (subscribers: %d)",
			err, numSub(t, rdb, prefix+"room"))
	case <-time.After(300 * time.Millisecond):
	}
	p.Up.Release()
	require.NoError(t, brokertest.Result(t, res))
	assert.EqualValues(t, 1, numSub(t, rdb, prefix+"room"))
	brokertest.PublishOn(t, pub, "pub", "room", `"after"`)
	assert.True(t, rec.WaitFor("room", `"after"`, 5*time.Second))
}
