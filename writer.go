package wsroute

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// A single writer per connection drains the send queue. It is started when
// there is something to write and exits when the queue is empty; start and
// exit are decided under mu, so no frame is stranded. Senders never block on
// the peer: a full queue drops the peer as a slow consumer. Every write is
// bounded by WriteTimeout.

// push queues one frame for the peer. reply marks the final reply (or error
// frame) of a handler, sent by the worker that ran it: it is the only push
// a closing channel accepts, and the worker writes it itself when no writer
// runs, which saves a goroutine hand-off per message (it then waits on a
// slow peer, at most WriteTimeout, which only delays that peer's next
// message). Other senders never write.
func (c *Channel) push(f outFrame, reply bool) error {
	c.mu.Lock()
	switch c.state.Load() {
	case stateOpening:
		c.mu.Unlock()
		return ErrNotOpen
	case stateClosing:
		if reply {
			break
		}
		fallthrough
	case stateClosed:
		c.mu.Unlock()
		return ErrClosed
	}
	if c.overflowsLocked(len(f.data)) {
		c.mu.Unlock()
		c.drop(ReasonSlowConsumer)
		return ErrSlowConsumer
	}
	c.outQ.push(f)
	c.outBytes += len(f.data)
	c.pushed++
	start := c.startWriterLocked()
	queued := c.outQ.len()
	c.mu.Unlock()
	switch {
	case !start:
	case reply:
		c.write(queued)
	default:
		c.router.pool.run(c.writeLoop)
	}
	return nil
}

// overflowsLocked reports whether a frame of n bytes would make the peer a
// slow consumer. The byte budget always holds. The frame bound holds while
// the peer is not taking frames — a write to it is in progress; while the
// server's own writer has yet to run (a busy scheduler can start it late)
// the backlog is not the peer's doing, and up to four times the bound may
// wait. mu must be held.
func (c *Channel) overflowsLocked(n int) bool {
	q := c.outQ.len()
	switch {
	case q == 0:
		return false // a frame is always accepted into an empty queue
	case c.outBytes+n > c.limits.SendBytes, q >= 4*c.limits.SendQueue:
		return true
	}
	return q >= c.limits.SendQueue && c.writes.start.Load() != 0
}

// startWriterLocked marks a writer as running and reports whether the
// caller must start it. mu must be held.
func (c *Channel) startWriterLocked() bool {
	if c.writing {
		return false
	}
	c.writing = true
	c.tasks.Add(1)
	return true
}

// writeAll is the writer as the pool runs it: until the queue is empty.
func (c *Channel) writeAll(uint64) { c.write(0) }

// write drains the send queue. A limit above zero marks a worker writing
// inline: it writes what was queued when it started, then goes on only
// while no message of its connection waits to be handled — so broadcast
// load cannot hold the connection's next request (at most one more frame's
// write) — and otherwise hands the rest to a pool writer. Going on while
// nothing waits saves a hand-off to a goroutine that a busy scheduler may
// start late while events pile up.
func (c *Channel) write(limit int) {
	for n := 0; ; n++ {
		c.mu.Lock()
		if c.outQ.len() == 0 || c.state.Load() == stateClosed {
			c.writing = false
			if c.idleWaiters > 0 {
				c.cond.Broadcast()
			}
			c.mu.Unlock()
			c.tasks.Done()
			return
		}
		if limit > 0 && n >= limit && c.inQ.len() > 0 {
			c.mu.Unlock()
			c.router.pool.run(c.writeLoop) // takes over this writer's task
			return
		}
		f := c.outQ.pop()
		c.outBytes -= len(f.data)
		var info CloseInfo
		if f.close {
			info = *c.info
		}
		c.mu.Unlock()
		if f.close {
			// Waits for the peer's close frame, bounded by coder/websocket;
			// the reader then ends the channel.
			_ = c.conn.Close(info.Code, info.Reason)
			continue
		}
		typ := websocket.MessageText
		if f.binary {
			typ = websocket.MessageBinary
		}
		c.beginWrite()
		err := c.conn.Write(context.Background(), typ, f.data)
		c.endWrite()
		if err != nil {
			// coder/websocket closes the connection on a failed write; the
			// reader then ends the channel with what it finds there — the
			// peer's close frame if one raced with this write, or a lost
			// connection — and a timeout has already recorded its reason.
			// What is still queued cannot be written.
			c.mu.Lock()
			c.outQ.clear()
			c.outBytes = 0
			c.mu.Unlock()
		}
	}
}

// writeWatch enforces WriteTimeout with one lazily armed timer per channel
// instead of a deadline per write (that cost a timer, a context and one of
// coder/websocket's AfterFuncs per frame; then a timer Reset and Stop per
// frame). A write stores its start time; the timer, armed by the first write
// after it lapsed, checks the write in progress when it fires: too old → the
// peer is dropped as "write timeout" (recorded before the connection is cut,
// so the reader reports the right reason); still young → it re-arms for the
// rest; none → it lapses. Only one writer runs at a time. Times are
// monotonic readings, as offsets from the Router's creation.
type writeWatch struct {
	start atomic.Int64 // when the write in progress began (since Router.epoch) + 1; 0: none
	armed atomic.Bool  // the timer is pending (or firing and about to decide)
	timer *time.Timer  // created by the first write; guarded by armed
}

// now returns a monotonic reading for the write watch.
func (c *Channel) now() int64 { return int64(time.Since(c.router.epoch)) + 1 }

// beginWrite marks the start of a write.
func (c *Channel) beginWrite() {
	w := &c.writes
	w.start.Store(c.now())
	if w.armed.CompareAndSwap(false, true) {
		c.armWriteTimer(c.limits.WriteTimeout)
	}
}

// endWrite marks the end of a write.
func (c *Channel) endWrite() { c.writes.start.Store(0) }

func (c *Channel) armWriteTimer(d time.Duration) {
	w := &c.writes
	if w.timer == nil {
		w.timer = time.AfterFunc(d, c.checkWrite)
		return
	}
	w.timer.Reset(d)
}

// checkWrite runs when the write timer fires.
func (c *Channel) checkWrite() {
	if !c.enter() {
		return
	}
	defer c.exit()
	w := &c.writes
	timeout := c.limits.WriteTimeout
	if start := w.start.Load(); start != 0 {
		if age := time.Duration(c.now() - start); age >= timeout {
			c.drop(ReasonWriteTimeout)
		} else {
			c.armWriteTimer(timeout - age)
		}
		return
	}
	w.armed.Store(false)
	// A write that began after the check above saw the timer armed and did
	// not arm it: arm it for that write unless it has done so itself.
	if w.start.Load() != 0 && w.armed.CompareAndSwap(false, true) {
		c.armWriteTimer(timeout)
	}
}

// stopWriteWatch stops the timer at the end of the channel's life, once the
// writer and timer callbacks are gone.
func (c *Channel) stopWriteWatch() {
	if t := c.writes.timer; t != nil {
		t.Stop()
	}
}
