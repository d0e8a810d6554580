package wsroute

import (
	"sync"
	"time"

	"github.com/coder/websocket"
)

// RateLimit limits how fast one connection's messages are handled, with a
// token bucket: each message costs its route's RouteConfig.Cost tokens (1 by
// default), the bucket holds Burst tokens and refills at Rate per second. A
// message that finds too few tokens is refused with rate_limited before it
// reaches middleware or a handler. A connection that keeps flooding — more
// than MaxRefused refusals within Window — is closed with 1008.
//
// It is a field of Limits and follows its rule: a zero field takes the value
// from the level above. The defaults let an interactive client (and a burst
// of 100 pipelined messages) never see rate_limited, while a tight loop of
// thousands of messages is refused within its first second and closed soon
// after.
type RateLimit struct {
	// Rate is the sustained messages (tokens) per second. Default 100;
	// negative disables rate limiting.
	Rate float64
	// Burst is the bucket's size: how many messages may come at once.
	// Default 200. A route whose Cost exceeds it could never run, so its
	// registration panics.
	Burst int
	// MaxRefused is how many refused messages within Window close the
	// channel with 1008 ("rate limit exceeded"). Default 100.
	MaxRefused int
	// Window is the period MaxRefused counts over. Default 10s.
	Window time.Duration
}

// over returns l with each zero field taken from base.
func (l RateLimit) over(base RateLimit) RateLimit {
	l.Rate = pick(l.Rate, base.Rate)
	l.Burst = pick(l.Burst, base.Burst)
	l.MaxRefused = pick(l.MaxRefused, base.MaxRefused)
	l.Window = pick(l.Window, base.Window)
	return l
}

// bucket is one channel's token bucket and flood counter.
type bucket struct {
	mu           sync.Mutex // guards the fields below (workers may run in parallel)
	tokens       float64
	last         time.Time // when tokens was computed
	refused      int       // refusals since refusedSince
	refusedSince time.Time
}

// take spends cost tokens if the bucket has them. Otherwise it counts a
// refusal and reports whether the connection is flooding.
func (b *bucket) take(l *RateLimit, cost int, now time.Time) (ok, flooding bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = float64(l.Burst)
	} else {
		b.tokens = min(float64(l.Burst), b.tokens+now.Sub(b.last).Seconds()*l.Rate)
	}
	b.last = now
	if b.tokens >= float64(cost) {
		b.tokens -= float64(cost)
		return true, false
	}
	if now.Sub(b.refusedSince) > l.Window {
		b.refused, b.refusedSince = 0, now
	}
	b.refused++
	return false, b.refused > l.MaxRefused
}

var errRateLimited = NewError(CodeRateLimited, "too many messages: slow down")

// rateStage refuses a message when the channel has run out of tokens, and
// closes a channel that keeps flooding.
func (c *Channel) rateStage(rt *route) error {
	l := &c.limits.RateLimit
	if l.Rate < 0 {
		return nil
	}
	cost := 1
	if rt != nil {
		cost = rt.cost
	}
	ok, flooding := c.limiter.take(l, cost, time.Now())
	if ok {
		return nil
	}
	if flooding {
		c.Close(websocket.StatusPolicyViolation, reasonRateLimit)
	}
	return errRateLimited
}
