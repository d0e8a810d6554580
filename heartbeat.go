package wsroute

import (
	"context"
	"errors"
	"time"
)

// The heartbeat finds peers that are gone without closing (a dead network,
// a suspended laptop). Each channel has one timer; every PingInterval it
// sends a ping and waits up to PongTimeout for the pong, on the timer's own
// goroutine: coder/websocket's Ping blocks until the pong arrives, and it
// has no send-and-forget ping. So an idle connection costs no goroutine
// between pings, and one only while a ping is in flight.
//
// Pongs are processed only while the reader reads. When the reader is
// paused because the channel's inbound queue is full, an unanswered ping
// proves nothing: the timeout counts only if the reader did not pause during
// the wait.

// startHeartbeat arms the channel's heartbeat, after OnConnect.
func (c *Channel) startHeartbeat() {
	d := c.route.limits.PingInterval
	if d < 0 {
		return
	}
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	if c.state.Load() == stateOpen {
		c.hb = time.AfterFunc(d, c.heartbeat)
	}
}

// heartbeat pings the peer; it runs on the timer's goroutine.
func (c *Channel) heartbeat() {
	opts := &c.route.limits
	c.inMu.Lock()
	pauses := c.pauses
	c.inMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opts.PongTimeout)
	err := c.conn.Ping(ctx)
	timedOut := ctx.Err() != nil
	cancel()
	if err != nil && !timedOut {
		return // the connection is closing; the reader ends the channel
	}
	if err != nil {
		c.inMu.Lock()
		paused := c.paused || c.pauses != pauses
		c.inMu.Unlock()
		if !paused && !errors.Is(err, context.Canceled) {
			c.drop("heartbeat timeout")
			return
		}
	}
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	if c.hb != nil && c.state.Load() == stateOpen {
		c.hb.Reset(opts.PingInterval)
	}
}

// stopHeartbeat stops the timer at the end of the channel's life.
func (c *Channel) stopHeartbeat() {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	if c.hb != nil {
		c.hb.Stop()
		c.hb = nil
	}
}
