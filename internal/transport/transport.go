// Package transport is the seam between wsroute's lifecycle code and a
// connection: coder/websocket's *websocket.Conn over the network, or the
// in-memory Pipe that wsroutetest uses. It makes no public promise.
package transport

import (
	"context"

	"github.com/coder/websocket"
)

// Conn is the part of *websocket.Conn that wsroute uses. Read is called by one
// goroutine at a time; the other methods may be called concurrently with it.
type Conn interface {
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
	Write(ctx context.Context, typ websocket.MessageType, p []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
	SetReadLimit(n int64)
	Ping(ctx context.Context) error

	// Send writes data frames in order without waiting for the peer: what
	// the connection cannot write at once it holds (held bytes), and Flush
	// writes it. The frames' bytes may be reused once Send returns. Send
	// and Flush are called by one goroutine at a time, the channel's writer.
	Send(frames []Frame) (held int, err error)
	// Flush writes what Send held, waiting for the peer; closing the
	// connection ends it.
	Flush() error
	// Discard drops what Send held without writing it, when the
	// connection is being dropped.
	Discard()
}

var (
	_ Conn = NetConn{}
	_ Conn = (*Queued)(nil)
)

// Hook replaces the WebSocket upgrade of one request with an in-memory
// connection. wsroutetest puts it in the request's context; wsroute fills in
// the fields marked "set by wsroute" and closes Opened once the channel's
// OnConnect has returned.
type Hook struct {
	Conn Conn // the server end of the in-memory connection

	// Set by wsroute before Opened is closed.
	Channel  any                                               // the *wsroute.Channel
	WaitIdle func(ctx context.Context, delivered uint64) error // see wsroute's Channel.waitIdle
	Settle   func(ctx context.Context) error                   // see wsroute's Router.settle
	RefKey   string                                            // the channel's ChannelConfig.RefKey, default filled
	Opened   chan struct{}                                     // closed by wsroute after OnConnect
}

type hookKey struct{}

// WithHook returns a copy of ctx carrying h.
func WithHook(ctx context.Context, h *Hook) context.Context {
	return context.WithValue(ctx, hookKey{}, h)
}

// HookFrom returns the Hook in ctx, or nil.
func HookFrom(ctx context.Context) *Hook {
	h, _ := ctx.Value(hookKey{}).(*Hook)
	return h
}
