package wsroute

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsroute/wsroute/internal/transport"
)

// Channel is one WebSocket connection on a channel route, from its opening to
// its close. Its methods are safe for concurrent use.
//
// The mechanism behind it is spread over files named for their concern:
// reader.go (reading, the inbound queue), worker.go (handling), writer.go
// (the send queue, writing), close.go (states and teardown), heartbeat.go,
// session.go, topics.go; lifecycle.go holds the open, message and close
// pipelines that run on it.
type Channel struct {
	id     string
	router *Router
	route  *ChannelRoute
	limits *Limits         // the route's effective limits
	req    *http.Request   // a detached copy: header, URL, path values, remote address
	ctx    context.Context // see Context; replaced by a valuesCtx once the open pipeline passed
	cancel context.CancelFunc

	openValues context.Context // the open pipeline's innermost context; serve's goroutine only
	conn       transport.Conn  // set by attach; never changes afterwards
	// netConn is the network connection under conn (nil in memory), set
	// with it; only drainClose uses it.
	netConn net.Conn

	session atomic.Pointer[session] // read without locking; see session.go
	sessMu  sync.Mutex              // serializes session changes and their expiry timer

	localMu sync.Mutex  // guards locals
	locals  map[any]any // Local values by key

	state     atomic.Uint32  // a chanState; changed under mu by end and finish only
	opened    bool           // upgraded and registered; written by serve, read by finish on the same goroutine
	connected bool           // OnConnect returned nil; likewise
	detached  bool           // runs one event of a detached lifecycle (detached.go); set before it is shared
	suspended bool           // a detached channel let go after its event, without its close lifecycle
	limiter   limiter        // the rate limits' buckets and flood counter
	writes    writeWatch     // WriteTimeout
	tasks     sync.WaitGroup // workers, the writer and timer callbacks; finish waits for them

	mu   sync.Mutex // guards the fields below
	cond sync.Cond  // on mu: space in the inbound queue, a worker or writer stopped, a state change
	info *CloseInfo // why the channel ends; the first recorded wins

	closingCh chan struct{} // made by Closing, closed when closing begins

	inQ         ring[inFrame]
	inBytes     int       // bytes in inQ
	workers     int       // running workers
	runners     []*runner // the workers running handlers, for session attribution
	received    uint64    // frames the reader has read
	pushed      uint64    // frames queued for the peer
	paused      bool      // the reader waits for space in inQ
	pauses      uint64    // how often the reader has paused
	idleWaiters int       // goroutines in waitIdle

	outQ     ring[outFrame]
	outBytes int  // bytes in outQ
	held     int  // bytes handed to the connection and not yet written (transport.Conn.Send)
	writing  bool // a writer is running

	hbTimer     *time.Timer // the heartbeat
	expiryTimer *time.Timer // closes the channel when a required session expires
	firstTimer  *time.Timer // FirstMessageTimeout
	closeTimer  *time.Timer // CloseTimeout

	topicsMu sync.Mutex          // taken after a hub shard's mu
	topics   map[string]struct{} // guarded by topicsMu

	key     string // the session key it is indexed under; guarded by the Router's keys.mu
	indexed bool   // registered: its session key is indexed; guarded by keys.mu

	workerLoop func(gid uint64) // c.work, allocated once
	writeLoop  func(gid uint64) // c.write, allocated once
}

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

// chanKey is the context key under which a channel's contexts carry it, so
// that Shutdown called from one of its callbacks does not wait for itself.
type chanKey struct{}

func newChannel(cr *ChannelRoute, req *http.Request) *Channel {
	c := &Channel{
		id:     cr.router.newID(),
		router: cr.router,
		route:  cr,
		limits: &cr.limits,
	}
	c.ctx, c.cancel = context.WithCancel(context.WithValue(context.WithoutCancel(req.Context()), chanKey{}, c))
	detached := req.WithContext(c.ctx) // keeps the path values
	detached.Body = http.NoBody
	detached.Header = req.Header.Clone()
	c.req = detached
	c.cond.L = &c.mu
	c.workerLoop = c.work
	c.writeLoop = c.writeAll
	return c
}

// ID returns the channel's id, unique across the Routers of a deployment.
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

// Context returns the channel's context, which handlers, OnConnect and (not
// cancelled) OnDisconnect receive: it keeps the opening request's values
// and those open middleware added to the context it passed on, and it is
// cancelled when the channel is closed
// by Close, CloseWhere or session expiry, when it is dropped, and at the end
// of its life. Router.Shutdown leaves it alive until Shutdown's own context
// ends (watch Closing to wrap up early).
func (c *Channel) Context() context.Context { return c.ctx }

// Send queues the JSON encoding of v for the peer. It never blocks on the
// peer: when the send queue is full the channel is dropped as a slow consumer
// and Send returns ErrSlowConsumer. It returns ctx's error if ctx is done,
// ErrNotOpen while the channel is opening and ErrClosed once it is closing.
func (c *Channel) Send(ctx context.Context, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.push(outFrame{data: b}, false)
}

// SendBinary queues b as a binary frame for the peer, like Send. Use it on
// channels whose clients expect binary frames (see HandleBinary).
func (c *Channel) SendBinary(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.push(outFrame{data: bytes.Clone(b), binary: true}, false)
}
