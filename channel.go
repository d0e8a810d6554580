package wsroute

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/transport"
)

// Close codes wsroute uses besides coder/websocket's Status* constants.
const (
	// CloseSessionExpired closes a channel whose opening required a session
	// when that session expires.
	CloseSessionExpired websocket.StatusCode = 4401
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
}

// Channel is one WebSocket connection on a channel route, from its opening to
// its close. Its methods are safe for concurrent use.
type Channel struct {
	id         string
	router     *Router
	route      *ChannelRoute
	req        *http.Request // a detached copy: header, URL, path values, remote address
	ctx        context.Context
	cancel     context.CancelFunc
	session    atomic.Pointer[session]
	conn       transport.Conn // set once, before the channel is open
	state      atomic.Int32   // stateOpening, stateOpen, stateClosed
	connected  bool           // OnConnect returned nil; read by the reader goroutine only
	closeInfo  atomic.Pointer[CloseInfo]
	workerLoop func()     // c.work, allocated once
	writeLoop  func()     // c.write, allocated once
	writes     writeWatch // WriteTimeout

	limiter bucket // RateLimit

	hbMu sync.Mutex  // guards hb
	hb   *time.Timer // the heartbeat; see heartbeat.go

	expiryMu sync.Mutex  // guards expiry
	expiry   *time.Timer // closes the channel when a required session expires

	inMu        sync.Mutex // guards the fields below up to outMu
	inCond      sync.Cond  // on inMu: space in inQ, a worker exited, closing
	inQ         ring[inFrame]
	workers     int    // running worker goroutines
	received    uint64 // frames the reader has read
	paused      bool   // the reader waits for space in inQ
	pauses      uint64 // how often the reader has paused
	closing     bool   // no new frames are handled; set by Close, drop and the end
	closeQueued bool   // the close frame has been queued for the writer
	closeCode   websocket.StatusCode
	closeReason string
	idleWaiters atomic.Int32 // goroutines waiting in waitIdle; changed under inMu

	outMu     sync.Mutex // guards the fields below
	outQ      ring[outFrame]
	writing   bool // a writer goroutine is running
	outClosed bool // nothing more may be queued

	topics map[string]struct{} // guarded by the Router's hub.mu

	workersWG sync.WaitGroup // workers and the writer
}

const (
	stateOpening int32 = iota
	stateOpen
	stateClosed
)

// inFrame is one item of the inbound queue.
type inFrame struct {
	data   []byte
	binary bool // a binary frame, for the channel's binary handler
}

// outFrame is one item of the send queue: a data frame, or the close frame.
type outFrame struct {
	data   []byte
	binary bool
	close  bool
}

func newChannel(cr *ChannelRoute, req *http.Request) *Channel {
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	detached := req.WithContext(ctx) // keeps the path values
	detached.Body = http.NoBody
	detached.Header = req.Header.Clone()
	c := &Channel{
		id:     cr.router.newID(),
		router: cr.router,
		route:  cr,
		req:    detached,
		ctx:    ctx,
		cancel: cancel,
	}
	c.inCond.L = &c.inMu
	c.workerLoop = c.work
	c.writeLoop = c.write
	return c
}

// ID returns the channel's id, unique within its Router.
func (c *Channel) ID() string { return c.id }

// Name returns the name of the channel route (ChannelConfig.Name).
func (c *Channel) Name() string { return c.route.name }

// Router returns the Router the channel belongs to.
func (c *Channel) Router() *Router { return c.router }

// PathValue returns the value of the named path wildcard of the channel's
// pattern ("room" in "/rooms/{room}"), or "".
func (c *Channel) PathValue(name string) string { return c.req.PathValue(name) }

// Query returns the opening request's query parameters. Do not modify it.
func (c *Channel) Query() url.Values { return c.req.URL.Query() }

// Header returns a copy of the opening request's header taken when the
// channel was created. Do not modify it.
func (c *Channel) Header() http.Header { return c.req.Header }

