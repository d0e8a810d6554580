package wsroute

import "context"

// Local is a typed per-connection value: one key, a value of type T on each
// channel. Values set at any time — by open middleware, an Authenticator,
// OnConnect or a handler — live until the channel is gone, so OnDisconnect
// can still read them:
//
//	var room = wsroute.NewLocal[*Room]("room")
//
//	OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
//		room.Set(c, rooms.Join(c.PathValue("room"), c))
//		return nil
//	},
//	OnDisconnect: func(ctx context.Context, c *wsroute.Channel, _ wsroute.CloseInfo) {
//		if r, ok := room.Get(c); ok {
//			r.Leave(c)
//		}
//	},
//
// Declare Locals once, as package variables; each NewLocal is a distinct
// key. Their methods are safe for concurrent use.
type Local[T any] struct {
	name string
}

// NewLocal returns a new key for per-connection values of type T. The name
// only helps debugging.
func NewLocal[T any](name string) *Local[T] { return &Local[T]{name: name} }

// String returns the Local's name.
func (l *Local[T]) String() string { return "wsroute.Local(" + l.name + ")" }

// Set stores v on the channel.
func (l *Local[T]) Set(c *Channel, v T) {
	c.localMu.Lock()
	defer c.localMu.Unlock()
	if c.locals == nil {
		c.locals = make(map[any]any)
	}
	c.locals[l] = v
}

// Get returns the value stored on the channel, and whether there is one.
func (l *Local[T]) Get(c *Channel) (v T, ok bool) {
	c.localMu.Lock()
	defer c.localMu.Unlock()
	x, ok := c.locals[l]
	if !ok {
		return v, false
	}
	return x.(T), true
}

// Delete removes the value from the channel.
func (l *Local[T]) Delete(c *Channel) {
	c.localMu.Lock()
	defer c.localMu.Unlock()
	delete(c.locals, l)
}

// valuesCtx is a channel's context once it has opened: its cancellation is
// the channel's, its values those of the open lifecycle's innermost context
// — the request's values and whatever open middleware added with
// context.WithValue — so that OnConnect, handlers and OnDisconnect see what
// middleware put there, as chi users expect of request-scoped values.
type valuesCtx struct {
	context.Context                 // the channel's cancellable context
	values          context.Context // the open lifecycle's innermost context, without its cancellation
}

func (v valuesCtx) Value(key any) any {
	if x := v.values.Value(key); x != nil {
		return x
	}
	return v.Context.Value(key) // the channel's own (and the context package's cancellation key)
}
