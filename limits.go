package wsroute

import "time"

// Limits bound what one connection may use. The Router's come from Options
// (where each field's default is documented); ChannelConfig.Limits
// overrides them for one channel: each non-zero field replaces the Router's.
type Limits struct {
	ReadLimit           int64         // largest inbound frame (1009 beyond)
	InboundQueue        int           // frames waiting for a handler before reading pauses
	SendQueue           int           // frames waiting for the peer before it is dropped as a slow consumer
	WriteTimeout        time.Duration // bound on one write
	PingInterval        time.Duration // heartbeat period; negative disables
	PongTimeout         time.Duration // time to answer a ping
	HandshakeTimeout    time.Duration // bound on the open lifecycle before the upgrade
	FirstMessageTimeout time.Duration // time to send a first message; negative: none
	MaxTopics           int           // topics one channel may subscribe; negative: no limit
}

const (
	defaultReadLimit        = 64 << 10
	defaultInboundQueue     = 32
	defaultSendQueue        = 256
	defaultWriteTimeout     = 10 * time.Second
	defaultPingInterval     = 30 * time.Second
	defaultPongTimeout      = 15 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
	defaultMaxTopics        = 100
)

// routerLimits returns the Router-wide limits of opts with defaults filled.
func routerLimits(o *Options) Limits {
	l := Limits{
		ReadLimit: o.ReadLimit, InboundQueue: o.InboundQueue, SendQueue: o.SendQueue,
		WriteTimeout: o.WriteTimeout, PingInterval: o.PingInterval, PongTimeout: o.PongTimeout,
		HandshakeTimeout: o.HandshakeTimeout, FirstMessageTimeout: o.FirstMessageTimeout, MaxTopics: o.MaxTopics,
	}
	def := Limits{
		ReadLimit: defaultReadLimit, InboundQueue: defaultInboundQueue, SendQueue: defaultSendQueue,
		WriteTimeout: defaultWriteTimeout, PingInterval: defaultPingInterval, PongTimeout: defaultPongTimeout,
		HandshakeTimeout: defaultHandshakeTimeout, FirstMessageTimeout: -1, MaxTopics: defaultMaxTopics,
	}
	return l.over(def)
}

// over returns l with its zero fields taken from base.
func (l Limits) over(base Limits) Limits {
	pick := func(v, b time.Duration) time.Duration {
		if v == 0 {
			return b
		}
		return v
	}
	pickInt := func(v, b int) int {
		if v == 0 {
			return b
		}
		return v
	}
	if l.ReadLimit == 0 {
		l.ReadLimit = base.ReadLimit
	}
	l.InboundQueue = max(pickInt(l.InboundQueue, base.InboundQueue), 1)
	l.SendQueue = max(pickInt(l.SendQueue, base.SendQueue), 1)
	l.WriteTimeout = pick(l.WriteTimeout, base.WriteTimeout)
	l.PingInterval = pick(l.PingInterval, base.PingInterval)
	l.PongTimeout = pick(l.PongTimeout, base.PongTimeout)
	l.HandshakeTimeout = pick(l.HandshakeTimeout, base.HandshakeTimeout)
	l.FirstMessageTimeout = pick(l.FirstMessageTimeout, base.FirstMessageTimeout)
	l.MaxTopics = pickInt(l.MaxTopics, base.MaxTopics)
	return l
}
