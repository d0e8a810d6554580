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

	// ReadLimit is the largest inbound frame in bytes; a larger one closes
	// the channel with 1009. Default 64 KiB.
	ReadLimit int64
	// InboundQueue is how many received frames wait for a handler before the
	// reader stops reading (TCP then pushes back on the client). Default 32.
	InboundQueue int
	// SendQueue is how many outbound frames wait for the peer before the
	// channel is dropped as a slow consumer. Default 256.
	SendQueue int
	// WriteTimeout bounds every write to the peer; on expiry the channel is
	// dropped. Default 10s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings each peer to detect one
	// that is gone without closing. Default 30s; negative disables pings.
	PingInterval time.Duration
	// PongTimeout is how long a peer has to answer a ping; a peer that does
	// not is dropped (reason "heartbeat timeout"). A pong that waits unread
	// because the channel's inbound queue is full does not count as missing.
	// Default 15s.
	PongTimeout time.Duration
	// RateLimit limits each connection's message rate; see RateLimit for
	// the defaults. ChannelConfig.RateLimit overrides it per channel.
	RateLimit RateLimit
	// HandshakeTimeout bounds the open lifecycle before the upgrade
	// (middleware, auth, permissions): past it the opening is refused with
	// 503. Default 10s.
	HandshakeTimeout time.Duration
	// FirstMessageTimeout, if positive, closes with 1008 a channel whose
	// client sends no message within it after the upgrade. Default: off.
	FirstMessageTimeout time.Duration
	// MaxTopics is how many topics one channel may subscribe to; Subscribe
	// beyond it returns ErrTooManyTopics. Default 100; negative: no limit.
	MaxTopics int
	// MaxChannels limits open channels; past it openings get HTTP 503.
	// Default 0: no limit.
	MaxChannels int
}

// Router routes WebSocket connections to channels by path and runs their
// lifecycles. It is an http.Handler. Register channels with Route (and their
// message routes with Handle) before serving; then it is safe for concurrent
// use.
//
// http.Server.Shutdown does not see upgraded connections: call
// Router.Shutdown, for example from http.Server.RegisterOnShutdown.
type Router struct {
	opts   Options
	limits Limits // Router-wide, defaults filled; ChannelRoute.limits derive from it
	accept websocket.AcceptOptions
	log    *slog.Logger
	obs    *Observer
	node   string // this node's id, unique per Router
	idBase string

	mux      *http.ServeMux
	names    map[string]*ChannelRoute // guarded by regMu
	regMu    sync.Mutex               // guards names and registration
	serving  atomic.Bool              // set by the first request; registration then panics
	nextID   atomic.Uint64
	hub      hub
	pool     *pool
	stopPool sync.Once
	channels sync.WaitGroup // one per channel from reservation to its end

	mu       sync.Mutex // guards open, opening, shutdown
	open     map[string]*Channel
	opening  int  // reservations for channels not yet registered
	shutdown bool // Shutdown has begun
}

