package wsroute

import (
	"sync"
	"time"
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

// RouteRateLimit is a route's own token bucket, per connection
// (RouteConfig.RateLimit). Its refusals are rate_limited errors with
// retryAfterMs, like the channel's, and count towards the channel's flood
// rule (RateLimit.MaxRefused within Window).
type RouteRateLimit struct {
	// Rate is the sustained messages per second; zero or negative: no
	// limit of the route's own.
	Rate float64
	// Burst is the bucket's size. Default: Rate, at least 1.
	Burst int
}

// over returns l with each zero field taken from base.
func (l RateLimit) over(base RateLimit) RateLimit {
	l.Rate = pick(l.Rate, base.Rate)
	l.Burst = pick(l.Burst, base.Burst)
	l.MaxRefused = pick(l.MaxRefused, base.MaxRefused)
	l.Window = pick(l.Window, base.Window)
	return l
}

// limiter is one channel's rate state: its token bucket, the buckets of
// its routes that have a rate limit of their own, and the flood counter.
type limiter struct {
	mu           sync.Mutex // guards the fields below (workers may run in parallel)
	channel      bucket
	routes       []bucket  // by route slot; made on first use
	refused      int       // refusals since refusedSince
	refusedSince time.Time // start of the flood window
}

// bucket is one token bucket.
type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed; zero: full
}

// take spends cost tokens of a bucket of rate and burst if it has them;
// otherwise it reports how long until it will.
func (b *bucket) take(rate float64, burst, cost int, now time.Time) (bool, time.Duration) {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens >= float64(cost) {
		b.tokens -= float64(cost)
		return true, 0
	}
	return false, time.Duration((float64(cost) - b.tokens) / rate * float64(time.Second))
}

// rateStage refuses a message when the channel, or its route, has run out
// of tokens, telling the client when to retry, and closes a channel that
// keeps flooding. It runs before middleware: garbage costs tokens too.
func (c *Channel) rateStage(rt *route) error {
	l := &c.limits.RateLimit
	if l.Rate < 0 && (rt == nil || rt.limit == nil) {
		return nil
	}
	cost := 1
	if rt != nil {
		cost = rt.cost
	}
	now := time.Now()
	lim := &c.limiter
	lim.mu.Lock()
	ok, wait := true, time.Duration(0)
	if l.Rate >= 0 {
		ok, wait = lim.channel.take(l.Rate, l.Burst, cost, now)
	}
	if ok && rt != nil && rt.limit != nil {
		if lim.routes == nil {
			lim.routes = make([]bucket, c.route.routeBuckets)
		}
		ok, wait = lim.routes[rt.slot].take(rt.limit.Rate, rt.limit.Burst, 1, now)
	}
	flooding := false
	if !ok {
		if now.Sub(lim.refusedSince) > l.Window {
			lim.refused, lim.refusedSince = 0, now
		}
		lim.refused++
		flooding = lim.refused > l.MaxRefused
	}
	lim.mu.Unlock()
	if ok {
		return nil
	}
	if flooding {
		c.Close(StatusPolicyViolation, ReasonRateLimit)
	}
	return &Error{Code: CodeRateLimited, Message: "too many messages: slow down", RetryAfter: wait}
}
