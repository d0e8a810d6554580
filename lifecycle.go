package wsroute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/frame"
	"github.com/wsroute/wsroute/internal/transport"
)

// This file holds the three lifecycles. Open: ChannelRoute.ServeHTTP. Message:
// Channel.read (reader) → deliver (inbound queue) → work (worker) → handle.
// Close: Channel.finish, reached by every way a channel ends.

// ServeHTTP runs the open lifecycle — refuse early, check the handshake and
// origin, create the channel, middleware → auth → permissions, upgrade,
// register, OnConnect — and then becomes the channel's reader until it closes.
func (cr *ChannelRoute) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := cr.router
	if e := r.reserve(); e != nil {
		writeHTTPError(w, http.StatusServiceUnavailable, e)
		return
	}
	if status, e := checkHandshake(w, req); e != nil {
		r.unreserve()
		writeHTTPError(w, status, e)
		return
	}
	if e := r.checkOrigin(req); e != nil {
		r.unreserve()
		writeHTTPError(w, http.StatusForbidden, e)
		return
	}
	c := newChannel(cr, req)
	if err := c.runOpen(); err != nil {
		r.unreserve()
		c.abandon()
		e, logIt := toError(err)
		if logIt {
			r.log.ErrorContext(c.ctx, "wsroute: open failed", "channel", cr.name, "err", err)
		}
		writeHTTPError(w, httpStatus(e.Code), e)
		return
	}
	conn, hook, err := r.upgrade(w, req)
	if err != nil { // Accept has answered the request
		r.unreserve()
		c.abandon()
		r.log.DebugContext(c.ctx, "wsroute: upgrade failed", "channel", cr.name, "err", err)
		return
	}
	conn.SetReadLimit(cr.limits.ReadLimit)
	c.attach(conn)
	if !r.register(c) {
		c.Close(websocket.StatusGoingAway, "server shutdown")
	}
	c.connect()
	c.startHeartbeat()
	if hook != nil {
		hook.Channel = c
		hook.WaitIdle = c.waitIdle
		close(hook.Opened)
	}
	c.read()
}

// runOpen runs the open pipeline: middleware around auth and permissions.
func (c *Channel) runOpen() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wsroute: panic in open lifecycle: %v\n%s", p, debug.Stack())
		}
	}()
	ctx, cancel := context.WithTimeout(c.ctx, c.route.limits.HandshakeTimeout)
	defer cancel()
	err = c.route.open.Handle(ctx, c, &Message{open: true, cr: c.route})
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errOpenTimeout
	}
	return err
}

var errOpenTimeout = NewError(CodeUnavailable, "opening timed out")

// abandon releases a channel that never opened.
func (c *Channel) abandon() {
	c.state.Store(stateClosed)
	c.stopExpiry()
	c.cancel()
}

// upgrade completes the WebSocket handshake, or hands the request to the
// in-memory connection of wsroutetest.
func (r *Router) upgrade(w http.ResponseWriter, req *http.Request) (transport.Conn, *transport.Hook, error) {
	if h := transport.HookFrom(req.Context()); h != nil {
		w.WriteHeader(http.StatusSwitchingProtocols)
		return h.Conn, h, nil
	}
	opts := r.accept
	conn, err := websocket.Accept(w, req, &opts)
	if err != nil {
		return nil, nil, err
	}
	return conn, nil, nil
}

// attach makes conn the channel's connection and opens the channel.
func (c *Channel) attach(conn transport.Conn) {
	c.outMu.Lock()
	c.conn = conn
	dropped := c.outClosed
	c.outMu.Unlock()
	c.state.Store(stateOpen)
	if dropped { // dropped while opening
		_ = conn.CloseNow()
		return
	}
	c.inMu.Lock()
	queue := c.closing && !c.closeQueued // closed while opening
	c.closeQueued = c.closeQueued || queue
	c.inMu.Unlock()
	if queue {
		c.queueClose()
	}
}

// connect runs OnConnect; a failure closes the channel with 1011.
func (c *Channel) connect() {
	c.router.obs.open(c)
	if fn := c.route.cfg.OnConnect; fn != nil {
		if err := c.safely("OnConnect", func() error { return fn(c.ctx, c) }); err != nil {
			c.router.log.ErrorContext(c.ctx, "wsroute: OnConnect failed", "channel", c.route.name, "id", c.id, "err", err)
			c.Close(websocket.StatusInternalError, "internal error")
			return
		}
	}
	c.connected = true
}

