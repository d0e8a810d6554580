package wsroute_test

import (
	"context"
	"regexp"
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

// count counts the frames equal to s once their "retryAfterMs" (which
// TestRouteRateLimit checks) is left out.
func count(frames []string, s string) int {
	n := 0
	for _, f := range frames {
		if retryAfter.ReplaceAllString(f, "") == s {
			n++
		}
	}
	return n
}

var retryAfter = regexp.MustCompile(`,"retryAfterMs":\d+`)

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
	// Time in a synctest bubble passes only while every goroutine waits
	// (here in time.Sleep), never while they compute: a flood sent in one go
	// arrives at a single instant. So the loop is modelled as bursts of ten
	// messages every 10ms of fake time — 1,000 a second, the slow end of a
	// tight loop — each handled before the next (Received flushes), and the
	// close is seen at the instant of the burst that caused it.
	t.Run("a tight loop is refused, then closed, within its first second", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, closed, handled := floodRouter(t)
			c := wsroutetest.MustDial(t, r, "/c", nil)
			const perBurst, every = 10, 10 * time.Millisecond
			start := time.Now()
			firstRefusal, closedAt := time.Duration(-1), time.Duration(-1)
			sent, refused := 0, 0
			for closedAt < 0 {
				require.Less(t, time.Since(start), 10*time.Second, "still open after 10s of 1,000 messages a second (%d refused)", refused)
				before := handled.Load()
				got := sendN(t, c, `{"action":"ping"}`, perBurst)
				sent += perBurst
				n := count(got, rateLimited)
				if n > 0 {
					refused += n
					if firstRefusal < 0 {
						firstRefusal = time.Since(start)
					}
				}
				select {
				case <-c.Channel().Closing(): // the flood rule closes from the handling worker, which Received waited for
					closedAt = time.Since(start)
				default:
					require.Equal(t, int64(perBurst-n), handled.Load()-before, "until the close, each message is handled or refused")
					time.Sleep(every)
				}
			}
			err := c.Wait(t.Context())
			assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%v", err)
			assert.GreaterOrEqual(t, firstRefusal, time.Duration(0))
			assert.Less(t, firstRefusal, time.Second, "refused within its first second")
			assert.Less(t, closedAt, time.Second, "closed within its first second")
			assert.Equal(t, 101, refused, "closed at the refusal that passed MaxRefused (100)")
			assert.Less(t, sent-refused-int(handled.Load()), perBurst, "only the closing burst's messages after the close went unhandled")
			require.Len(t, *closed, 1)
			assert.Equal(t, wsroute.CloseInfo{Code: websocket.StatusPolicyViolation, Reason: "rate limit exceeded"}, (*closed)[0])
		})
	})
	t.Run("a flood pipelined at once: the burst passes, then 101 refusals close it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, closed, handled := floodRouter(t)
			c := wsroutetest.MustDial(t, r, "/c", nil)
			got := sendN(t, c, `{"action":"ping"}`, 5000)
			require.True(t, isClosing(c.Channel()), "the flood rule closed the channel (%d refused)", count(got, rateLimited))
			err := c.Wait(t.Context())
			assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%v", err)
			assert.Equal(t, int64(200), handled.Load(), "the burst passes; the rest never reaches a handler")
			assert.Equal(t, 101, count(got, rateLimited), "refused until the flood rule closed it")
			require.Len(t, *closed, 1)
			assert.Equal(t, wsroute.CloseInfo{Code: websocket.StatusPolicyViolation, Reason: "rate limit exceeded"}, (*closed)[0])
		})
	})
}

// floodRouter returns a Router with the default limits whose channel /c has
// a public "ping" route; it records OnDisconnect and counts handled pings.
// The bubble's goroutines are synchronized by Received and Wait, so closed
// needs no lock.
func floodRouter(t *testing.T) (*wsroute.Router, *[]wsroute.CloseInfo, *atomic.Int64) {
	t.Helper()
	var closed []wsroute.CloseInfo
	var handled atomic.Int64
	r := newRouter(t, wsroute.Options{})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true,
		OnDisconnect: func(_ context.Context, _ *wsroute.Channel, i wsroute.CloseInfo) { closed = append(closed, i) }})
	wsroute.Handle(ch, "ping", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
		handled.Add(1)
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	return r, &closed, &handled
}

// isClosing reports whether c has started closing, without waiting.
func isClosing(c *wsroute.Channel) bool {
	select {
	case <-c.Closing():
		return true
	default:
		return false
	}
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
