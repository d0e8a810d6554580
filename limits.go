package wsroute

import "time"

// Limits bound what one connection may use. Options.Limits sets them for
// every channel of a Router; ChannelConfig.Limits overrides them for one
// channel. The rule is the same for every field, the rate limit's included:
// a zero field takes the value from the level above (the Router's, then the
// defaults below); a non-zero field replaces it. Where a field can be
// switched off, a negative value does so.
//
// A connection cannot pin more memory than its byte budgets: past
// InboundBytes the reader stops reading (TCP pushes back on the client), past
// SendBytes the peer is dropped as a slow consumer.
type Limits struct {
	// ReadLimit is the largest inbound frame in bytes; a larger one closes
	// the channel with 1009. Default 64 KiB.
	ReadLimit int64
	// InboundQueue is how many received frames may wait for a handler before
	// the reader stops reading. Default 32.
	InboundQueue int
	// InboundBytes is how many bytes of received frames may wait for a
	// handler before the reader stops reading. A frame is always accepted
	// into an empty queue. Default 256 KiB.
	InboundBytes int
	// SendQueue is how many outbound frames may wait while the peer is not
	// taking them (a write to it is in progress); one more drops the peer
	// as a slow consumer. While the server's own writer has yet to run — a
	// busy scheduler may start it late, which is not the peer's doing — up
	// to four times as many may wait. Default 256.
	SendQueue int
	// SendBytes is how many bytes of outbound frames may wait for the peer;
	// a frame that would exceed it drops the peer as a slow consumer (a
	// frame is always accepted into an empty queue). Default 1 MiB.
	SendBytes int
	// WriteTimeout bounds every write to the peer; past it the peer is
	// dropped ("write timeout"). Default 10s.
	WriteTimeout time.Duration
	// CloseTimeout bounds a graceful close (Channel.Close, Router.CloseWhere,
	// session expiry): a handler still running that long after the close
	// began no longer holds the connection, which is dropped ("close
	// timeout"). Default 5s; negative: no bound.
	CloseTimeout time.Duration
	// PingInterval is how often the server pings each peer to detect one
	// that is gone without closing. Default 30s; negative disables pings.
	PingInterval time.Duration
	// PongTimeout is how long a peer has to answer a ping; a peer that does
	// not is dropped ("heartbeat timeout"). A pong that waits unread because
	// the channel's inbound queue is full does not count as missing.
	// Default 15s.
	PongTimeout time.Duration
	// HandshakeTimeout bounds the open lifecycle before the upgrade
	// (middleware, auth, permissions): past it the opening is refused with
	// 503. Default 10s.
	HandshakeTimeout time.Duration
	// FirstMessageTimeout, if positive, closes with 1008 a channel whose
	// client sends no message within it after the upgrade. Default: off
	// (negative switches off a value set above).
	FirstMessageTimeout time.Duration
	// MaxTopics is how many topics one channel may subscribe to; Subscribe
	// beyond it returns ErrTooManyTopics. Default 100; negative: no limit.
	MaxTopics int
	// RateLimit limits how fast the channel's messages are handled; see
	// RateLimit for its fields and defaults.
	RateLimit RateLimit
}

// defaultLimits are the defaults documented on Limits and RateLimit.
var defaultLimits = Limits{
	ReadLimit:           64 << 10,
	InboundQueue:        32,
	InboundBytes:        256 << 10,
	SendQueue:           256,
	SendBytes:           1 << 20,
	WriteTimeout:        10 * time.Second,
	CloseTimeout:        5 * time.Second,
	PingInterval:        30 * time.Second,
	PongTimeout:         15 * time.Second,
	HandshakeTimeout:    10 * time.Second,
	FirstMessageTimeout: -1,
	MaxTopics:           100,
	RateLimit: RateLimit{
		Rate:       100,
		Burst:      200,
		MaxRefused: 100,
		Window:     10 * time.Second,
	},
}

// over returns l with each zero field taken from base: the one rule by which
// ChannelConfig.Limits overrides Options.Limits, which overrides the defaults.
func (l Limits) over(base Limits) Limits {
	l.ReadLimit = pick(l.ReadLimit, base.ReadLimit)
	l.InboundQueue = pick(l.InboundQueue, base.InboundQueue)
	l.InboundBytes = pick(l.InboundBytes, base.InboundBytes)
	l.SendQueue = pick(l.SendQueue, base.SendQueue)
	l.SendBytes = pick(l.SendBytes, base.SendBytes)
	l.WriteTimeout = pick(l.WriteTimeout, base.WriteTimeout)
	l.CloseTimeout = pick(l.CloseTimeout, base.CloseTimeout)
	l.PingInterval = pick(l.PingInterval, base.PingInterval)
	l.PongTimeout = pick(l.PongTimeout, base.PongTimeout)
	l.HandshakeTimeout = pick(l.HandshakeTimeout, base.HandshakeTimeout)
	l.FirstMessageTimeout = pick(l.FirstMessageTimeout, base.FirstMessageTimeout)
	l.MaxTopics = pick(l.MaxTopics, base.MaxTopics)
	l.RateLimit = l.RateLimit.over(base.RateLimit)
	return l
}

// effective returns the limits as the channel's mechanism uses them: the
// queue bounds are at least 1, a non-positive budget means none.
func (l Limits) effective() Limits {
	l.InboundQueue = max(l.InboundQueue, 1)
	l.SendQueue = max(l.SendQueue, 1)
	if l.InboundBytes <= 0 {
		l.InboundBytes = int(^uint(0) >> 1)
	}
	if l.SendBytes <= 0 {
		l.SendBytes = int(^uint(0) >> 1)
	}
	return l
}

// pick returns v, or base when v is zero.
func pick[T comparable](v, base T) T {
	var zero T
	if v == zero {
		return base
	}
	return v
}
