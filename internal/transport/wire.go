package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"sync"
	"syscall"

	"github.com/coder/websocket"
)

// Frame is one data frame for the peer.
type Frame struct {
	Data   []byte
	Binary bool
}

// Wire carries a server connection's data frames to its socket itself,
// beside coder/websocket, which keeps reading and writing control frames
// (pongs, pings, the close frame). It is the net.Conn coder/websocket gets
// at the hijack, so every byte that reaches the socket passes through it in
// order:
//
//   - coder/websocket writes each control frame with one call to Write: its
//     frames are at most 127 bytes, and HijackSmall gives it a 256-byte
//     buffered writer instead of the 4 KiB one net/http allocates for the
//     hijacker — an idle connection does not keep a write buffer at all;
//   - Send encodes data frames into a buffer taken from a pool only while
//     frames wait, and writes them with one system call for all of them,
//     without blocking: what the socket does not take now is held for Flush,
//     and the mutex that orders socket writes stays locked while a frame is
//     half written, so nothing can come between its two halves;
//   - after coder/websocket has written a close frame, data frames are
//     discarded (the protocol allows none), as coder/websocket's own Write
//     would refuse them.
//
// Send and Flush are called by one goroutine at a time (the channel's single
// writer); Write may be called concurrently with them.
type Wire struct {
	net.Conn
	raw syscall.RawConn // non-blocking writes; nil: every Send holds

	mu        sync.Mutex // orders writes to the socket; held across a half-written frame
	half      bool       // mu stays locked: a frame is half written (writer's field)
	closeSent bool       // guarded by mu

	buf *[]byte // encoded frames not yet written, from bufPool; nil when none (writer's field)
}

// NewWire wraps conn. Non-blocking writes need conn to be a syscall.Conn
// (a TCP or Unix connection); otherwise Send holds every frame for Flush.
func NewWire(conn net.Conn) *Wire {
	w := &Wire{Conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// HijackSmall replaces the buffered writer of a hijack with a small one
// over w (see Wire). The old writer must be empty: net/http hands a fresh
// one to the hijacker.
func (w *Wire) HijackSmall(brw *bufio.ReadWriter) (*bufio.ReadWriter, error) {
	if err := brw.Writer.Flush(); err != nil {
		return nil, err
	}
	return bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(w, 256)), nil
}

// Write writes p, one control frame of coder/websocket, after any frame
// that Send left half written.
func (w *Wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) > 0 && p[0]&0x0f == 0x8 {
		w.closeSent = true
	}
	return w.Conn.Write(p)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled is the largest buffer put back into bufPool.
const maxPooled = 64 << 10

// Send appends frames to what is held and writes as much as the socket
// takes without blocking. held is the number of bytes still to be written
// by Flush.
func (w *Wire) Send(frames []Frame) (held int, err error) {
	if w.buf == nil {
		w.buf = bufPool.Get().(*[]byte)
	}
	b := *w.buf
	for _, f := range frames {
		b = appendHeader(b, f.Binary, len(f.Data))
		b = append(b, f.Data...)
	}
	*w.buf = b
	if w.raw == nil || w.half || !w.mu.TryLock() {
		return len(b), nil // Flush writes it (or finishes the half frame first)
	}
	if w.closeSent {
		w.mu.Unlock()
		w.release()
		return 0, net.ErrClosed
	}
	n, err := w.writeNow(b)
	if err != nil {
		w.mu.Unlock()
		w.release()
		return 0, err
	}
	if n == len(b) {
		w.mu.Unlock()
		w.release()
		return 0, nil
	}
	if n > 0 {
		w.half = true // keep mu until Flush has written the rest
		*w.buf = b[:copy(b, b[n:])]
	} else {
		w.mu.Unlock()
	}
	return len(*w.buf), nil
}

// writeNow writes what the socket takes of b without waiting. mu is held.
func (w *Wire) writeNow(b []byte) (n int, err error) {
	rerr := w.raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Write(int(fd), b[n:])
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return true
			case e != nil:
				err = e
				return true
			}
			n += m
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	return n, err
}

// Flush writes what Send held, blocking until it is written or the
// connection fails (closing the connection ends a blocked Flush).
func (w *Wire) Flush() error {
	if w.buf == nil {
		return nil
	}
	if !w.half {
		w.mu.Lock()
	}
	w.half = false
	defer w.mu.Unlock()
	defer w.release()
	if w.closeSent && len(*w.buf) > 0 {
		return net.ErrClosed
	}
	_, err := w.Conn.Write(*w.buf)
	return err
}

// Discard drops what Send held, for a connection that is being dropped:
// nothing more is written to it, but coder/websocket's own writes must not
// wait for a half-written frame that will never be finished.
func (w *Wire) Discard() {
	if w.half {
		w.half = false
		w.mu.Unlock()
	}
	w.release()
}

// release returns the buffer to the pool.
func (w *Wire) release() {
	if b := w.buf; b != nil {
		w.buf = nil
		if cap(*b) <= maxPooled {
			*b = (*b)[:0]
			bufPool.Put(b)
		}
	}
}

// appendHeader appends the header of an unmasked, final server frame.
func appendHeader(b []byte, binaryFrame bool, n int) []byte {
	op := byte(0x1)
	if binaryFrame {
		op = 0x2
	}
	switch {
	case n <= 125:
		return append(b, 0x80|op, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0x80|op, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0x80|op, 127), uint64(n))
	}
}

// NetConn is a coder/websocket connection whose data frames go through its
// Wire.
type NetConn struct {
	*websocket.Conn
	Wire *Wire
}

// Send implements Conn.
func (c NetConn) Send(frames []Frame) (int, error) { return c.Wire.Send(frames) }

// Flush implements Conn.
func (c NetConn) Flush() error { return c.Wire.Flush() }

// Discard implements Conn.
func (c NetConn) Discard() { c.Wire.Discard() }

// Queued is a Conn whose data frames go through the connection's own Write
// (coder/websocket with compression, which the Wire cannot do): Send holds
// every frame and Flush writes them one by one.
type Queued struct {
	*websocket.Conn
	held []Frame
	n    int
}

// Send implements Conn.
func (c *Queued) Send(frames []Frame) (int, error) {
	for _, f := range frames {
		c.held = append(c.held, f)
		c.n += len(f.Data)
	}
	return c.n, nil
}

// Discard implements Conn.
func (c *Queued) Discard() { clear(c.held); c.held, c.n = c.held[:0], 0 }

// Flush implements Conn.
func (c *Queued) Flush() error {
	defer func() { clear(c.held); c.held, c.n = c.held[:0], 0 }()
	for _, f := range c.held {
		typ := websocket.MessageText
		if f.Binary {
			typ = websocket.MessageBinary
		}
		if err := c.Conn.Write(context.Background(), typ, f.Data); err != nil {
			return err
		}
	}
	return nil
}
