package redisbroker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
	"github.com/wsroute/wsroute/internal/brokertest"
)

// TestSilentConnectionIsReplaced: a subscription connection that stops
// carrying anything, without any error, is detected by the PING health check
// and replaced, and its subscriptions restored.
func TestSilentConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	newRedisClient(t, redisAddr())
	proxy := brokertest.NewProxy(t, redisAddr())
	prefix := uniquePrefix(t)
	ba := newBroker(t, redisbroker.Options{Addr: proxy.Addr(), Prefix: prefix})
	redisbroker.SetHealthCheck(ba, 200*time.Millisecond, 300*time.Millisecond)
	na, nb := newNode(t, ba), newNode(t, newBroker(t, redisbroker.Options{Prefix: prefix}))
	a := na.dial(t)
	a.sub(t, "room")
	require.NoError(t, nb.r.Publish(t.Context(), "room", "before", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "before"), a.next(t))

	proxy.Freeze()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			require.NoError(t, nb.r.Publish(t.Context(), "room", "after", wsroute.PublishOptions{}))
		case f := <-a.frames:
			assert.Equal(t, event("room", "after"), f)
			return
		case <-deadline.C:
			t.Fatal("the silent subscription connection was not replaced within 15s")
		}
	}
}
