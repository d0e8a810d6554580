package wsroute_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

const rateLimited = `{"action":"ping","error":{"code":"rate_limited","message":"too many messages: slow down"}}`

// rateRouter counts what reaches the handlers; "heavy" costs 50 tokens.
func rateRouter(t *testing.T, opts wsroute.Options, override wsroute.RateLimit) (*wsroute.Router, *atomic.Int64) {
	var handled atomic.Int64
	r := newRouter(t, opts)
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, Limits: wsroute.Limits{RateLimit: override}})
	count := func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
		handled.Add(1)
		return nil, nil
	}
	wsroute.Handle(ch, "ping", count, wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "heavy", count, wsroute.RouteConfig{Public: true, Cost: 50})
	return r, &handled
}

func sendN(t *testing.T, c *wsroutetest.Conn, frame string, n int) []string {
	t.Helper()
	for range n {
		if err := c.SendText(frame); err != nil {
			break
		}
	}
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = string(g)
	}
	return out
}

func count(frames []string, s string) int {
	n := 0
	for _, f := range frames {
		if f == s {
			n++
		}
	}
	return n
}

func TestRateLimitDefaults(t *testing.T) {
	t.Parallel()
	t.Run("a burst of 100 pipelined messages passes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, handled := rateRouter(t, wsroute.Options{}, wsroute.RateLimit{})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			got := sendN(t, c, `{"action":"ping"}`, 100)
			assert.Zero(t, count(got, rateLimited))
			assert.Equal(t, int64(100), handled.Load())
		})
	})
	t.Run("an interactive client is never limited", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, handled := rateRouter(t, wsroute.Options{}, wsroute.RateLimit{})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			for range 600 { // ten a second for a minute
				assert.Equal(t, `{"action":"ping"}`, one(t, c, `{"action":"ping"}`))
				time.Sleep(100 * time.Millisecond)
			}
			assert.Equal(t, int64(600), handled.Load())
		})
	})
	t.Run("a tight loop is refused, then closed, within its first second", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var closed []wsroute.CloseInfo
			r := newRouter(t, wsroute.Options{})
			var handled atomic.Int64
			ch := r.Channel("/c", wsroute.ChannelConfig{Public: true,
				OnDisconnect: func(_ context.Context, _ *wsroute.Channel, i wsroute.CloseInfo) { closed = append(closed, i) }})
			wsroute.Handle(ch, "ping", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
				handled.Add(1)
				return nil, nil
			}, wsroute.RouteConfig{Public: true})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			start := time.Now()
			got := sendN(t, c, `{"action":"ping"}`, 5000)
			err := c.Wait(t.Context())
			assert.Less(t, time.Since(start), time.Second)
			assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
			assert.Equal(t, int64(200), handled.Load(), "the burst passes; the rest never reaches a handler")
			assert.Equal(t, 101, count(got, rateLimited), "refused until the flood rule closed it")
			require.Len(t, closed, 1)
			assert.Equal(t, wsroute.CloseInfo{Code: websocket.StatusPolicyViolation, Reason: "rate limit exceeded"}, closed[0])
		})
	})
}

func TestRateLimitTokens(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		limit := wsroute.RateLimit{Rate: 10, Burst: 200, MaxRefused: 1000}
		r, handled := rateRouter(t, wsroute.Options{Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{Rate: -1}}}, limit)
		c := wsroutetest.MustDial(t, r, "/c", nil)
		got := sendN(t, c, `{"action":"heavy"}`, 5)
		assert.Equal(t, 1, count(got, strings.Replace(rateLimited, "ping", "heavy", 1)), "4 × 50 tokens spent the burst")
		assert.Equal(t, int64(4), handled.Load())
		time.Sleep(time.Second) // 10 tokens back
		got = sendN(t, c, `{"action":"ping"}`, 11)
		assert.Equal(t, 1, count(got, rateLimited))
		time.Sleep(5 * time.Second) // 50 back
		got = sendN(t, c, `{"action":"heavy"}`, 1)
		assert.Zero(t, count(got, rateLimited), "the channel's override, not the Router's disabled limit, applies")
	})
}
