package wsroute_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// A route's own rate limit is a bucket per connection and route, beside the
// channel's; its refusals say when to retry.
func TestRouteRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := wsroute.New(wsroute.Options{})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
		public := wsroute.RouteConfig{Public: true}
		say := public
		say.RateLimit = wsroute.RouteRateLimit{Rate: 1, Burst: 2}
		wsroute.Handle(ch, "say", noop[struct{}, *struct{}], say)
		wsroute.Handle(ch, "history", noop[struct{}, *struct{}], public)
		alice := wsroutetest.MustDial(t, r, "/c", nil)
		bob := wsroutetest.MustDial(t, r, "/c", nil)

		got := exchange(t, alice, `{"action":"say","ref":1}`, `{"action":"say","ref":2}`, `{"action":"say","ref":3}`, `{"action":"history","ref":4}`)
		require.Len(t, got, 4)
		assert.Equal(t, `{"action":"say","ref":1}`, got[0])
		assert.Equal(t, `{"action":"say","ref":2}`, got[1])
		var refused struct {
			Error struct {
				Code         string `json:"code"`
				RetryAfterMs int64  `json:"retryAfterMs"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(got[2]), &refused))
		assert.Equal(t, wsroute.CodeRateLimited, refused.Error.Code, "the burst of 2 is spent")
		assert.Equal(t, int64(1000), refused.Error.RetryAfterMs, "one token at 1/s")
		assert.Equal(t, `{"action":"history","ref":4}`, got[3], "another route is not limited")
		assert.Equal(t, `{"action":"say","ref":5}`, one(t, bob, `{"action":"say","ref":5}`), "a bucket per connection")

		time.Sleep(time.Second)
		assert.Equal(t, `{"action":"say","ref":6}`, one(t, alice, `{"action":"say","ref":6}`), "refilled after retryAfterMs")
		alice.Drop()
		bob.Drop()
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

// The channel's limit reports when to retry too.
func TestChannelRateLimitRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := wsroute.New(wsroute.Options{Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{Rate: 4, Burst: 1}}})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
		wsroute.Handle(ch, "x", noop[struct{}, *struct{}], wsroute.RouteConfig{Public: true})
		c := wsroutetest.MustDial(t, r, "/c", nil)
		got := exchange(t, c, `{"action":"x"}`, `{"action":"x"}`)
		require.Len(t, got, 2)
		assert.Equal(t, `{"action":"x","error":{"code":"rate_limited","message":"too many messages: slow down","retryAfterMs":250}}`, got[1])
		c.Drop()
		require.NoError(t, r.Shutdown(context.Background()))
	})
}
