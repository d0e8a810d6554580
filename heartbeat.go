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
	d := c.limits.PingInterval
	if d < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateOpen {
		c.hbTimer = time.AfterFunc(d, c.heartbeat)
	}
}

// heartbeat pings the peer; it runs on the timer's goroutine.
func (c *Channel) heartbeat() {
	if !c.enter() {
		return
	}
	defer c.exit()
	l := c.limits
	c.mu.Lock()
	pauses := c.pauses
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.PongTimeout)
	err := c.conn.Ping(ctx)
	timedOut := ctx.Err() != nil
	cancel()
	if err != nil && !timedOut {
		return // the connection is closing; the reader ends the channel
	}
	c.mu.Lock()
	missing := err != nil && !c.paused && c.pauses == pauses && !errors.Is(err, context.Canceled)
	if !missing && c.hbTimer != nil && c.state.Load() == stateOpen {
		c.hbTimer.Reset(l.PingInterval)
	}
	c.mu.Unlock()
	if missing {
		c.drop(ReasonHeartbeatTimeout)
	}
}
