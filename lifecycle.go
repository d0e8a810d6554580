package wsroute

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/frame"
	"github.com/wsroute/wsroute/internal/transport"
)

// This file holds the three lifecycles, as policy: which stage runs when and
// what its outcome means. The mechanism they run on (reading, queues,
// writing, states and teardown) is in reader.go, worker.go, writer.go and
// close.go.
//
//   - Open: serve, up to the channel's reader.
//   - Message: handle, called by a worker for each inbound frame.
//   - Close: disconnect, called once by finish.

// serve runs the open lifecycle — refuse early, check the handshake and
// origin, create the channel, middleware → auth → permissions, upgrade,
// register, OnConnect — and then starts the channel's reader, the
// channel's own goroutine until it closes.
func (cr *ChannelRoute) serve(w http.ResponseWriter, req *http.Request) {
	r := cr.router
	job := detachedFrom(req.Context()) // a detached lifecycle (detached.go): no socket
	if e := r.reserve(); e != nil {
		r.refuseEarly(w, req, http.StatusServiceUnavailable, e)
		return
	}
	if job == nil { // a gateway did the handshake of a detached channel
		if status, e := checkHandshake(w, req); e != nil {
			r.unreserve()
			r.refuseEarly(w, req, status, e)
			return
		}
		if e := r.checkOrigin(req); e != nil {
			r.unreserve()
			r.refuseEarly(w, req, http.StatusForbidden, e)
			return
		}
	}
	c := newChannel(cr, req)
	if job != nil {
		c.detached = true
		if job.resume != nil { // the open lifecycle ran at an earlier event
			cr.resume(c, job)
			return
		}
		c.id = job.id
	}
	ctx := r.obs.startOpen(req.Context(), c) // the open lifecycle's context
	if !r.track(c) {
		c.refuse(ctx, w, errShuttingDown)
		return
	}
	if err := c.runOpen(ctx, req); err != nil {
		c.refuse(ctx, w, err)
		return
	}
	if c.openValues != nil { // middleware's context values live as long as the channel
		c.ctx = valuesCtx{Context: c.ctx, values: context.WithoutCancel(c.openValues)}
		c.openValues = nil
	}
	conn, netConn, hook, err := r.upgrade(w, req)
	if err != nil { // Accept has answered the request
		r.log.DebugContext(ctx, "wsroute: upgrade failed", "channel", cr.name, "err", err)
		r.obs.refused(ctx, c, RefuseInfo{Code: CodeUpgradeFailed})
		c.end(CloseInfo{Code: -1, Reason: ReasonUpgradeFailed}, closeDrop)
		c.finish()
		return
	}
	conn.SetReadLimit(c.limits.ReadLimit)
	c.netConn = netConn
	if c.attach(conn) {
		r.register(c)
		c.opened = true
		c.connect(ctx)
	} else { // closed while opening (by middleware, Shutdown, CloseWhere)
		r.obs.refused(ctx, c, RefuseInfo{Code: CodeClosedWhileOpening})
	}
	if hook != nil {
		hook.Channel = c
		hook.WaitIdle = c.waitIdle
		hook.Settle = r.settle
		hook.RefKey = cr.cfg.RefKey
		close(hook.Opened)
		if job != nil {
			job.opened(c)
			return
		}
		c.read() // in memory the request lasts the channel's life: wsroutetest waits on it
		return
	}
	// Over the network the reader gets a goroutine of the Router's pool
	// (which Shutdown waits for) and the request returns: net/http then
	// lets go of what it kept for the request (its 4 KiB write buffer, which
	// the Wire replaced, and the response's 2 KiB buffer), and the reader's
	// stack holds only its own frames — about 8 KiB less per idle
	// connection.
	r.pool.run(func(uint64) { c.read() })
}

var errShuttingDown = NewError(CodeUnavailable, "server is shutting down")

// RefuseInfo codes of openings that ended without a refusal of the
// application's: the WebSocket upgrade itself failed (coder/websocket
// answered the request), or the channel was closed while it opened (by its
// middleware, Router.Shutdown or CloseWhere) — after the upgrade, so
// Status is 0 for both.
const (
	CodeUpgradeFailed      = "upgrade_failed"
	CodeClosedWhileOpening = "closed_while_opening"
)

// refuse ends a channel whose opening was refused and answers the request
// with the refusal's HTTP status. ctx is the open lifecycle's.
func (c *Channel) refuse(ctx context.Context, w http.ResponseWriter, err error) {
	e := c.router.report(ctx, err, "wsroute: open refused", "channel", c.route.name)
	status := httpStatus(e.Code)
	c.router.obs.refused(ctx, c, RefuseInfo{Code: e.Code, Status: status})
	c.end(CloseInfo{Code: -1, Reason: ReasonRefused + ": " + e.Code}, closeDrop)
	c.finish()
	writeHTTPError(w, status, e)
}

