package wsroute

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// read is the reader, run on the channel's own goroutine until its
// connection ends: it reads frames with a non-cancellable context (a
// cancellable one costs work per read and drops the socket without a close
// frame when it ends), refuses invalid UTF-8 and binary frames (unless the
// channel has a binary handler), and queues the rest for a worker. It never
// runs handlers. When reading fails, the channel ends and read tears it
// down.
func (c *Channel) read() {
	first := c.firstTimer != nil
	for {
		typ, data, err := c.conn.Read(context.Background())
		if first {
			first = false
			c.stopFirstTimer()
		}
		if err != nil {
			info := peerCloseInfo(err)
			if info.Code == websocket.StatusMessageTooBig {
				c.drainClose(info)
			}
			c.end(info, closeDrop)
			c.finish()
			return
		}
		c.take(typ, data)
	}
}

// take checks a frame read — binary frames go to the binary handler or
// close with 1008, text must be UTF-8 or closes with 1007 — and delivers it.
func (c *Channel) take(typ websocket.MessageType, data []byte) {
	switch {
	case typ != websocket.MessageText && c.route.binary != nil:
		c.deliver(inFrame{data: data, binary: true}, true)
	case typ != websocket.MessageText:
		c.deliver(inFrame{}, false)
		c.Close(websocket.StatusPolicyViolation, ReasonBinary)
	case !utf8.Valid(data):
		c.deliver(inFrame{}, false)
		c.Close(websocket.StatusInvalidFramePayloadData, ReasonInvalidUTF8)
	default:
		c.deliver(inFrame{data: data}, true)
	}
}

// deliver counts a frame read and, if it is to be handled (ok) and the
// channel is open, queues it, starting a worker when fewer than Parallel
// run. While the queue is full, in frames or in bytes, it waits: the reader
// stops reading and TCP pushes back on the client. A frame is always
// accepted into an empty queue.
func (c *Channel) deliver(f inFrame, ok bool) {
	c.mu.Lock()
	if ok && c.full(len(f.data)) {
		c.paused = true // pongs wait unread meanwhile: see heartbeat
		c.pauses++
		for c.full(len(f.data)) {
			c.cond.Wait()
		}
		c.paused = false
	}
	c.received++
	if !ok || c.state.Load() != stateOpen {
		if c.idleWaiters > 0 {
			c.cond.Broadcast()
		}
		c.mu.Unlock()
		return
	}
	c.inQ.push(f)
	c.inBytes += len(f.data)
	start := c.workers < c.route.cfg.Parallel
	if start {
		c.workers++
		c.tasks.Add(1)
	}
	c.mu.Unlock()
	if start {
		c.router.pool.run(c.workerLoop)
	}
}

// full reports whether the inbound queue has no room for a frame of n
// bytes while the channel is open. mu must be held.
func (c *Channel) full(n int) bool {
	return c.state.Load() == stateOpen && c.inQ.len() > 0 &&
		(c.inQ.len() >= c.limits.InboundQueue || c.inBytes+n > c.limits.InboundBytes)
}

// startFirstTimer arms FirstMessageTimeout, before reading starts.
func (c *Channel) startFirstTimer() {
	d := c.limits.FirstMessageTimeout
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateOpen {
		c.firstTimer = time.AfterFunc(d, func() {
			if c.enter() {
				defer c.exit()
				c.Close(websocket.StatusPolicyViolation, ReasonNoMessage)
			}
		})
	}
}

func (c *Channel) stopFirstTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstTimer != nil {
		c.firstTimer.Stop()
		c.firstTimer = nil
	}
}

// drainClose completes the close handshake that coder/websocket began when
// it refused a frame too big (it sent the 1009 close frame itself). Closing
// at once, with input unread or a pong on its way, makes the kernel reset
// the connection, and the peer can lose the close frame; the handshake
// reads what the peer still sends until its close frame. coder/websocket
// does not bound that read (a header may claim a gigabyte), so a read
// deadline on the hijacked connection bounds it to a second.
func (c *Channel) drainClose(info CloseInfo) {
	if c.netConn != nil {
		_ = c.netConn.SetReadDeadline(time.Now().Add(time.Second))
	}
	_ = c.conn.Close(info.Code, info.Reason)
}
