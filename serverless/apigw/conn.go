package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// conn is one client connection. Its reader (the upgrade request's
// goroutine) reads messages and queues them; its worker invokes the handler
// for them one at a time and then invokes $disconnect once.
type conn struct {
	e           *Emulator
	id          string
	domain      string
	sourceIP    string
	userAgent   string
	connectedAt time.Time
	frames      *frameScanner
	ws          *websocket.Conn // set before ready is closed; nil if the upgrade failed
	ready       chan struct{}
	queue       chan inbound // closed by the reader when it ends

	lastActive atomic.Int64 // unix nanos of the last message either way

	closeOnce   sync.Once
	closeCode   websocket.StatusCode
	closeReason string

	timerMu   sync.Mutex
	idle, dur *time.Timer
	ended     bool
}

type inbound struct {
	typ  websocket.MessageType
	data []byte
}

// event returns an event with the request context API Gateway fills for
// every event of this connection.
func (c *conn) event(routeKey, eventType string) events.APIGatewayWebsocketProxyRequest {
	now := time.Now()
	id := newID()
	return events.APIGatewayWebsocketProxyRequest{
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey:          routeKey,
			EventType:         eventType,
			MessageDirection:  "IN",
			ConnectionID:      c.id,
			DomainName:        c.domain,
			Stage:             c.e.opts.Stage,
			APIID:             c.e.opts.APIID,
			RequestID:         id,
			ExtendedRequestID: id,
			ConnectedAt:       c.connectedAt.UnixMilli(),
			RequestTime:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch:  now.UnixMilli(),
			Identity:          events.APIGatewayRequestIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		},
	}
}

// socket waits for the upgrade and returns the socket, nil if it failed.
func (c *conn) socket() *websocket.Conn {
	<-c.ready
	return c.ws
}

func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// setClose records why the connection ended; the first call wins.
func (c *conn) setClose(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
	})
}

// closeAsync closes the connection from the server's side with a close
// frame, without waiting for the handshake.
func (c *conn) closeAsync(code websocket.StatusCode, reason string) {
	c.setClose(code, reason)
	c.e.forget(c)
	c.e.wg.Go(func() {
		if ws := c.socket(); ws != nil {
			_ = ws.Close(code, reason)
		}
	})
}

// errTooBig is a client message over MaxMessage or a frame over MaxFrame.
var errTooBig = errors.New("apigw: message too big")

// readLoop reads until the connection ends, then lets the worker finish.
func (c *conn) readLoop() {
	defer c.end()
	for {
		typ, data, err := c.readMessage()
		switch {
		case errors.Is(err, errTooBig):
			c.closeSelf(websocket.StatusMessageTooBig, "Message too big")
			return
		case err != nil:
			if ce := (websocket.CloseError{}); errors.As(err, &ce) {
				c.setClose(ce.Code, ce.Reason)
			} else {
				c.setClose(websocket.StatusAbnormalClosure, "")
			}
			return
		case typ == websocket.MessageBinary && !c.e.opts.AllowBinary:
			c.closeSelf(websocket.StatusUnsupportedData, "Binary frames are not supported")
			return
		}
		c.touch()
		c.queue <- inbound{typ, data}
	}
}

// closeSelf closes from the reading goroutine, which waits for the client's
// close frame (at most 5 s, coder/websocket's bound).
func (c *conn) closeSelf(code websocket.StatusCode, reason string) {
	c.setClose(code, reason)
	c.e.forget(c)
	_ = c.ws.Close(code, reason)
}

// readMessage reads one message, failing with errTooBig past MaxMessage or
// when a frame exceeded MaxFrame. A binary message is returned unread unless
// binary is allowed.
func (c *conn) readMessage() (websocket.MessageType, []byte, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	if typ == websocket.MessageBinary && !c.e.opts.AllowBinary {
		return typ, nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(c.e.opts.MaxMessage)+1))
	if c.frames.oversize.Load() || len(data) > c.e.opts.MaxMessage {
		return 0, nil, errTooBig
	}
	if err != nil {
		return 0, nil, err
	}
	return typ, data, nil
}

// end runs once the reader has stopped: the connection is gone for the
// Management API, its timers stop, and the worker drains the queue.
func (c *conn) end() {
	c.e.forget(c)
	c.timerMu.Lock()
	c.ended = true
	if c.idle != nil {
		c.idle.Stop()
	}
	if c.dur != nil {
		c.dur.Stop()
	}
	c.timerMu.Unlock()
	_ = c.ws.CloseNow()
	close(c.queue)
}

