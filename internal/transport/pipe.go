package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/coder/websocket"
)

// NewPipe returns the two ends of an in-memory WebSocket connection. Frames
// written on one end are read on the other in order; writes never block.
// Close delivers a websocket.CloseError to the peer after the frames written
// before it, like a close frame on the wire; CloseNow drops the connection, and
// the peer's Read fails with io.ErrUnexpectedEOF (websocket.CloseStatus -1).
func NewPipe() (server, client *End) {
	p := &pipe{}
	p.cond = sync.NewCond(&p.mu)
	server = &End{p: p, readLimit: 32768}
	client = &End{p: p, readLimit: -1}
	server.peer, client.peer = client, server
	return server, client
}

type pipe struct {
	mu   sync.Mutex // guards every End's fields
	cond *sync.Cond // broadcast on every change
}

// End is one end of a Pipe. It implements Conn.
type End struct {
	p         *pipe
	peer      *End
	in        []frame // frames waiting to be read by this end
	readErr   error   // returned by Read once in is empty; nil while open
	closed    bool    // this end may no longer write
	readLimit int64
	written   uint64
}

type frame struct {
	typ  websocket.MessageType
	data []byte
}

var _ Conn = (*End)(nil)

// Read returns the next frame written by the peer.
func (e *End) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	stop := context.AfterFunc(ctx, func() {
		e.p.mu.Lock()
		e.p.cond.Broadcast()
		e.p.mu.Unlock()
	})
	defer stop()
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	for len(e.in) == 0 && e.readErr == nil {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		e.p.cond.Wait()
	}
	if len(e.in) == 0 {
		return 0, nil, e.readErr
	}
	f := e.in[0]
	e.in[0] = frame{}
	e.in = e.in[1:]
	if e.readLimit >= 0 && int64(len(f.data)) > e.readLimit {
		err := fmt.Errorf("read limited at %d bytes: %w", e.readLimit, websocket.ErrMessageTooBig)
		e.closeLocked(websocket.StatusMessageTooBig, "message too big", err)
		return 0, nil, err
	}
	return f.typ, f.data, nil
}

// Write sends a copy of p to the peer.
func (e *End) Write(ctx context.Context, typ websocket.MessageType, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.closed {
		return net.ErrClosed
	}
	e.peer.in = append(e.peer.in, frame{typ: typ, data: append([]byte(nil), p...)})
	e.written++
	e.p.cond.Broadcast()
	return nil
}

// Send writes frames to the peer; a pipe never holds any.
func (e *End) Send(frames []Frame) (int, error) {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.closed {
		return 0, net.ErrClosed
	}
	for _, f := range frames {
		typ := websocket.MessageText
		if f.Binary {
			typ = websocket.MessageBinary
		}
		e.peer.in = append(e.peer.in, frame{typ: typ, data: append([]byte(nil), f.Data...)})
		e.written++
	}
	e.p.cond.Broadcast()
	return 0, nil
}

// Flush has nothing to write: Send holds nothing.
func (e *End) Flush() error { return nil }

// Discard has nothing to drop.
func (e *End) Discard() {}

// PeerWritten returns how many frames the peer has written to this end, read
// or not.
func (e *End) PeerWritten() uint64 {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.peer.written
}

// Written returns how many frames this end has written.
func (e *End) Written() uint64 {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.written
}

// Close performs a close handshake with code and reason.
func (e *End) Close(code websocket.StatusCode, reason string) error {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.closed {
		return net.ErrClosed
	}
	e.closeLocked(code, reason, nil)
	return nil
}

func (e *End) closeLocked(code websocket.StatusCode, reason string, own error) {
	ce := websocket.CloseError{Code: code, Reason: reason}
	if own == nil {
		own = fmt.Errorf("received close frame: %w", ce)
	}
	e.closed, e.peer.closed = true, true
	e.in = nil
	if e.readErr == nil {
		e.readErr = own
	}
	if e.peer.readErr == nil {
		e.peer.readErr = fmt.Errorf("received close frame: %w", ce)
	}
	e.p.cond.Broadcast()
}

// CloseNow drops the connection without a close handshake.
func (e *End) CloseNow() error {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.closed && e.readErr != nil && e.peer.readErr != nil {
		return net.ErrClosed
	}
	e.closed, e.peer.closed = true, true
	e.in = nil
	if e.readErr == nil {
		e.readErr = net.ErrClosed
	}
	if e.peer.readErr == nil {
		e.peer.readErr = fmt.Errorf("connection dropped: %w", io.ErrUnexpectedEOF)
	}
	e.p.cond.Broadcast()
	return nil
}

// SetReadLimit sets the largest frame Read accepts; a larger one closes the
// pipe with 1009, like coder/websocket. -1 disables the limit.
func (e *End) SetReadLimit(n int64) {
	e.p.mu.Lock()
	e.readLimit = n
	e.p.mu.Unlock()
}

// Ping answers at once while the pipe is open: the in-memory peer is always
// responsive. Heartbeat timeouts are tested over coder/websocket.
func (e *End) Ping(ctx context.Context) error {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.closed {
		return net.ErrClosed
	}
	return ctx.Err()
}
