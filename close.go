package wsroute

import (
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/transport"
)

// This file owns every way a channel ends. A channel is in one of four
// states, and end is the one function that moves it towards closed:
//
//	opening ──► open ──► closing ──► closed
//	   │          │                    ▲
//	   └──────────┴────────────────────┘  (a drop, a refused opening)
//
//   - opening: created; middleware, auth and permissions run; no socket.
//   - open: upgraded, registered with the Router, reading.
//   - closing: a graceful close began: no new message is handled, pushes
//     are refused except the final replies of handlers already running,
//     and the close frame follows those replies.
//   - closed: the connection is gone (or never came). finish, run once by
//     the channel's own goroutine, then waits for what still runs, drops the
//     subscriptions, leaves the Router and calls OnDisconnect.

// chanState is a channel's state; see above.
type chanState = uint32

const (
	stateOpening chanState = iota
	stateOpen
	stateClosing
	stateClosed
)

// closeHow says how end closes a channel.
type closeHow uint8

const (
	// closeStop is a graceful close that means "stop now" (Close,
	// CloseWhere, session expiry, a protocol refusal): the handlers'
	// contexts are cancelled at once and CloseTimeout bounds the wait for
	// their final replies.
	closeStop closeHow = iota
	// closeDrain is a graceful close that means "finish your work"
	// (Shutdown): running handlers keep their contexts.
	closeDrain
	// closeDrop cuts the connection at once, without a close frame: for a
	// peer a close frame cannot reach (slow consumer, heartbeat, write
	// timeout), a connection that is already gone, or an opening refused.
	closeDrop
)

// StatusCode is a WebSocket close code; it is coder/websocket's type, so
// its constants work too.
type StatusCode = websocket.StatusCode

// The close codes a wsroute application uses, so that it need not import
// the transport.
const (
	StatusNormalClosure           = websocket.StatusNormalClosure           // 1000
	StatusGoingAway               = websocket.StatusGoingAway               // 1001: Router.Shutdown
	StatusProtocolError           = websocket.StatusProtocolError           // 1002
	StatusInvalidFramePayloadData = websocket.StatusInvalidFramePayloadData // 1007: invalid UTF-8
	StatusPolicyViolation         = websocket.StatusPolicyViolation         // 1008: binary frames, flooding, a kick
	StatusMessageTooBig           = websocket.StatusMessageTooBig           // 1009: past Limits.ReadLimit
	StatusInternalError           = websocket.StatusInternalError           // 1011: OnConnect failed
	// StatusSessionExpired closes a channel whose opening required a
	// session when that session expires.
	StatusSessionExpired StatusCode = 4401
)

// CloseStatus returns the close code of an error returned by a WebSocket
// client's read (a close frame's code), or -1 when it carries none.
func CloseStatus(err error) StatusCode { return websocket.CloseStatus(err) }

// The reasons wsroute gives in CloseInfo (and in close frames) when it ends
// a channel itself; compare CloseInfo.Reason with them.
const (
	ReasonSlowConsumer     = "slow consumer"                  // dropped: its send queue was full
	ReasonHeartbeatTimeout = "heartbeat timeout"              // dropped: no pong within PongTimeout
	ReasonWriteTimeout     = "write timeout"                  // dropped: a write took longer than WriteTimeout
	ReasonCloseTimeout     = "close timeout"                  // dropped: a handler outlived CloseTimeout after Close
	ReasonShutdown         = "server shutdown"                // 1001, by Router.Shutdown
	ReasonSessionExpired   = "session expired"                // 4401
	ReasonConnectionLost   = "connection lost"                // the peer went away without a close frame
	ReasonRefused          = "opening refused"                // followed by ": <code>"
	ReasonUpgradeFailed    = "upgrade failed"                 // the WebSocket handshake failed
	ReasonInternal         = "internal error"                 // 1011, OnConnect failed
	ReasonNoMessage        = "no message in time"             // 1008, FirstMessageTimeout
	ReasonRateLimit        = "rate limit exceeded"            // 1008, flooding
	ReasonBinary           = "binary frames are not accepted" // 1008
	ReasonInvalidUTF8      = "invalid UTF-8"                  // 1007
)

