package wsroute

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/transport"
)

// ChannelState is a channel between events when no process holds its
// connection: what a serverless deployment (AWS API Gateway WebSocket APIs
// with a function per event, module github.com/wsroute/wsroute/serverless)
// keeps in a store, and what the Router's detached lifecycles (OpenDetached,
// HandleDetached, CloseDetached) read and return. It round-trips through
// JSON.
type ChannelState struct {
	// ID is the channel's id: the connection id of the gateway.
	ID string `json:"id"`
	// Channel is the name of the channel route (ChannelConfig.Name).
	Channel string `json:"channel"`
	// URL is the opening request's path and query ("/rooms/lobby?x=1"),
	// from which the path values are matched again.
	URL string `json:"url"`
	// Header is the opening request's header, as Channel.Header shows it.
	Header http.Header `json:"header,omitempty"`
	// RemoteAddr is the client's address, as Channel.RemoteAddr shows it.
	RemoteAddr string `json:"remoteAddr,omitempty"`
	// Session is the session as JSON; absent when there is none. Sessions
	// of detached channels must round-trip through encoding/json:
	// SessionAs[T] decodes it into a T.
	Session json.RawMessage `json:"session,omitempty"`
	// SessionExpires is when the session expires; zero: never.
	SessionExpires time.Time `json:"sessionExpires,omitzero"`
	// Connected: OnConnect succeeded, so OnDisconnect runs at the close.
	Connected bool `json:"connected"`
	// Topics are the channel's subscriptions, sorted.
	Topics []string `json:"topics,omitempty"`
}

// The detached lifecycles run a channel one event at a time, without a
// socket and without keeping anything in the process between events: each
// call rebuilds the Channel from its ChannelState, runs the very code a
// socket's channel runs (the open lifecycle, the reader's frame checks, a
// worker's message pipeline, the writer, the close lifecycle) against a
// connection that only records what is written, and returns the new state
// and the frames for the client. A serverless adapter stores the state and
// sends the frames (API Gateway's Management API).
//
// What does not carry over between events: goroutines, timers (no
// heartbeat — the gateway keeps the connection — and no session expiry
// timer: an expired session is found at the next event), the inbound queue
// and Parallel (one frame per call), the rate limit's bucket (each event
// starts full), and Local values.

// DetachedFrame is a frame for the client.
type DetachedFrame struct {
	Data   []byte
	Binary bool
}

// DetachedResult is what a detached lifecycle produced.
type DetachedResult struct {
	// Status is OpenDetached's answer to the opening: 0 when the channel
	// opened, else the HTTP status of the refusal (401, 403, 404, 426, 503)
	// with Error saying why.
	Status int
	Error  *Error
	// State is the channel's state after the event: to store (after
	// OpenDetached and HandleDetached) or the last one (CloseDetached).
	State ChannelState
	// Frames are the frames written to the client, in order: pushes from
	// OnConnect, replies, error frames, pushes.
	Frames []DetachedFrame
	// Close is set when the channel asked to be closed during the event
	// (Channel.Close, an expired required session, OnConnect failing, a
	// binary frame on a text channel, …): the adapter closes the connection
	// and runs CloseDetached when the gateway reports it gone.
	Close *CloseInfo
}

// OpenDetached runs the open lifecycle for req — middleware, auth,
// permissions, then OnConnect — for the channel whose connection id is id.
// req is the opening request (path, query, headers, RemoteAddr); it needs no
// WebSocket handshake headers: the gateway did the handshake.
func (r *Router) OpenDetached(req *http.Request, id string) DetachedResult {
	job := &detachedJob{id: id}
	return r.runDetached(req, job)
}

// HandleDetached runs the message lifecycle for one frame (text, or binary
// when binary is set) of the channel in st.
func (r *Router) HandleDetached(ctx context.Context, st ChannelState, data []byte, binary bool) (DetachedResult, error) {
	req, err := st.request(ctx)
	if err != nil {
		return DetachedResult{}, err
	}
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	res := r.runDetached(req, &detachedJob{id: st.ID, resume: &st, typ: typ, data: data})
	return res, res.resumeErr(st)
}