// work invokes the handler for each queued message in order, then
// $disconnect exactly once.
func (c *conn) work() {
	for m := range c.queue {
		c.deliver(m)
	}
	c.disconnect()
}

func (c *conn) invokeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.e.base, c.e.opts.IntegrationTimeout)
}

func (c *conn) deliver(m inbound) {
	ev := c.event("", "MESSAGE")
	if m.typ == websocket.MessageBinary {
		ev.RequestContext.RouteKey = RouteDefault
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(m.data), true
	} else {
		ev.RequestContext.RouteKey = c.e.route.selectRoute(m.data)
		ev.Body = string(m.data)
	}
	ev.RequestContext.MessageID = newID()
	ctx, cancel := c.invokeCtx()
	resp, err := c.e.invoke(ctx, ev)
	cancel()
	if err != nil {
		c.e.log.Error("apigw: invocation failed", "connectionId", c.id, "routeKey", ev.RequestContext.RouteKey, "err", err)
		msg := "Internal server error"
		if errors.Is(err, errIntegrationTimeout) {
			msg = "Endpoint request timed out"
		}
		// API Gateway's error frame, spacing included.
		frame := "{\"message\": " + jsonString(msg) + ", \"connectionId\":" + jsonString(c.id) + ", \"requestId\":" + jsonString(ev.RequestContext.RequestID) + "}"
		_ = c.send([]byte(frame))
		return
	}
	if c.e.opts.TwoWay && resp.Body != "" {
		body := []byte(resp.Body)
		if resp.IsBase64Encoded {
			if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
				body = b
			}
		}
		_ = c.send(body)
	}
}

// disconnect invokes $disconnect; its result is ignored, as API Gateway does.
func (c *conn) disconnect() {
	ev := c.event(RouteDisconnect, "DISCONNECT")
	ev.RequestContext.DisconnectStatusCode = int64(c.closeCode)
	reason := c.closeReason
	ev.RequestContext.DisconnectReason = &reason
	ctx, cancel := c.invokeCtx()
	defer cancel()
	if _, err := c.e.invoke(ctx, ev); err != nil {
		c.e.log.Info("apigw: $disconnect failed (ignored)", "connectionId", c.id, "err", err)
	}
}

// writeTimeout bounds one message written to a client.
const writeTimeout = 10 * time.Second

// send writes one message to the client in frames of at most MaxFrame: a
// text message when data is valid UTF-8, else binary.
func (c *conn) send(data []byte) error {
	ws := c.socket()
	if ws == nil {
		return errors.New("apigw: the upgrade failed")
	}
	typ := websocket.MessageText
	if !utf8.Valid(data) {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	w, err := ws.Writer(ctx, typ)
	if err != nil {
		return err
	}
	c.touch()
	for len(data) > 0 {
		n := min(len(data), c.e.opts.MaxFrame)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return w.Close()
}

// startTimers arms the idle timeout and the maximum duration.
func (c *conn) startTimers() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if d := c.e.opts.IdleTimeout; d > 0 {
		c.idle = time.AfterFunc(d, c.checkIdle)
	}
	if d := c.e.opts.MaxDuration; d > 0 {
		c.dur = time.AfterFunc(d, func() {
			c.timerMu.Lock()
			defer c.timerMu.Unlock()
			if !c.ended { // so the reader has not left the WaitGroup yet
				c.closeAsync(websocket.StatusGoingAway, "Going away")
			}
		})
	}
}

// checkIdle closes an idle connection or re-arms for the time left.
func (c *conn) checkIdle() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.ended {
		return
	}
	left := c.e.opts.IdleTimeout - time.Since(time.Unix(0, c.lastActive.Load()))
	if left > 0 {
		c.idle.Reset(left)
		return
	}
	c.closeAsync(websocket.StatusGoingAway, "Going away")
}

// info is GetConnection's answer.
func (c *conn) info() wireConnection {
	var w wireConnection
	w.ConnectedAt = c.connectedAt.UTC()
	w.LastActiveAt = time.Unix(0, c.lastActive.Load()).UTC()
	w.Identity.SourceIP, w.Identity.UserAgent = c.sourceIP, c.userAgent
	return w
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
