package wsroute

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsroute/wsroute/internal/transport"
)

// A single writer per connection drains the send queue. Whoever queues a
// frame when no writer runs becomes the writer, inline: it hands the queued
// frames to the connection, which writes them with one system call and
// without waiting for the peer (transport.Wire). Only when the socket does
// not take everything, or the close frame is next, does a writer on the
// Router's pool take over and wait — bounded by WriteTimeout. So a reply,
// a Send and each subscriber of a Publish cost no goroutine hand-off while
// the peer keeps up, a slow peer never holds its sender, and a writer that
// wakes up drains every frame queued meanwhile in one write. Start and exit
// are decided under mu, so no frame is stranded. A full queue drops the
// peer as a slow consumer.

// push queues one frame for the peer and, if no writer runs, writes inline
// what the socket takes now. reply marks the final reply (or error frame) of
// a handler: it is the only push a closing channel accepts.
func (c *Channel) push(f outFrame, reply bool) error {
	c.mu.Lock()
	start, err := c.enqueueLocked(f, reply)
	if start {
		c.writeLocked(false)
	} else {
		c.mu.Unlock()
	}
	return err
}

// enqueue queues f and reports whether the caller must run the writer
// (c.write(false)): no writer ran, and the caller is now it.
func (c *Channel) enqueue(f outFrame, reply bool) (start bool, err error) {
	c.mu.Lock()
	start, err = c.enqueueLocked(f, reply)
	c.mu.Unlock()
	return start, err
}

// enqueueLocked is enqueue with mu held (and still held when it returns).
func (c *Channel) enqueueLocked(f outFrame, reply bool) (start bool, err error) {
	switch c.state.Load() {
	case stateOpening:
		return false, ErrNotOpen
	case stateClosing:
		if reply {
			break
		}
		fallthrough
	case stateClosed:
		return false, ErrClosed
	}
	if c.overflowsLocked(len(f.data)) {
		c.mu.Unlock()
		c.drop(ReasonSlowConsumer)
		c.mu.Lock() // the caller unlocks
		return false, ErrSlowConsumer
	}
	c.outQ.push(f)
	c.outBytes += len(f.data)
	c.pushed++
	return c.startWriterLocked(), nil
}

// overflowsLocked reports whether a frame of n bytes would make the peer a
// slow consumer. The byte budget (queued frames and the bytes the
// connection holds) always holds. The frame bound holds while the peer is
// not taking frames — a blocking write to it is in progress; while the
// server's own writer has yet to run (a busy scheduler can start it late)
// the backlog is not the peer's doing, and up to four times the bound may
// wait. mu must be held.
func (c *Channel) overflowsLocked(n int) bool {
	q := c.outQ.len()
	switch {
	case q == 0 && c.held == 0:
		return false // a frame is always accepted when nothing waits
	case c.outBytes+c.held+n > c.limits.SendBytes, q >= 4*c.limits.SendQueue:
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

// writeAll is the writer as the pool runs it: until the queue is empty,
// waiting for the peer as needed.
func (c *Channel) writeAll(uint64) { c.write(true) }

// batches recycles the lists of frames a writer hands to the connection.
var batches = sync.Pool{New: func() any { b := make([]transport.Frame, 0, 16); return &b }}

// maxInlineRounds bounds how often an inline writer goes back for frames
// queued while it wrote, so that others' pushes cannot keep it: the rest is
// left to a pool writer.
const maxInlineRounds = 4

// write drains the send queue. Inline (wait false) it never waits for the
// peer: what the connection holds after a write, the close frame, and what
// is left after maxInlineRounds are handed to a pool writer, which runs
// write(true) and so takes over this writer's task.
func (c *Channel) write(wait bool) {
	c.mu.Lock()
	c.writeLocked(wait)
}

// writeLocked is write with mu held; it returns with mu released.
func (c *Channel) writeLocked(wait bool) {
	var batch *[]transport.Frame // from batches while frames are handed over
	defer func() {
		if batch != nil {
			batches.Put(batch)
		}
	}()
	for round := 0; ; round++ {
		if c.state.Load() == stateClosed || (c.outQ.len() == 0 && c.held == 0) {
			discard := c.held > 0 // only a drop leaves bytes held
			c.held = 0
			c.writing = false
			if c.idleWaiters > 0 {
				c.cond.Broadcast()
			}
			c.mu.Unlock()
			if discard {
				c.conn.Discard()
			}
			c.tasks.Done()
			return
		}
		closeNext := c.outQ.len() > 0 && c.outQ.peek().close
		if !wait && (c.held > 0 || closeNext || round >= maxInlineRounds) {
			c.mu.Unlock()
			c.router.pool.run(c.writeLoop) // takes over this writer's task
			return
		}
		if c.held > 0 { // what the connection holds goes first, the close frame included
			c.mu.Unlock()
			c.beginWrite()
			err := c.conn.Flush()
			c.endWrite()
			c.mu.Lock()
			c.held = 0
			c.failedLocked(err)
			continue
		}
		if closeNext {
			c.outQ.pop()
			info := *c.info
			c.mu.Unlock()
			// Waits for the peer's close frame, bounded by coder/websocket;
			// the reader then ends the channel.
			_ = c.conn.Close(info.Code, info.Reason)
			c.mu.Lock()
			continue
		}
		if batch == nil {
			batch = batches.Get().(*[]transport.Frame)
		}
		frames, n := (*batch)[:0], 0
		for c.outQ.len() > 0 && !c.outQ.peek().close {
			f := c.outQ.pop()
			frames = append(frames, transport.Frame{Data: f.data, Binary: f.binary})
			n += len(f.data)
		}
		c.outBytes -= n
		c.held = n // counted until the connection says what it holds
		c.mu.Unlock()
		held, err := c.conn.Send(frames) // the next round flushes what it holds, or hands it over
		clear(frames)
		*batch = frames[:0]
		c.mu.Lock()
		c.held = held
		c.failedLocked(err)
	}
}

// failedLocked handles a failed write: what is queued or held can no longer
// be written. As coder/websocket does on a failed write, the connection is
// cut; the reader then ends the channel with what it finds — the peer's
// close frame if one raced with the write, or a lost connection — and a
// timeout has already recorded its reason. After a close frame nothing may
// be written (net.ErrClosed), which is no failure. mu must be held; it is
// released meanwhile.
func (c *Channel) failedLocked(err error) {
	if err == nil {
		return
	}
	c.outQ.clear()
	c.outBytes, c.held = 0, 0
	if !errors.Is(err, net.ErrClosed) {
		c.mu.Unlock()
		_ = c.conn.CloseNow()
		c.mu.Lock()
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
