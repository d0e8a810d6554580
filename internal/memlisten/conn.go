package memlisten

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// bufferSize is how many bytes one direction holds before Write blocks,
// like a socket's kernel buffers: a small frame to a peer that does not read
// is accepted, a large backlog is not.
const bufferSize = 64 << 10

// newPipe returns two connected ends with a buffer in each direction (unlike
// net.Pipe, whose writes wait for the reader).
func newPipe() (net.Conn, net.Conn) {
	ab, ba := newHalf(), newHalf()
	return &conn{in: ba, out: ab}, &conn{in: ab, out: ba}
}

// half is one direction of a pipe.
type half struct {
	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	closed   bool // no more writes: reads drain buf, then io.EOF
	rTimeout time.Time
	wTimeout time.Time
	timers   []*time.Timer
}

func newHalf() *half {
	h := &half{}
	h.cond.L = &h.mu
	return h
}

// conn is one end: it reads from in and writes to out.
type conn struct {
	in, out   *half
	closeOnce sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	h := c.in
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.buf) == 0 {
		if h.closed {
			return 0, io.EOF
		}
		if expired(h.rTimeout) {
			return 0, os.ErrDeadlineExceeded
		}
		h.cond.Wait()
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	h.cond.Broadcast()
	return n, nil
}

func (c *conn) Write(p []byte) (int, error) {
	h := c.out
	h.mu.Lock()
	defer h.mu.Unlock()
	written := 0
	for written < len(p) {
		if h.closed {
			return written, net.ErrClosed
		}
		if expired(h.wTimeout) {
			return written, os.ErrDeadlineExceeded
		}
		if room := bufferSize - len(h.buf); room > 0 {
			n := min(room, len(p)-written)
			h.buf = append(h.buf, p[written:written+n]...)
			written += n
			h.cond.Broadcast()
			continue
		}
		h.cond.Wait()
	}
	return written, nil
}

// Close ends both directions: the peer reads what is buffered, then io.EOF.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		for _, h := range []*half{c.in, c.out} {
			h.mu.Lock()
			h.closed = true
			for _, t := range h.timers {
				t.Stop()
			}
			h.cond.Broadcast()
			h.mu.Unlock()
		}
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return addr{} }
func (c *conn) RemoteAddr() net.Addr { return addr{} }

func (c *conn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.in.setDeadline(&c.in.rTimeout, t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.out.setDeadline(&c.out.wTimeout, t)
	return nil
}

func (h *half) setDeadline(d *time.Time, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*d = t
	h.cond.Broadcast()
	if !t.IsZero() {
		h.timers = append(h.timers, time.AfterFunc(time.Until(t), func() {
			h.mu.Lock()
			h.cond.Broadcast()
			h.mu.Unlock()
		}))
	}
}

func expired(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) }