// refuseEarly answers a request refused before a channel was created (at
// the connection limit, a bad handshake, an origin not allowed).
func (r *Router) refuseEarly(w http.ResponseWriter, req *http.Request, status int, e *Error) {
	r.obs.refused(req.Context(), nil, RefuseInfo{Code: e.Code, Status: status})
	writeHTTPError(w, status, e)
}

// runOpen runs the open pipeline: middleware around auth and permissions,
// under base — the request's context (a client that leaves cancels it), as
// the observer's StartOpen returned it — bounded by HandshakeTimeout.
func (c *Channel) runOpen(base context.Context, req *http.Request) (err error) {
	ctx, cancel := context.WithTimeout(context.WithValue(base, chanKey{}, c), c.limits.HandshakeTimeout)
	defer cancel()
	err = c.safely("open lifecycle", func() error {
		return c.route.open.Handle(ctx, c, &Message{open: true, cr: c.route})
	})
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errOpenTimeout
	case err == nil && req.Context().Err() != nil:
		return errClientGone
	}
	return err
}

var (
	errOpenTimeout = NewError(CodeUnavailable, "opening timed out")
	errClientGone  = NewError(CodeUnavailable, "client went away while opening")
)

// upgrade completes the WebSocket handshake, or hands the request to the
// in-memory connection of wsroutetest. It also returns the network
// connection coder/websocket hijacked (nil in memory).
func (r *Router) upgrade(w http.ResponseWriter, req *http.Request) (transport.Conn, net.Conn, *transport.Hook, error) {
	if h := transport.HookFrom(req.Context()); h != nil {
		w.WriteHeader(http.StatusSwitchingProtocols)
		return h.Conn, nil, h, nil
	}
	opts := r.accept
	// Data frames go to the socket through a transport.Wire unless
	// coder/websocket must compress them.
	hw := &hijackWriter{ResponseWriter: w, direct: opts.CompressionMode == websocket.CompressionDisabled}
	var aw http.ResponseWriter = hw
	if !canHijack(w) {
		aw = w // let Accept refuse it before answering 101
	}
	conn, err := websocket.Accept(aw, req, &opts)
	if err != nil {
		return nil, nil, nil, err
	}
	if hw.wire != nil {
		return transport.NetConn{Conn: conn, Wire: hw.wire}, hw.conn, nil, nil
	}
	return &transport.Queued{Conn: conn}, hw.conn, nil, nil
}

// canHijack reports whether w, or a ResponseWriter it wraps, is an
// http.Hijacker (as coder/websocket and http.ResponseController look).
func canHijack(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// hijackWriter hands the ResponseWriter to websocket.Accept and keeps the
// connection it hijacks (see Channel.drainClose). With direct set, it puts a
// transport.Wire between coder/websocket and the connection.
type hijackWriter struct {
	http.ResponseWriter
	direct bool
	conn   net.Conn
	wire   *transport.Wire
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	if h.direct {
		w := transport.NewWire(conn)
		if small, err := w.HijackSmall(brw); err == nil {
			h.wire, conn, brw = w, w, small
		}
	}
	h.conn = conn
	return conn, brw, nil
}

func (h *hijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// connect runs OnConnect, then arms the heartbeat and the first-message
// deadline; a failed OnConnect closes the channel with 1011. ctx is the open
// lifecycle's, for the observer.
func (c *Channel) connect(ctx context.Context) {
	c.router.obs.open(ctx, c)
	if fn := c.route.cfg.OnConnect; fn != nil {
		if err := c.safely("OnConnect", func() error { return fn(c.ctx, c) }); err != nil {
			c.router.log.ErrorContext(c.ctx, "wsroute: OnConnect failed", "channel", c.route.name, "id", c.id, "err", err)
			c.Close(websocket.StatusInternalError, ReasonInternal)
			return
		}
	}
	c.connected = true
	if c.detached { // the gateway keeps the connection; nothing runs between events
		return
	}
	c.startHeartbeat()
	c.startFirstTimer()
}

// safely runs fn, turning a panic into an error that carries the stack.
func (c *Channel) safely(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wsroute: panic in %s: %v\n%s", what, p, debug.Stack())
		}
	}()
	return fn()
}

