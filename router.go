package wsroute

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/goid"
)

// Options configures a Router. The zero value is ready to use; each field's
// comment gives its default. New copies Options; later changes to the
// caller's value have no effect.
type Options struct {
	// AcceptOptions are passed to websocket.Accept for every upgrade
	// (subprotocols, origin patterns, compression). They are copied, never
	// modified. Default: same-host origins only, no subprotocols, compression
	// off.
	AcceptOptions *websocket.AcceptOptions
	// Middleware wraps every channel's open lifecycle and every message,
	// outermost first.
	Middleware []Middleware
	// Authenticator is the default ChannelConfig.Authenticator. Default: none.
	Authenticator Authenticator
	// Logger receives the Router's logs. Default: silent.
	Logger *slog.Logger
	// Observer is told about opens, closes, messages and publishes. Default: none.
	Observer *Observer
	// Broker carries publishes to other nodes. Default: a MemoryBroker of
	// this Router alone.
	Broker Broker
	// Limits bound every connection; ChannelConfig.Limits overrides them per
	// channel. The zero value takes the defaults documented on Limits.
	Limits Limits
	// MaxChannels limits the channels of the Router (opening or open); past
	// it openings get HTTP 503. Default 0: no limit.
	MaxChannels int
	// ShutdownTimeout is how long Serve gives running handlers and requests
	// to finish once its context ends. Default 10s.
	ShutdownTimeout time.Duration
	// SessionKey, if set, indexes open channels by a key of their session
	// (a user id, say): ChannelsOf, CloseChannelsOf and SendToChannelsOf
	// then reach one user's channels, the latter two on every node through
	// the Broker. It is called on every session change; nil sessions are
	// not indexed, nor is "". Default: no index.
	SessionKey func(session any) string
}

// Router routes WebSocket connections to channels by path and runs their
// lifecycles. It is an http.Handler. Register channels with Channel (and their
// message routes with Handle) before serving; then it is safe for concurrent
// use.
//
// http.Server.Shutdown does not see upgraded connections: serve with Serve
// (or ServeListener), which shuts the server and the Router down together.
type Router struct {
	opts   Options
	limits Limits // Router-wide, defaults filled; ChannelRoute.limits derive from it
	accept websocket.AcceptOptions
	log    *slog.Logger
	obs    observer
	node   string    // this node's id, unique per Router
	idBase string    // channel ids: node id, "-", a counter
	epoch  time.Time // monotonic origin of the write watch's readings

	shutdownTimeout time.Duration // Serve's grace period

	mux      *http.ServeMux
	names    map[string]*ChannelRoute // guarded by regMu
	chans    []*ChannelRoute          // in registration order; guarded by regMu
	topics   []TopicInfo              // declared topics (NewTopic), in order; guarded by regMu
	regMu    sync.Mutex               // guards names and registration
	serving  atomic.Bool              // set by the first request; registration then panics
	nextID   atomic.Uint64
	hub      hub
	keys     keyIndex // channels by session key (Options.SessionKey)
	pool     *pool
	stopPool sync.Once

	mu       sync.Mutex            // guards the fields below
	live     map[*Channel]struct{} // every channel from its creation to the end of its teardown
	open     map[string]*Channel   // the registered (upgraded) channels by id, until their teardown
	pending  int                   // reservations for channels not yet created
	shutdown bool                  // Shutdown has begun
	changed  chan struct{}         // closed (and cleared) when live or pending shrink; made by who waits (Shutdown, settle)
}