// safely runs fn, turning a panic into an error.
func (c *Channel) safely(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wsroute: panic in %s: %v\n%s", what, p, debug.Stack())
		}
	}()
	return fn()
}

// read is the reader: it reads frames with a non-cancellable context,
// refuses invalid UTF-8 and binary frames (unless the channel has a binary
// handler), and queues the rest for a worker.
// It never runs handlers. When reading fails, the channel ends.
func (c *Channel) read() {
	var first *time.Timer // FirstMessageTimeout
	if d := c.route.limits.FirstMessageTimeout; d > 0 {
		first = time.AfterFunc(d, func() { c.Close(websocket.StatusPolicyViolation, "no message in time") })
	}
	for {
		typ, data, err := c.conn.Read(context.Background())
		if first != nil {
			first.Stop()
			first = nil
		}
		if err != nil {
			c.finish(err)
			return
		}
		switch {
		case typ != websocket.MessageText && c.route.binary != nil:
			c.deliver(inFrame{data: data, binary: true}, true)
		case typ != websocket.MessageText:
			c.deliver(inFrame{}, false)
			c.Close(websocket.StatusPolicyViolation, "binary frames are not accepted")
		case !utf8.Valid(data):
			c.deliver(inFrame{}, false)
			c.Close(websocket.StatusInvalidFramePayloadData, "invalid UTF-8")
		default:
			c.deliver(inFrame{data: data}, true)
		}
	}
}

// deliver counts a frame read and, if it is to be handled (ok) and the
// channel is not closing, queues it, starting a worker when fewer than
// Parallel run. While the queue is full it waits: the reader stops reading
// and TCP pushes back on the client.
func (c *Channel) deliver(f inFrame, ok bool) {
	c.inMu.Lock()
	if ok && !c.closing && c.inQ.len() >= c.route.limits.InboundQueue {
		c.paused = true // pongs wait unread meanwhile: see heartbeat
		c.pauses++
		for !c.closing && c.inQ.len() >= c.route.limits.InboundQueue {
			c.inCond.Wait()
		}
		c.paused = false
	}
	c.received++
	if !ok || c.closing {
		if c.idleWaiters.Load() > 0 {
			c.inCond.Broadcast()
		}
		c.inMu.Unlock()
		return
	}
	c.inQ.push(f)
	start := c.workers < c.route.cfg.Parallel
	if start {
		c.workers++
		c.workersWG.Add(1)
	}
	c.inMu.Unlock()
	if start {
		c.router.pool.run(c.workerLoop)
	}
}

// work is a worker: it handles queued frames in order and exits when the
// queue is empty. The last worker out of a closing channel queues the close
// frame, after the replies of the handlers that ran.
func (c *Channel) work() {
	defer c.workersWG.Done()
	for {
		c.inMu.Lock()
		if c.closing || c.inQ.len() == 0 {
			c.workers--
			queue := c.closing && c.workers == 0 && c.closeCode != 0 && !c.closeQueued
			c.closeQueued = c.closeQueued || queue
			c.inCond.Broadcast()
			c.inMu.Unlock()
			if queue {
				c.queueClose()
			}
			return
		}
		f := c.inQ.pop()
		if c.inQ.len() == c.route.limits.InboundQueue-1 {
			c.inCond.Broadcast() // the reader may be waiting for space
		}
		c.inMu.Unlock()
		c.handle(f)
	}
}