// New returns a Router configured by opts.
func New(opts Options) *Router {
	opts.Middleware = append([]Middleware(nil), opts.Middleware...)
	r := &Router{
		opts:   opts,
		limits: routerLimits(&opts),
		log:    opts.Logger,
		obs:    opts.Observer,
		mux:    http.NewServeMux(),
		names:  make(map[string]*ChannelRoute),
		open:   make(map[string]*Channel),
		pool:   newPool(),
	}
	if opts.AcceptOptions != nil {
		r.accept = *opts.AcceptOptions
		r.accept.Subprotocols = append([]string(nil), opts.AcceptOptions.Subprotocols...)
		r.accept.OriginPatterns = append([]string(nil), opts.AcceptOptions.OriginPatterns...)
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.obs == nil {
		r.obs = &Observer{}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r.node = hex.EncodeToString(b[:])
	r.idBase = r.node[:8] + "-"
	broker := opts.Broker
	if broker == nil {
		broker = NewMemoryBroker()
	}
	r.hub.init(r, broker)
	return r
}

// Route registers a channel at pattern, which uses net/http's pattern syntax
// without a method ("/rooms/{room}", "example.com/chat/{rest...}"); path
// values are read with Channel.PathValue. It panics if the pattern is
// malformed or conflicts with another, the name is taken, or the Router has
// started serving.
func (r *Router) Route(pattern string, cfg ChannelConfig) *ChannelRoute {
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
		r.mux.Handle(pattern, cr)
	}()
	r.names[cr.name] = cr
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
	r.mux.ServeHTTP(w, req) // sets the path values, then calls ChannelRoute.ServeHTTP
}

func isChannelRoute(h http.Handler) bool {
	_, ok := h.(*ChannelRoute)
	return ok
}

// Len returns the number of open channels.
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
// returns true, and returns how many. Use it to end one user's channels after
// a password change:
//
//	r.CloseWhere(func(c *wsroute.Channel) bool {
//		u, ok := wsroute.SessionAs[User](c)
//		return ok && u.ID == id
//	}, websocket.StatusPolicyViolation, "credentials changed")
func (r *Router) CloseWhere(match func(c *Channel) bool, code websocket.StatusCode, reason string) int {
	n := 0
	for _, c := range r.snapshot() {
		if match(c) {
			c.Close(code, reason)
			n++
		}
	}
	return n
}

func (r *Router) snapshot() []*Channel {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := make([]*Channel, 0, len(r.open))
	for _, c := range r.open {
		cs = append(cs, c)
	}
	return cs
}

// Shutdown stops the Router: new openings get 503, every open channel is
// closed with 1001 (going away) once its running handler has finished, and
// Shutdown waits for all of them. When ctx ends first, the remaining
// connections are dropped, their handlers' contexts cancelled, and Shutdown
// returns ctx.Err() after they have finished. It always waits for every
// goroutine the Router started, and finally closes the broker.
func (r *Router) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.shutdown = true
	r.mu.Unlock()
	for _, c := range r.snapshot() {
		c.Close(websocket.StatusGoingAway, "server shutdown")
	}
	done := make(chan struct{})
	go func() {
		r.channels.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range r.snapshot() {
			c.drop("server shutdown")
		}
		<-done
	}
	r.stopPool.Do(r.pool.stop)
	if cerr := r.hub.close(); err == nil {
		err = cerr
	}
	return err
}

// reserve counts a channel about to open against MaxChannels, or refuses.
func (r *Router) reserve() *Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shutdown {
		return NewError(CodeUnavailable, "server is shutting down")
	}
	if r.opts.MaxChannels > 0 && len(r.open)+r.opening >= r.opts.MaxChannels {
		return NewError(CodeUnavailable, "too many connections")
	}
	r.opening++
	r.channels.Add(1)
	return nil
}

// unreserve releases a reservation that did not become an open channel.
func (r *Router) unreserve() {
	r.mu.Lock()
	r.opening--
	r.mu.Unlock()
	r.channels.Done()
}

// register turns c's reservation into an open channel. It reports false if
// Shutdown began meanwhile; the channel is registered anyway so that
// Shutdown's drop reaches it.
func (r *Router) register(c *Channel) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opening--
	r.open[c.id] = c
	return !r.shutdown
}

// forget removes c from the open channels at the end of its life.
func (r *Router) forget(c *Channel) {
	r.mu.Lock()
	delete(r.open, c.id)
	r.mu.Unlock()
}

func (r *Router) newID() string {
	return r.idBase + strconv.FormatUint(r.nextID.Add(1), 36)
}

// writeHTTPError answers a refused opening with {"error":{"code":..,"message":..}}.
func writeHTTPError(w http.ResponseWriter, status int, e *Error) {
	b, _ := json.Marshal(struct {
		Error wireError `json:"error"`
	}{wireError{Code: e.Code, Message: e.Message}})
	h := w.Header()
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