// New returns a Router configured by opts.
func New(opts Options) *Router {
	opts.Middleware = append([]Middleware(nil), opts.Middleware...)
	r := &Router{
		opts:   opts,
		limits: opts.Limits.over(defaultLimits),
		log:    opts.Logger,
		epoch:  time.Now(),
		mux:    http.NewServeMux(),
		names:  make(map[string]*ChannelRoute),
		live:   make(map[*Channel]struct{}),
		open:   make(map[string]*Channel),
		pool:   newPool(),

		shutdownTimeout: pick(opts.ShutdownTimeout, defaultShutdownTimeout),
	}
	if opts.AcceptOptions != nil {
		r.accept = *opts.AcceptOptions
		r.accept.Subprotocols = append([]string(nil), opts.AcceptOptions.Subprotocols...)
		r.accept.OriginPatterns = append([]string(nil), opts.AcceptOptions.OriginPatterns...)
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.obs = observer{Observer: opts.Observer, log: r.log}
	if r.obs.Observer == nil {
		r.obs.Observer = &Observer{}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r.node = hex.EncodeToString(b[:])
	r.idBase = r.node + "-" // all 64 bits: ids stay unique across the nodes of a deployment
	broker := opts.Broker
	if broker == nil {
		broker = NewMemoryBroker()
	}
	r.hub.init(r, broker)
	if opts.SessionKey != nil {
		r.hub.subscribeControl()
	}
	return r
}

// Channel registers a channel at pattern, which uses net/http's pattern syntax
// without a method ("/rooms/{room}", "example.com/chat/{rest...}"); path
// values are read with Channel.PathValue. It panics if the pattern is
// malformed or conflicts with another, the name is taken, or the Router has
// started serving.
func (r *Router) Channel(pattern string, cfg ChannelConfig) *ChannelRoute {
	r.regMu.Lock()
	defer r.regMu.Unlock()
	where := fmt.Sprintf("wsroute: channel %q", pattern)
	r.mustNotServe(where)
	if err := checkPattern(pattern); err != nil {
		panic(fmt.Sprintf("%s: %v", where, err))
	}
	cr := newChannelRoute(r, pattern, cfg)
	if _, dup := r.names[cr.name]; dup {
		panic(fmt.Sprintf("wsroute: channel name %q registered twice", cr.name))
	}
	func() {
		defer func() {
			if e := recover(); e != nil {
				panic(fmt.Sprintf("%s: %v", where, e))
			}
		}()
		r.mux.Handle(pattern, channelHandler{cr})
	}()
	r.names[cr.name] = cr
	r.chans = append(r.chans, cr)
	return cr
}

func (r *Router) mustNotServe(where string) {
	if r.serving.Load() {
		panic(where + ": registered after the Router started serving")
	}
}

// ServeHTTP runs the open lifecycle for a WebSocket request and, once
// upgraded, the channel's messages until it closes. Requests that match no
// channel get 404.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.serving.Store(true)
	if h, _ := r.mux.Handler(req); h == nil || !isChannelRoute(h) {
		writeHTTPError(w, http.StatusNotFound, NewError(CodeNotFound, "no channel at this path"))
		return
	}
	r.mux.ServeHTTP(w, req) // sets the path values, then calls channelHandler.ServeHTTP
}

// channelHandler is what the Router's mux holds for a channel route. It is
// unexported so that a ChannelRoute cannot be mounted on another mux, which
// would bypass the Router.
type channelHandler struct{ cr *ChannelRoute }

func (h channelHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) { h.cr.serve(w, req) }

func isChannelRoute(h http.Handler) bool {
	_, ok := h.(channelHandler)
	return ok
}

// Len returns the number of open channels: upgraded and not yet torn down.
func (r *Router) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.open)
}

// Lookup returns the open channel with the given id.
func (r *Router) Lookup(id string) (*Channel, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.open[id]
	return c, ok
}

// CloseWhere closes, with code and reason, every open channel for which match
// returns true, and returns how many. Each close is Channel.Close: handlers
// still running are cancelled at once. Use it to end one user's channels
// after a password change:
//
//	r.CloseWhere(func(c *wsroute.Channel) bool {
//		u, ok := wsroute.SessionAs[User](c)
//		return ok && u.ID == id
//	}, websocket.StatusPolicyViolation, "credentials changed")
func (r *Router) CloseWhere(match func(c *Channel) bool, code websocket.StatusCode, reason string) int {
	n := 0
	for _, c := range r.snapshot(false) {
		if match(c) {
			c.Close(code, reason)
			n++
		}
	}
	return n
}

// snapshot returns the open channels, or every live one (opening too).
func (r *Router) snapshot(all bool) []*Channel {
	r.mu.Lock()
	defer r.mu.Unlock()
	if all {
		cs := make([]*Channel, 0, len(r.live))
		for c := range r.live {
			cs = append(cs, c)
		}
		return cs
	}
	cs := make([]*Channel, 0, len(r.open))
	for _, c := range r.open {
		cs = append(cs, c)
	}
	return cs
}