// CloseDetached runs the close lifecycle of the channel in st — its
// subscriptions dropped, OnDisconnect if OnConnect had succeeded, the
// observer's OnClose — with info saying why it closed.
func (r *Router) CloseDetached(ctx context.Context, st ChannelState, info CloseInfo) (DetachedResult, error) {
	req, err := st.request(ctx)
	if err != nil {
		return DetachedResult{}, err
	}
	res := r.runDetached(req, &detachedJob{id: st.ID, resume: &st, close: &info})
	return res, res.resumeErr(st)
}

// resumeErr turns a refusal of a resumed channel into an error.
func (res DetachedResult) resumeErr(st ChannelState) error {
	if res.Status == 0 {
		return nil
	}
	return fmt.Errorf("wsroute: channel %q (%s): %d %v", st.Channel, st.URL, res.Status, res.Error)
}

// request rebuilds the opening request of st.
func (st *ChannelState) request(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("wsroute: channel state %q: url: %w", st.ID, err)
	}
	if st.Header != nil {
		req.Header = st.Header.Clone()
	}
	req.RemoteAddr = st.RemoteAddr
	return req, nil
}

// runDetached routes req through the Router — so the channel route and its
// path values are found as for a socket — with job in its context.
func (r *Router) runDetached(req *http.Request, job *detachedJob) DetachedResult {
	job.conn = &captureConn{}
	job.hook = transport.Hook{Conn: job.conn, Opened: make(chan struct{})}
	ctx := transport.WithHook(context.WithValue(req.Context(), detachedKey{}, job), &job.hook)
	var w statusWriter
	r.ServeHTTP(&w, req.WithContext(ctx))
	if !job.ran && job.result.Status == 0 { // refused before the channel existed (404, 503) or while opening
		job.result.Status = w.status
		if job.result.Status == 0 || job.result.Status == http.StatusSwitchingProtocols {
			job.result.Status = http.StatusInternalServerError
		}
		if job.result.Error == nil {
			job.result.Error = parseHTTPError(w.body)
		}
	}
	return job.result
}

// detachedJob is one detached lifecycle call, handed to ChannelRoute.serve
// in the request's context.
type detachedJob struct {
	id     string
	resume *ChannelState // nil: open
	typ    websocket.MessageType
	data   []byte
	close  *CloseInfo // set: the close lifecycle

	conn   *captureConn
	hook   transport.Hook
	ran    bool // the channel was upgraded (or resumed)
	result DetachedResult
}

type detachedKey struct{}

func detachedFrom(ctx context.Context) *detachedJob {
	j, _ := ctx.Value(detachedKey{}).(*detachedJob)
	return j
}

// resume rebuilds the channel of job.resume and runs its message or close
// lifecycle; the open lifecycle ran at OpenDetached.
func (cr *ChannelRoute) resume(c *Channel, job *detachedJob) {
	r := cr.router
	st := job.resume
	if st.Channel != cr.name {
		r.unreserve()
		job.result = DetachedResult{Status: http.StatusNotFound,
			Error: Errorf(CodeNotFound, "channel state %q is of channel %q, but %s is served by %q", st.ID, st.Channel, st.URL, cr.name)}
		c.cancel()
		return
	}
	c.id = st.ID
	c.detached = true
	if !r.track(c) {
		job.result = DetachedResult{Status: http.StatusServiceUnavailable, Error: errShuttingDown}
		c.end(CloseInfo{Code: -1, Reason: ReasonShutdown}, closeDrop)
		c.finish()
		return
	}
	if len(st.Session) > 0 && string(st.Session) != "null" {
		c.session.Store(&session{value: storedSession(st.Session), expires: st.SessionExpires})
	}
	if len(st.Topics) > 0 {
		c.topics = make(map[string]struct{}, len(st.Topics))
		for _, t := range st.Topics {
			c.topics[t] = struct{}{}
		}
	}
	c.attach(job.conn)
	r.register(c)
	c.opened, c.connected = true, st.Connected
	job.ran = true
	if job.close != nil {
		job.result.State = c.snapshot()
		c.end(*job.close, closeDrop)
		c.finish()
		job.result.Frames = job.conn.frames
		return
	}
	var read uint64
	if s := c.session.Load(); !cr.cfg.Public && s != nil && s.value != nil && !s.valid() {
		c.Close(StatusSessionExpired, ReasonSessionExpired) // found now: no timer between events
	} else {
		c.take(job.typ, job.data)
		read = 1
	}
	_ = c.waitIdle(context.Background(), read) // handled and written, or closing with the close frame out
	job.suspend(c)
}

