package redisbroker_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/brokers/redisbroker"
	"github.com/wsroute/wsroute/internal/brokertest"
)

// channelPrefix is the Redis channel prefix of a brokertest prefix.
func channelPrefix(p string) string { return "wsroute-test:" + p + ":" }

// TestContract runs the Broker contract tests every adapter shares.
func TestContract(t *testing.T) {
	t.Parallel()
	rdb := newRedisClient(t, redisAddr())
	brokertest.Run(t, brokertest.Config[*redisbroker.Broker]{
		Addr: redisAddr(),
		New: func(t testing.TB, o brokertest.Options) *redisbroker.Broker {
			opts := redisbroker.Options{
				Addr:           o.Addr,
				Prefix:         channelPrefix(o.Prefix),
				PublishTimeout: 5 * time.Second, // longer than any wait of the tests
			}
			if opts.Addr == "" {
				opts.Addr = redisAddr()
			}
			if o.CallersConnection {
				opts.Client = redis.NewClient(&redis.Options{Addr: opts.Addr})
				t.Cleanup(func() { _ = opts.Client.Close() })
			}
			return newBroker(t, opts)
		},
		// PUBSUB NUMSUB counts the subscriptions of every node of the
		// prefix: the tests ask about topics only one node subscribes to.
		Subscriptions: func(t testing.TB, _ *redisbroker.Broker, prefix string, topics []string) map[string]int {
			channels := make([]string, len(topics))
			for i, topic := range topics {
				channels[i] = channelPrefix(prefix) + topic
			}
			n, err := rdb.PubSubNumSub(context.Background(), channels...).Result()
			require.NoError(t, err)
			got := make(map[string]int, len(topics))
			for i, topic := range topics {
				got[topic] = int(n[channels[i]])
			}
			return got
		},
		ErrDetached: redisbroker.ErrDetached,
		// Redis drops a subscription when it gets to the UNSUBSCRIBE, which
		// Unsubscribe does not wait for, or notices a closed connection.
		Settle:            5 * time.Second,
		CallersConnection: true,
	})
}