// Shutdown stops the Router the way http.Server.Shutdown stops a server:
// new openings get 503, and every channel is closed with 1001 (going away)
// meaning "finish your work": no new message is handled, running handlers
// keep their contexts (they can watch Channel.Closing), their final replies
// go out, then the close frame. Shutdown waits for all of it. When ctx ends
// first, everything left is dropped, its handlers' contexts are cancelled,
// and Shutdown returns ctx.Err() at once, without waiting for handlers that
// ignore their contexts. When it returns nil, every goroutine the Router
// started has ended, timers included, and the broker is detached.
//
// Called from a handler, or from another of a channel's callbacks with the
// context it received (or one derived from it), Shutdown does not wait for
// that channel, whose teardown then completes after the callback returns;
// it cannot deadlock on itself.
//
// http.Server.Shutdown does not see upgraded connections: Serve calls both
// within one deadline.
func (r *Router) Shutdown(ctx context.Context) error {
	self := r.caller(ctx)
	r.mu.Lock()
	r.shutdown = true
	r.mu.Unlock()
	info := CloseInfo{Code: websocket.StatusGoingAway, Reason: ReasonShutdown}
	for _, c := range r.snapshot(true) {
		c.end(info, closeDrain)
	}
	if err := r.waitChannels(ctx, self); err != nil {
		for _, c := range r.snapshot(true) {
			c.end(info, closeDrop)
		}
		r.stopPool.Do(func() { r.pool.stop(false) })
		_ = r.hub.close(false)
		return err
	}
	wait := self == nil // the caller runs on a pool goroutine and has not returned
	r.stopPool.Do(func() { r.pool.stop(wait) })
	return r.hub.close(wait)
}

// caller returns the channel from whose callback Shutdown is called, if
// any: the one ctx belongs to, or the one whose handler runs on the calling
// goroutine (whatever context it passed).
func (r *Router) caller(ctx context.Context) *Channel {
	if c, ok := ctx.Value(chanKey{}).(*Channel); ok && c.router == r {
		return c
	}
	gid := goid.ID()
	for _, c := range r.snapshot(true) {
		if c.runsOn(gid) {
			return c
		}
	}
	return nil
}

// waitChannels waits until no channel but self is left, or ctx ends.
func (r *Router) waitChannels(ctx context.Context, self *Channel) error {
	return r.waitLive(ctx, func() bool {
		_, selfLive := r.live[self]
		left := len(r.live) + r.pending
		if selfLive {
			left--
		}
		return left == 0
	})
}

// waitGone waits until c's teardown has ended (it has left live), or ctx
// ends.
func (r *Router) waitGone(ctx context.Context, c *Channel) error {
	return r.waitLive(ctx, func() bool {
		_, ok := r.live[c]
		return !ok
	})
}

// waitLive waits until done, called under r.mu, reports true or ctx ends;
// untrack and unreserve wake it.
func (r *Router) waitLive(ctx context.Context, done func() bool) error {
	for {
		r.mu.Lock()
		if done() {
			r.mu.Unlock()
			return nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reserve counts a channel about to be created against MaxChannels, or
// refuses.
func (r *Router) reserve() *Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return errShuttingDown
	}
	if r.opts.MaxChannels > 0 && len(r.live)+r.pending >= r.opts.MaxChannels {
		return NewError(CodeUnavailable, "too many connections")
	}
	r.pending++
	return nil
}

// unreserve releases a reservation that did not become a channel.
func (r *Router) unreserve() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	r.notifyLocked()
}

// track turns c's reservation into a live channel, or reports false if
// Shutdown began meanwhile (c is then tracked all the same, so that its
// teardown finds it).
func (r *Router) track(c *Channel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	r.live[c] = struct{}{}
	return !r.shutdown
}

// register makes an upgraded channel visible to Len, Lookup and CloseWhere.
func (r *Router) register(c *Channel) {
	r.mu.Lock()
	r.open[c.id] = c
	r.mu.Unlock()
	r.index(c, true)
}

// unregister hides c from Len, Lookup and CloseWhere, at its teardown.
func (r *Router) unregister(c *Channel) {
	r.index(c, false)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, c.id)
}

// untrack forgets c at the very end of its teardown.
func (r *Router) untrack(c *Channel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, c)
	r.notifyLocked()
}

// notifyLocked wakes Shutdown's wait. r.mu must be held.
func (r *Router) notifyLocked() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

func (r *Router) newID() string {
	return r.idBase + strconv.FormatUint(r.nextID.Add(1), 36)
}

// writeHTTPError answers a refused opening with {"error":{"code":..,"message":..}}.
func writeHTTPError(w http.ResponseWriter, status int, e *Error) {
	b, _ := json.Marshal(struct {
		Error wireError `json:"error"`
	}{e.wire()})
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// httpStatus maps an open refusal's code to its HTTP status.
func httpStatus(code string) int {
	switch code {
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeNotFound:
		return http.StatusNotFound
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}