// Cookie returns the named cookie of the opening request.
func (c *Channel) Cookie(name string) (*http.Cookie, error) { return c.req.Cookie(name) }

// RemoteAddr returns the network address of the peer, as http.Request.RemoteAddr.
func (c *Channel) RemoteAddr() string { return c.req.RemoteAddr }

// Context returns the channel's context: it keeps the opening request's
// values and is cancelled when the channel closes.
func (c *Channel) Context() context.Context { return c.ctx }

// Send queues the JSON encoding of v for the peer. It never blocks on the
// peer: when the send queue is full the channel is dropped as a slow consumer
// and Send returns ErrSlowConsumer. It returns ErrNotOpen before the upgrade
// and ErrClosed once the channel is closing. ctx is reserved for future use.
func (c *Channel) Send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.enqueue(b)
}

// SendBinary queues b as a binary frame for the peer, like Send. Use it on
// channels whose clients expect binary frames (see HandleBinary).
func (c *Channel) SendBinary(ctx context.Context, b []byte) error {
	return c.push(outFrame{data: bytes.Clone(b), binary: true}, false)
}

// enqueue queues one frame for the writer, starting it if it is not
// running; see push.
func (c *Channel) enqueue(b []byte) error { return c.push(outFrame{data: b}, false) }

// push queues one frame. If no writer runs, one is started: on the pool, or,
// when inline is set, on the calling goroutine. The channel's own worker
// writes its replies inline, which saves a goroutine hand-off per message;
// it then waits on a slow peer (at most WriteTimeout), which only delays that
// peer's next message. Other senders never write inline and never block.
func (c *Channel) push(f outFrame, inline bool) error {
	if c.state.Load() == stateOpening {
		return ErrNotOpen
	}
	c.outMu.Lock()
	if c.outClosed {
		c.outMu.Unlock()
		return ErrClosed
	}
	if !f.close && c.outQ.len() >= c.route.limits.SendQueue {
		c.outMu.Unlock()
		c.drop("slow consumer")
		return ErrSlowConsumer
	}
	c.outQ.push(f)
	start := !c.writing
	if start {
		c.writing = true
		c.workersWG.Add(1)
	}
	c.outMu.Unlock()
	switch {
	case !start:
	case inline:
		c.write()
	default:
		c.router.pool.run(c.writeLoop)
	}
	return nil
}

// write is the writer: it drains the send queue and returns when it is
// empty. Start and exit are decided under outMu, so no frame is stranded.
// Each write is bounded by WriteTimeout.
func (c *Channel) write() {
	defer c.workersWG.Done()
	for {
		c.outMu.Lock()
		if c.outQ.len() == 0 {
			c.writing = false
			c.outMu.Unlock()
			c.notifyIdle()
			return
		}
		f := c.outQ.pop()
		if f.close {
			c.outClosed = true
			c.outQ.clear()
		}
		c.outMu.Unlock()
		if f.close {
			c.inMu.Lock()
			code, reason := c.closeCode, c.closeReason
			c.inMu.Unlock()
			_ = c.conn.Close(code, reason) // waits for the peer's close frame, bounded by coder/websocket
			continue
		}
		c.beginWrite()
		typ := websocket.MessageText
		if f.binary {
			typ = websocket.MessageBinary
		}
		err := c.conn.Write(context.Background(), typ, f.data)
		c.endWrite()
		if err != nil {
			// coder/websocket closes the connection on a failed write; the
			// reader then ends the channel with what it finds there — the
			// peer's close frame if one raced with this write, or a lost
			// connection — and a timeout has already recorded its reason.
			c.stopQueues()
		}
	}
}