// CloseInfo says how a channel closed. OnDisconnect and Observer.OnClose get it.
type CloseInfo struct {
	// Code is the close code sent or received, or -1 when the connection
	// was dropped without a close frame (slow consumer, heartbeat timeout,
	// network error, write timeout).
	Code websocket.StatusCode
	// Reason is a short explanation: the close frame's reason, or one of
	// wsroute's ("slow consumer", "server shutdown", "connection lost", ...).
	Reason string
	// ByPeer reports whether the peer closed or dropped the connection.
	ByPeer bool
	// Session is the channel's last session value, even if it had expired
	// (nil if it had none or was cleared): OnDisconnect can tell who left.
	// SessionAs on a closed channel returns it too.
	Session any
}

// Shutdown reports whether this server's Router.Shutdown closed the
// channel: its client did not leave, it will reconnect (perhaps to another
// node), so an app need not announce it gone. A peer's own 1001 (a browser
// leaving the page, even one quoting ReasonShutdown) is a real leave.
func (i CloseInfo) Shutdown() bool {
	return !i.ByPeer && i.Code == StatusGoingAway && i.Reason == ReasonShutdown
}

// Close closes the channel gracefully with code and reason, meaning "stop
// now" (a kick, a revocation): the contexts of its running handlers are
// cancelled at once, no new message is handled, every push is refused with
// ErrClosed except the final reply of a handler already running, and the
// close frame follows that reply. A handler that ignores its context does
// not keep the connection: after Limits.CloseTimeout it is dropped.
// OnDisconnect runs once the last handler has returned.
//
// The first close wins; later calls only cancel what is still running. On
// a channel still opening, Close takes effect at the upgrade: the client
// receives the close frame at once, and OnConnect does not run.
func (c *Channel) Close(code websocket.StatusCode, reason string) {
	c.end(CloseInfo{Code: code, Reason: reason}, closeStop)
}

// Closing returns a channel that is closed when the channel starts closing
// (or is dropped). A handler that streams can watch it to wrap up early
// during Router.Shutdown, whose graceful close keeps handler contexts alive.
func (c *Channel) Closing() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closingCh == nil {
		if c.state.Load() >= stateClosing {
			return closedChan
		}
		c.closingCh = make(chan struct{})
	}
	return c.closingCh
}

var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// drop closes the connection at once without a close frame.
func (c *Channel) drop(reason string) { c.end(CloseInfo{Code: -1, Reason: reason}, closeDrop) }

// end is the one function through which a channel ends, whatever the way:
// it records info (the first call's wins), moves the state, and starts
// what the close needs. It never blocks on the peer or on a handler.
func (c *Channel) end(info CloseInfo, how closeHow) {
	c.mu.Lock()
	if c.info == nil {
		c.info = &info
	}
	from := c.state.Load()
	switch {
	case from == stateClosed:
		c.mu.Unlock()
		return
	case how == closeDrop:
		c.setStateLocked(stateClosed)
		c.discardLocked()
		conn := c.conn
		c.mu.Unlock()
		if conn != nil {
			_ = conn.CloseNow()
		}
		c.cancel()
		return
	case from == stateClosing: // a stop after a drain: cancel what runs now
		c.mu.Unlock()
		if how == closeStop {
			c.stopNow()
		}
		return
	}
	c.setStateLocked(stateClosing)
	c.discardLocked()
	writer := false
	if from == stateOpen && c.workers == 0 {
		writer = c.queueCloseLocked()
	}
	c.mu.Unlock()
	if writer {
		c.router.pool.run(c.writeLoop)
	}
	if how == closeStop {
		c.stopNow()
	}
}