// handle runs the message lifecycle for one frame: classify, rate limit,
// route, then the route's pipeline; it sends the reply or the error.
func (c *Channel) handle(in inFrame, run *runner) {
	obs := c.router.obs
	var start time.Time
	if obs.OnMessage != nil {
		start = time.Now()
	}
	ctx := c.ctx
	cr := c.route
	m := &Message{cr: cr, data: in.data, binary: in.binary}
	var rt *route
	var err error
	if in.binary {
		rt = cr.binary
	} else {
		m.f = frame.Parse(in.data, cr.cfg.RouteKey, cr.cfg.RefKey)
		rt, err = cr.classify(m)
	}
	if rerr := c.rateStage(rt); rerr != nil { // garbage costs tokens too
		rt, err = nil, rerr
	}
	if err == nil {
		m.route = rt
	}
	if obs.StartMessage != nil {
		ctx = obs.startMessage(ctx, c, m)
	}
	if err == nil {
		run.m = m
		err = c.run(ctx, rt, m)
		run.m = nil
	}
	code, out := "", 0
	switch {
	case err == nil:
		if m.reply != nil {
			out = len(m.reply)
			_ = c.push(outFrame{data: m.reply, binary: m.binary}, true)
		}
	case errors.Is(err, ErrNoReply):
	default:
		e := c.router.report(ctx, err, "wsroute: message failed", "channel", cr.name, "id", c.id, "route", m.Route())
		code = e.Code
		ef := m.errorFrame(e)
		out = len(ef)
		_ = c.push(outFrame{data: ef}, true)
	}
	if obs.OnMessage != nil {
		obs.message(ctx, c, MessageInfo{Route: m.routeName(), Code: code, Ref: m.Ref(), Binary: m.binary,
			BytesIn: len(m.data), BytesOut: out, Duration: time.Since(start)})
	}
}

// classify applies the frame table of the protocol and picks the route.
func (cr *ChannelRoute) classify(m *Message) (*route, error) {
	f := &m.f
	switch {
	case f.Kind == frame.Invalid:
		if cr.fallback != nil {
			return cr.fallback, nil
		}
		return nil, NewError(CodeBadRequest, "frame is not valid JSON")
	case f.Kind != frame.Object:
	case f.Route.Dup:
		return nil, NewError(CodeBadRequest, fmt.Sprintf("%q appears more than once", cr.cfg.RouteKey))
	case f.Ref.Dup:
		return nil, NewError(CodeBadRequest, fmt.Sprintf("%q appears more than once", cr.cfg.RefKey))
	case f.Ref.Found && f.Ref.Kind != frame.String && f.Ref.Kind != frame.Number:
		return nil, NewError(CodeBadRequest, fmt.Sprintf("%q must be a string or a number", cr.cfg.RefKey))
	case f.Route.Found && f.Route.Kind == frame.String:
		if rt := cr.lookupRaw(f.Route.Raw); rt != nil {
			return rt, nil
		}
	}
	if cr.fallback != nil {
		return cr.fallback, nil
	}
	if raw := m.routeRaw(); raw != nil {
		name, _ := frame.Unquote(raw)
		if len(name) > 64 { // the route key already echoes it in full
			name = strings.ToValidUTF8(name[:64], "") + "..."
		}
		return nil, NewError(CodeNotFound, fmt.Sprintf("no route %q", name))
	}
	return nil, NewError(CodeNotFound, fmt.Sprintf("message names no route (%q missing or not a string)", cr.cfg.RouteKey))
}

// lookupRaw finds the route named by a raw JSON string without allocating
// when it has no escapes.
func (cr *ChannelRoute) lookupRaw(raw []byte) *route {
	inner := raw[1 : len(raw)-1]
	if !strings.ContainsRune(string(inner), '\\') {
		return cr.routes[string(inner)]
	}
	name, ok := frame.Unquote(raw)
	if !ok {
		return nil
	}
	return cr.routes[name]
}

// run runs a route's pipeline. A panic becomes an internal error; a failure
// undoes the session changes the message made itself (a failed log-in
// leaves the session as it was).
func (c *Channel) run(ctx context.Context, rt *route, m *Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wsroute: panic in route %q: %v\n%s", rt.name, p, debug.Stack())
		}
		if err != nil && !errors.Is(err, ErrNoReply) {
			c.undoSession(m)
		}
	}()
	return rt.chain.Handle(ctx, c, m)
}

// disconnect is the close lifecycle's policy, run once by finish after the
// last handler returned and the subscriptions were dropped: OnDisconnect
// for a channel whose OnConnect succeeded, then the observer for every
// channel that was upgraded.
func (c *Channel) disconnect(info CloseInfo) {
	if !c.opened || c.suspended {
		return
	}
	if fn := c.route.cfg.OnDisconnect; fn != nil && c.connected {
		ctx := context.WithoutCancel(c.ctx)
		if err := c.safely("OnDisconnect", func() error { fn(ctx, c, info); return nil }); err != nil {
			c.router.log.ErrorContext(ctx, "wsroute: OnDisconnect failed", "channel", c.route.name, "id", c.id, "err", err)
		}
	}
	c.router.obs.close(context.WithoutCancel(c.ctx), c, info)
}
