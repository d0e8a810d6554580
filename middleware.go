package wsroute

import (
	"context"
	"strconv"
)

// A Handler runs one stage of a lifecycle for a channel: the opening (when
// m.IsOpen reports true) or one inbound message. Middleware wraps Handlers.
//
// A Handler returns nil when the stage succeeded. For a message, the reply has
// by then been prepared by the inner stages and is sent after the outermost
// Handler returns; an error is sent as an error frame instead (see Error). At
// open, an error refuses the connection with an HTTP status.
type Handler interface {
	Handle(ctx context.Context, c *Channel, m *Message) error
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, c *Channel, m *Message) error

// Handle calls f(ctx, c, m).
func (f HandlerFunc) Handle(ctx context.Context, c *Channel, m *Message) error { return f(ctx, c, m) }

// Middleware wraps a Handler. The same middleware wraps the open lifecycle
// (before auth and permissions) and every message (before the route's auth,
// permissions, validation and handler); Message.IsOpen tells them apart.
//
// Order: Router-wide middleware (Options.Middleware) is outermost, then the
// channel's (ChannelConfig.Middleware), then the route's
// (RouteConfig.Middleware, messages only). Within each list the first is the
// outermost.
type Middleware func(next Handler) Handler

// chain wraps h in mws so that mws[0] is the outermost.
func chain(h Handler, mws ...[]Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		for j := len(mws[i]) - 1; j >= 0; j-- {
			h = mws[i][j](h)
			if h == nil {
				panic("wsroute: middleware " + strconv.Itoa(j) + " returned a nil Handler")
			}
		}
	}
	return h
}