// stopNow cancels the handlers' contexts and bounds the wait for their
// final replies by CloseTimeout.
func (c *Channel) stopNow() {
	c.cancel()
	d := c.limits.CloseTimeout
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeTimer == nil && c.state.Load() != stateClosed {
		c.closeTimer = time.AfterFunc(d, func() {
			if c.enter() {
				defer c.exit()
				c.drop(ReasonCloseTimeout)
			}
		})
	}
}

// setStateLocked moves the state forward. mu must be held.
func (c *Channel) setStateLocked(s chanState) {
	c.state.Store(s)
	if s >= stateClosing && c.closingCh != nil {
		select {
		case <-c.closingCh:
		default:
			close(c.closingCh)
		}
	}
	c.cond.Broadcast() // the reader waiting for space, waitIdle callers
}

// discardLocked drops the frames not yet handled and, once closed, those
// not yet written. mu must be held.
func (c *Channel) discardLocked() {
	c.inQ.clear()
	c.inBytes = 0
	if c.state.Load() == stateClosed {
		c.outQ.clear()
		c.outBytes = 0
	}
}

// queueCloseLocked puts the close frame at the end of the send queue and
// reports whether a writer must be started for it. mu must be held; the
// channel is closing and no worker runs, so nothing can follow it.
func (c *Channel) queueCloseLocked() bool {
	c.outQ.push(outFrame{close: true})
	return c.startWriterLocked()
}

// enter admits a timer callback as one of the channel's tasks, which
// finish waits for; it reports false once the channel is closed. A
// callback that entered calls exit when done.
func (c *Channel) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateClosed {
		return false
	}
	c.tasks.Add(1)
	return true
}

func (c *Channel) exit() { c.tasks.Done() }

// finish is the teardown, run once by the channel's own goroutine when its
// connection is gone (or never came): it waits for the workers, the writer
// and the timer callbacks, drops the subscriptions, leaves the Router, and
// runs OnDisconnect (if OnConnect succeeded) and the observer.
func (c *Channel) finish() {
	c.mu.Lock()
	c.setStateLocked(stateClosed)
	c.discardLocked()
	info := *c.info
	if s := c.session.Load(); s != nil {
		info.Session = s.value
	}
	for _, t := range []*time.Timer{c.hbTimer, c.expiryTimer, c.firstTimer, c.closeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.hbTimer, c.expiryTimer, c.firstTimer, c.closeTimer = nil, nil, nil, nil
	c.mu.Unlock()
	c.cancel()
	c.tasks.Wait()
	c.stopWriteWatch()
	c.router.hub.drop(c)
	c.router.unregister(c)
	c.disconnect(info)
	c.router.untrack(c)
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
	case isProtocolError(err):
		return CloseInfo{Code: websocket.StatusProtocolError, Reason: "protocol error"}
	}
	return CloseInfo{Code: -1, Reason: ReasonConnectionLost, ByPeer: true}
}

// isProtocolError reports whether coder/websocket refused a frame ("received
// unmasked frame from client", "received unknown opcode", ...) and closed
// with 1002. It exports no error value for these; its messages are the
// signal, pinned against the version in use by
// TestAdversarialNetProtocolViolations (CloseInfo 1002 for each refusal).
func isProtocolError(err error) bool { return strings.Contains(err.Error(), ": received ") }

// attach gives the channel its connection once upgraded and reports whether
// it is now open. A channel closed while it was opening is not: a graceful
// close queues its close frame at once (the reader then completes the
// handshake), a drop cuts the new connection.
func (c *Channel) attach(conn transport.Conn) bool {
	c.mu.Lock()
	c.conn = conn
	writer := false
	switch c.state.Load() {
	case stateOpening:
		c.setStateLocked(stateOpen)
		c.mu.Unlock()
		return true
	case stateClosing:
		writer = c.queueCloseLocked()
	}
	closed := c.state.Load() == stateClosed
	c.mu.Unlock()
	if closed {
		_ = conn.CloseNow()
	}
	if writer {
		c.router.pool.run(c.writeLoop)
	}
	return false
}