// writeWatch enforces WriteTimeout with one lazily armed timer per channel
// instead of a deadline per write (that cost a timer, a context and one of
// coder/websocket's AfterFuncs per frame; then a timer Reset and Stop per
// frame). A write stores its start time; the timer, armed by the first write
// after it lapsed, checks the write in progress when it fires: too old → the
// peer is dropped as "write timeout" (recorded before the connection is cut,
// so the reader reports the right reason); still young → it re-arms for the
// rest; none → it lapses. Only one writer runs at a time.
type writeWatch struct {
	start atomic.Int64 // UnixNano when the write in progress began; 0: none
	armed atomic.Bool  // the timer is pending (or firing and about to decide)
	timer *time.Timer  // created by the first write; guarded by armed
}

// beginWrite marks the start of a write.
func (c *Channel) beginWrite() {
	w := &c.writes
	w.start.Store(time.Now().UnixNano())
	if w.armed.CompareAndSwap(false, true) {
		c.armWriteTimer(c.route.limits.WriteTimeout)
	}
}

// endWrite marks the end of a write.
func (c *Channel) endWrite() { c.writes.start.Store(0) }

func (c *Channel) armWriteTimer(d time.Duration) {
	w := &c.writes
	if w.timer == nil {
		w.timer = time.AfterFunc(d, c.checkWrite)
		return
	}
	w.timer.Reset(d)
}

// checkWrite runs when the write timer fires.
func (c *Channel) checkWrite() {
	w := &c.writes
	timeout := c.route.limits.WriteTimeout
	if start := w.start.Load(); start != 0 {
		if age := time.Duration(time.Now().UnixNano() - start); age >= timeout {
			c.drop("write timeout")
		} else {
			c.armWriteTimer(timeout - age)
		}
		return
	}
	w.armed.Store(false)
	// A write that began after the check above saw the timer armed and did
	// not arm it: arm it for that write unless it has done so itself.
	if w.start.Load() != 0 && w.armed.CompareAndSwap(false, true) {
		c.armWriteTimer(timeout)
	}
}

// stopWriteWatch stops the timer at the end of the channel's life, once the
// writer is gone (if it fires anyway, it finds no write and lapses).
func (c *Channel) stopWriteWatch() {
	if t := c.writes.timer; t != nil {
		t.Stop()
	}
}

// Close closes the channel with code and reason after its running handler
// (if any) has finished and the frames queued before have been written. The
// first close wins; later calls do nothing. Frames not yet handled are
// discarded.
func (c *Channel) Close(code websocket.StatusCode, reason string) {
	if !c.recordClose(CloseInfo{Code: code, Reason: reason}) {
		return
	}
	c.inMu.Lock()
	c.closing = true
	c.closeCode, c.closeReason = code, reason
	c.discardLocked()
	queue := c.workers == 0 && !c.closeQueued && c.state.Load() == stateOpen
	c.closeQueued = c.closeQueued || queue
	c.inCond.Broadcast()
	c.inMu.Unlock()
	if queue {
		c.queueClose()
	}
}

// queueClose puts the close frame at the end of the send queue.
func (c *Channel) queueClose() { _ = c.push(outFrame{close: true}, false) }

// drop closes the connection at once, without a close frame: for peers a
// close frame cannot reach (slow consumer, write timeout) and for the end of
// Shutdown's grace period.
func (c *Channel) drop(reason string) {
	c.recordClose(CloseInfo{Code: -1, Reason: reason})
	if conn := c.stopQueues(); conn != nil {
		_ = conn.CloseNow()
	}
	c.cancel()
}

// stopQueues makes the channel handle and send nothing more, and returns its
// connection (nil while opening).
func (c *Channel) stopQueues() transport.Conn {
	c.inMu.Lock()
	c.closing = true
	c.discardLocked()
	c.inCond.Broadcast()
	c.inMu.Unlock()
	c.outMu.Lock()
	defer c.outMu.Unlock()
	c.outClosed = true
	c.outQ.clear()
	return c.conn
}

// recordClose stores why the channel closes; the first call wins.
func (c *Channel) recordClose(info CloseInfo) bool {
	return c.closeInfo.CompareAndSwap(nil, &info)
}

// discardLocked drops frames not yet handled. inMu must be held.
func (c *Channel) discardLocked() { c.inQ.clear() }
