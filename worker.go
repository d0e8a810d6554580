package wsroute

import (
	"context"
	"maps"
)

// A worker drains the inbound queue in arrival order and exits when it is
// empty; deliver starts one when there is work (up to Parallel at once). It
// runs on the Router's goroutine pool. The last worker out of a closing
// channel queues the close frame, after the replies of the handlers that ran.

// runner is a worker while it runs: the goroutine it runs on and the
// message it handles. Session changes made on that goroutine belong to that
// message (see session.go).
type runner struct {
	gid uint64
	m   *Message // written and read on the runner's own goroutine only
}

// work is a worker. gid identifies the pool goroutine it runs on.
func (c *Channel) work(gid uint64) {
	defer c.tasks.Done()
	run := &runner{gid: gid}
	c.mu.Lock()
	c.runners = append(c.runners, run)
	for c.state.Load() == stateOpen && c.inQ.len() > 0 {
		f := c.inQ.pop()
		c.inBytes -= len(f.data)
		if c.paused {
			c.cond.Broadcast() // the reader waits for space
		}
		c.mu.Unlock()
		c.handle(f, run)
		c.mu.Lock()
	}
	c.workers--
	for i, r := range c.runners {
		if r == run {
			c.runners = append(c.runners[:i], c.runners[i+1:]...)
			break
		}
	}
	writer := false
	if c.state.Load() == stateClosing && c.workers == 0 {
		writer = c.queueCloseLocked()
	}
	if c.idleWaiters > 0 {
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	if writer {
		c.router.pool.run(c.writeLoop)
	}
}

// runsOn reports whether one of the channel's workers runs on goroutine gid.
func (c *Channel) runsOn(gid uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.runners {
		if r.gid == gid {
			return true
		}
	}
	return false
}

// runnerOn returns the message handled on goroutine gid, or nil.
func (c *Channel) runnerOn(gid uint64) *Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.runners {
		if r.gid == gid {
			return r.m
		}
	}
	return nil
}

// waitIdle waits until the channel has read `written` frames, handled them
// and written every reply, or has closed (or, closing, has written its close
// frame: ErrClosed). wsroutetest's Flush uses it.
func (c *Channel) waitIdle(ctx context.Context, written uint64) error {
	var closed bool
	err := c.waitFor(ctx, func() bool {
		idle := c.received >= written && c.inQ.len() == 0 && c.workers == 0 && !c.writing
		st := c.state.Load()
		closed = st == stateClosed || st == stateClosing && idle // closing and idle: the close frame is out
		return closed || idle
	})
	if err == nil && closed {
		return ErrClosed
	}
	return err
}

// settle waits until the whole Router is quiet: every channel has read what
// its peer sent (on in-memory connections, which can tell), handled it and
// written every frame — its own replies and what other channels' handlers
// pushed to it — or, if it began closing, has closed and ended its
// teardown (OnDisconnect, which may push to others too). It ends after two
// passes over every channel that find each quiet and none of them having
// read or been sent anything in between: no handler ran meanwhile that
// could have pushed to a channel already looked at. wsroutetest's Settle
// uses it.
func (r *Router) settle(ctx context.Context) error {
	var prev map[*Channel]uint64
	for {
		cur := make(map[*Channel]uint64)
		for _, c := range r.snapshot(true) {
			var n uint64
			var closed bool
			if err := c.waitFor(ctx, func() bool {
				switch st := c.state.Load(); {
				case st == stateClosed:
					closed = true
					return true
				case st == stateClosing: // not quiet: its reader has yet to end it and run the teardown
					return false
				case st == stateOpening,
					c.inQ.len() == 0 && c.workers == 0 && !c.writing && !c.unreadLocked():
					n = c.received + c.pushed
					return true
				}
				return false
			}); err != nil {
				return err
			}
			if closed { // its teardown (OnDisconnect) may still push to others
				if err := r.waitGone(ctx, c); err != nil {
					return err
				}
				continue
			}
			cur[c] = n
		}
		if maps.Equal(prev, cur) {
			return nil
		}
		prev = cur
	}
}

// waitFor waits, under mu, until done reports true or ctx ends. Workers,
// the writer, the reader and state changes wake it (they broadcast on cond
// while someone waits).
func (c *Channel) waitFor(ctx context.Context, done func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idleWaiters++
	defer func() { c.idleWaiters-- }()
	for !done() {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.cond.Wait()
	}
	return nil
}

// unreadLocked reports whether the peer has written frames that the reader
// has not delivered yet, on an in-memory connection (never on a network
// one, which cannot tell). It compares with received rather than asking
// what the pipe still holds, which would miss a frame the reader has taken
// from the pipe and not yet queued.
func (c *Channel) unreadLocked() bool {
	if p, ok := c.conn.(interface{ PeerWritten() uint64 }); ok {
		return c.received < p.PeerWritten()
	}
	return false
}