// handle runs the message lifecycle for one frame: classify, route, then the
// route's pipeline, and sends the reply or the error.
func (c *Channel) handle(in inFrame) {
	obs := c.router.obs
	var start time.Time
	if obs.OnMessage != nil {
		start = time.Now()
	}
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
		err = c.run(rt, m)
	}
	code := ""
	switch {
	case err == nil:
		if m.reply != nil {
			_ = c.push(outFrame{data: m.reply, binary: m.binary}, true)
		}
	case errors.Is(err, ErrNoReply):
	default:
		e, logIt := toError(err)
		if logIt {
			c.router.log.ErrorContext(c.ctx, "wsroute: handler failed", "channel", cr.name, "id", c.id, "route", m.Route(), "err", err)
		}
		code = e.Code
		_ = c.push(outFrame{data: m.errorFrame(e)}, true)
	}
	if obs.OnMessage != nil {
		obs.OnMessage(c, MessageInfo{Route: m.Route(), Code: code, Duration: time.Since(start)})
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
// undoes any session change the message made (a failed log-in leaves the
// session as it was).
func (c *Channel) run(rt *route, m *Message) (err error) {
	before := c.session.Load()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wsroute: panic in route %q: %v\n%s", rt.name, p, debug.Stack())
		}
		if err != nil && !errors.Is(err, ErrNoReply) && c.session.Load() != before {
			c.restoreSession(before)
		}
	}()
	return rt.chain.Handle(c.ctx, c, m)
}

// finish is the close lifecycle, run once by the reader when reading fails:
// stop handling, drop the connection, wait for workers and the writer, drop
// subscriptions, leave the Router, then OnDisconnect.
func (c *Channel) finish(readErr error) {
	if c.closeInfo.Load() == nil {
		c.recordClose(peerCloseInfo(readErr))
	}
	info := *c.closeInfo.Load()
	c.state.Store(stateClosed)
	_ = c.stopQueues().CloseNow()
	c.cancel()
	c.stopExpiry()
	c.stopHeartbeat()
	c.workersWG.Wait()
	c.stopWriteWatch()
	c.router.hub.remove(c)
	c.router.forget(c)
	if c.connected {
		if fn := c.route.cfg.OnDisconnect; fn != nil {
			ctx := context.WithoutCancel(c.ctx)
			if err := c.safely("OnDisconnect", func() error { fn(ctx, c, info); return nil }); err != nil {
				c.router.log.ErrorContext(ctx, "wsroute: OnDisconnect failed", "channel", c.route.name, "id", c.id, "err", err)
			}
		}
	}
	c.router.obs.close(c, info)
	c.inMu.Lock()
	c.inCond.Broadcast() // release waitIdle callers
	c.inMu.Unlock()
	c.router.channels.Done()
}

// peerCloseInfo derives why a connection ended from the error Read returned,
// when nothing on the server's side recorded a reason first.
func peerCloseInfo(err error) CloseInfo {
	var ce websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return CloseInfo{Code: ce.Code, Reason: ce.Reason, ByPeer: true}
	case errors.Is(err, websocket.ErrMessageTooBig):
		return CloseInfo{Code: websocket.StatusMessageTooBig, Reason: "message too big"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne):
	case strings.Contains(err.Error(), ": received "):
		// coder/websocket refused a frame ("received unmasked frame from
		// client", "received unknown opcode", ...) and closed with 1002. It
		// exports no error value for these; its messages are the signal.
		return CloseInfo{Code: websocket.StatusProtocolError, Reason: "protocol error"}
	}
	return CloseInfo{Code: -1, Reason: "connection lost", ByPeer: true}
}

// waitIdle waits until the channel has read `written` frames, handled them
// and written every reply, or has closed. wsroutetest's Flush uses it.
func (c *Channel) waitIdle(ctx context.Context, written uint64) error {
	stop := context.AfterFunc(ctx, func() {
		c.inMu.Lock()
		c.inCond.Broadcast()
		c.inMu.Unlock()
	})
	defer stop()
	c.inMu.Lock()
	defer c.inMu.Unlock()
	c.idleWaiters.Add(1)
	defer c.idleWaiters.Add(-1)
	for {
		if c.state.Load() == stateClosed {
			return ErrClosed
		}
		if c.received >= written && c.inQ.len() == 0 && c.workers == 0 {
			c.outMu.Lock()
			busy := c.writing
			c.outMu.Unlock()
			if !busy {
				return nil
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		c.inCond.Wait()
	}
}

// notifyIdle wakes waitIdle callers when the writer stops. Outside tests
// nobody waits, and it costs an atomic load.
func (c *Channel) notifyIdle() {
	if c.idleWaiters.Load() == 0 {
		return
	}
	c.inMu.Lock()
	c.inCond.Broadcast()
	c.inMu.Unlock()
}