// opened is called by serve once a detached channel's open lifecycle has
// run (OnConnect included).
func (job *detachedJob) opened(c *Channel) {
	job.ran = true
	_ = c.waitIdle(context.Background(), 0)
	job.suspend(c)
}

// suspend records the channel's state and frames, and lets go of the
// channel without its close lifecycle: it lives on in the store.
func (job *detachedJob) suspend(c *Channel) {
	job.result.State = c.snapshot()
	job.result.Frames = job.conn.frames
	job.result.Close = job.conn.closed
	c.suspended = true
	c.end(CloseInfo{Code: -1, Reason: "suspended"}, closeDrop)
	c.finish()
}

// snapshot returns the channel's state.
func (c *Channel) snapshot() ChannelState {
	st := ChannelState{
		ID: c.id, Channel: c.route.name, URL: c.req.URL.RequestURI(),
		Header: c.req.Header, RemoteAddr: c.req.RemoteAddr,
		Connected: c.connected, Topics: c.Topics(),
	}
	if len(st.Topics) == 0 {
		st.Topics = nil
	}
	if s := c.session.Load(); s != nil && s.value != nil {
		raw, err := sessionJSON(s.value)
		if err != nil {
			c.router.log.Error("wsroute: the session of a detached channel does not encode as JSON; it is dropped",
				"channel", c.route.name, "id", c.id, "err", err)
		} else {
			st.Session, st.SessionExpires = raw, s.expires
		}
	}
	return st
}

// storedSession is a session read back from a ChannelState: JSON that
// SessionAs decodes into the type asked for.
type storedSession json.RawMessage

func sessionJSON(v any) (json.RawMessage, error) {
	if raw, ok := v.(storedSession); ok {
		return json.RawMessage(raw), nil
	}
	return json.Marshal(v)
}

// captureConn is the connection of a detached channel: it records the
// frames written and a close, and reads nothing.
type captureConn struct {
	mu     sync.Mutex
	frames []DetachedFrame
	closed *CloseInfo
}

var _ transport.Conn = (*captureConn)(nil)

func (k *captureConn) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	<-ctx.Done()
	return 0, nil, ctx.Err()
}

func (k *captureConn) Write(_ context.Context, typ websocket.MessageType, p []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.frames = append(k.frames, DetachedFrame{Data: bytes.Clone(p), Binary: typ == websocket.MessageBinary})
	return nil
}

func (k *captureConn) Send(frames []transport.Frame) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, f := range frames {
		k.frames = append(k.frames, DetachedFrame{Data: bytes.Clone(f.Data), Binary: f.Binary})
	}
	return 0, nil
}

func (k *captureConn) Close(code websocket.StatusCode, reason string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed == nil {
		k.closed = &CloseInfo{Code: code, Reason: reason}
	}
	return nil
}

func (k *captureConn) CloseNow() error            { return nil }
func (k *captureConn) SetReadLimit(int64)         {}
func (k *captureConn) Ping(context.Context) error { return nil }
func (k *captureConn) Flush() error               { return nil }
func (k *captureConn) Discard()                   {}

// statusWriter is the ResponseWriter of a detached call: it keeps the
// status and body of a refusal.
type statusWriter struct {
	h      http.Header
	status int
	body   []byte
}

func (w *statusWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// parseHTTPError reads the body writeHTTPError wrote, or makes an error of
// a body that is not one (net/http's 404 page).
func parseHTTPError(body []byte) *Error {
	var v struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error.Code != "" {
		return NewError(v.Error.Code, v.Error.Message)
	}
	return NewError(CodeNotFound, strings.TrimSpace(string(body)))
}
