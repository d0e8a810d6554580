package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
	"github.com/wsroute/wsroute/brokers/redisbroker"
)

// Two instances sharing a broker, as -broker redis|nats arranges across
// processes: each keeps its own todo list, and only the events cross.
func TestAcrossInstances(t *testing.T) {
	t.Parallel()
	prefix := fmt.Sprintf("todos-test-%d-", time.Now().UnixNano())
	tests := []struct {
		name      string
		newBroker func(t *testing.T) wsroute.Broker
	}{
		{"memory", func() func(*testing.T) wsroute.Broker {
			shared := wsroute.NewMemoryBroker()
			return func(*testing.T) wsroute.Broker { return shared }
		}()},
		{"redis", func(t *testing.T) wsroute.Broker {
			b, err := redisbroker.New(redisbroker.Options{Addr: envOr("WSROUTE_REDIS_ADDR", "127.0.0.1:6379"), Prefix: prefix, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			return b
		}},
		{"nats", func(t *testing.T) wsroute.Broker {
			b, err := natsbroker.New(natsbroker.Options{URL: envOr("WSROUTE_NATS_URL", "nats://127.0.0.1:4222"), Prefix: prefix + ".", Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			one, _ := newTestAppWith(t, tt.newBroker(t))
			two, _ := newTestAppWith(t, tt.newBroker(t))
			alice := subscribed(t, one, "alice-token")
			bob := subscribed(t, two, "bob-token")

			created := call(t, alice, `{"action":"create","title":"milk"}`)
			require.JSONEq(t, `{"action":"create","todo":{"id":"1","title":"milk","done":false,"owner":"alice"}}`, created)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			ev, err := bob.Read(ctx) // across nodes delivery is asynchronous
			require.NoError(t, err, "bob, on the other instance, sees the event")
			assert.JSONEq(t, `{"topic":"todos","data":{"event":"created","todo":{"id":"1","title":"milk","done":false,"owner":"alice"}}}`, string(ev))
			assert.JSONEq(t, `{"action":"list","todos":[]}`, call(t, bob, `{"action":"list"}`), "each instance keeps its own list")

			// Nothing for the sender: after a marker published by bob's instance
			// reaches alice, nothing else is waiting before it.
			require.NoError(t, two.router.Publish(t.Context(), "todos", json.RawMessage(`"marker"`), wsroute.PublishOptions{}))
			got, err := alice.Read(ctx)
			require.NoError(t, err)
			assert.JSONEq(t, `{"topic":"todos","data":"marker"}`, string(got), "the sender is excluded on every node")
		})
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
