package wsroutetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/transport"
)

// DialOptions tunes Dial. The zero value dials with no extra header.
type DialOptions struct {
	// Header is added to the opening request (Authorization, Cookie, Origin, ...).
	Header http.Header
	// RemoteAddr is the peer address the channel sees. Default "192.0.2.1:1234".
	RemoteAddr string
}

// HandshakeError is returned by Dial when the Router refused the opening.
type HandshakeError struct {
	StatusCode int         // HTTP status: 401, 403, 404, 426, 503, ...
	Code       string      // the error code of the JSON body
	Message    string      // the error message of the JSON body
	Header     http.Header // the answer's header
}

// Error describes the refusal: its status, code and message.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("wsroutetest: opening refused with %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Conn is the client end of a channel opened in memory.
//
// One goroutine reads: Read, ReadJSON, ReadReply, ReadEvent, Received and
// Wait share the frames set aside by ReadReply, ReadEvent and Wait, and are
// not safe for concurrent use, as with a net.Conn. Send, SendText,
// SendBinary, Flush, Settle, Close, Drop, Done, Channel and String may be
// called from any goroutine, also while another one reads.
type Conn struct {
	client *transport.End
	hook   *transport.Hook
	done   chan struct{} // closed when the channel's life is over
	// kept holds, in order, the frames read from the pipe and set aside by
	// ReadReply, ReadEvent or Wait, not yet returned. Only the reading
	// methods use it, from the one goroutine that reads.
	kept []json.RawMessage
}

// Dial opens a channel on r at target (a path with an optional query, such as
// "/todos?token=abc") in memory.
func Dial(ctx context.Context, r *wsroute.Router, target string, opts *DialOptions) (*Conn, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	server, client := transport.NewPipe()
	hook := &transport.Hook{Conn: server, Opened: make(chan struct{})}
	req := httptest.NewRequestWithContext(transport.WithHook(ctx, hook), http.MethodGet, target, nil)
	for k, vs := range opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString([]byte("wsroutetest-key!")))
	if opts.RemoteAddr != "" {
		req.RemoteAddr = opts.RemoteAddr
	}
	rec := httptest.NewRecorder()
	c := &Conn{client: client, hook: hook, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		r.ServeHTTP(rec, req)
	}()
	select {
	case <-hook.Opened:
		return c, nil
	case <-c.done:
		select {
		case <-hook.Opened: // opened, then closed at once (a failed OnConnect): both are ready
			return c, nil
		default:
		}
		res := rec.Result()
		he := &HandshakeError{StatusCode: res.StatusCode, Header: res.Header}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err == nil {
			he.Code, he.Message = body.Error.Code, body.Error.Message
		}
		return nil, he
	case <-ctx.Done():
		client.CloseNow()
		<-c.done
		return nil, ctx.Err()
	}
}

// MustDial is Dial for tests: it fails t on error and closes the channel when
// the test ends.
func MustDial(t testing.TB, r *wsroute.Router, target string, opts *DialOptions) *Conn {
	t.Helper()
	c, err := Dial(t.Context(), r, target, opts)
	if err != nil {
		t.Fatalf("wsroutetest: dial %s: %v", target, err)
	}
	t.Cleanup(func() { c.Drop() })
	return c
}

// Channel returns the server side of the connection.
func (c *Conn) Channel() *wsroute.Channel { return c.hook.Channel.(*wsroute.Channel) }

// Send sends the JSON encoding of v as a text frame.
func (c *Conn) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.SendText(string(b))
}

// SendText sends s as a text frame, as it is (it need not be JSON or even UTF-8).
func (c *Conn) SendText(s string) error {
	return c.client.Write(context.Background(), websocket.MessageText, []byte(s))
}

// SendBinary sends b as a binary frame.
func (c *Conn) SendBinary(b []byte) error {
	return c.client.Write(context.Background(), websocket.MessageBinary, b)
}

// Flush waits until the channel has handled every frame sent so far and
// written every frame its handlers queued: afterwards Received holds all the
// replies, and an empty Received proves that nothing was sent. It is about
// this channel's own work: frames that other goroutines (another channel's
// handler, a timer) push to it are not waited for; Settle waits for those.
// Flush returns nil if the channel closed meanwhile, after its end.
func (c *Conn) Flush(ctx context.Context) error {
	err := c.hook.WaitIdle(ctx, c.client.Written())
	if errors.Is(err, wsroute.ErrClosed) {
		<-c.done
		return nil
	}
	return err
}

// Settle waits until the whole Router is quiet: every channel opened in
// memory has handled every frame its client sent, every handler has
// returned, every channel that began closing has closed and ended its
// teardown (OnDisconnect), and every frame queued for any channel has been
// written. It is Flush for all
// the Router's channels at once, and the barrier for frames that other
// channels' goroutines push to this one: after another client's message
// whose handler publishes to a topic this channel subscribed, or a kick
// whose OnDisconnect announces the leave, Received holds the event.
//
// Settle returns only ctx's error. It waits for nothing outside the
// Router's lifecycles (a goroutine or a timer of the application), cannot
// tell what a network client has sent but the server not yet read, and
// does not end while a handler of any channel blocks; call it from the
// test, not from a handler. It may be called after the channel closed.
func (c *Conn) Settle(ctx context.Context) error { return c.hook.Settle(ctx) }

// Read returns the next frame the server sent, waiting for one: a frame
// kept by ReadReply, ReadEvent or Wait first. Once the channel is closed it
// returns a websocket.CloseError (use websocket.CloseStatus or
// wsroute.CloseStatus) or, for a dropped connection, another error.
func (c *Conn) Read(ctx context.Context) (json.RawMessage, error) {
	if len(c.kept) > 0 {
		f := c.kept[0]
		c.kept = c.kept[1:]
		return f, nil
	}
	_, b, err := c.client.Read(ctx)
	return b, err
}

// ReadJSON reads the next frame into v.
func (c *Conn) ReadJSON(ctx context.Context, v any) error {
	b, err := c.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Received flushes and returns every frame received and not yet read
// (those kept by ReadReply, ReadEvent or Wait first), in order, consuming
// them. Use it as Flush-then-collect in one step, or after Settle.
func (c *Conn) Received(ctx context.Context) ([]json.RawMessage, error) {
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	out := c.kept
	c.kept = nil
	for {
		rctx, cancel := context.WithCancel(ctx)
		cancel() // never wait: take only what is there
		_, b, err := c.client.Read(rctx)
		if err != nil {
			break
		}
		out = append(out, b)
	}
	return out, nil
}

// Close closes the connection from the client side with code and reason and
// returns once the channel's close lifecycle has ended: OnDisconnect has
// run and the channel has left the Router.
func (c *Conn) Close(code websocket.StatusCode, reason string) error {
	err := c.client.Close(code, reason)
	<-c.done
	if errors.Is(err, net.ErrClosed) { // the server closed first
		return nil
	}
	return err
}

// Drop cuts the connection without a close frame, like a network failure,
// and returns once the channel's close lifecycle has ended (OnDisconnect
// has run).
func (c *Conn) Drop() {
	_ = c.client.CloseNow()
	<-c.done
}

// Done is closed when the channel's life is over (after OnDisconnect).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Wait waits until the server ends the channel and returns the close error
// the client saw (a websocket.CloseError for a close frame), once the
// channel's close lifecycle has ended (OnDisconnect has run). The frames it
// reads meanwhile are kept for the next reads. When ctx ends first it
// returns ctx's error and the channel stays open.
func (c *Conn) Wait(ctx context.Context) error {
	for {
		_, b, err := c.client.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				<-c.done
			}
			return err
		}
		c.kept = append(c.kept, b)
	}
}

// String describes the connection for test failure messages.
func (c *Conn) String() string { return "wsroutetest.Conn(" + c.Channel().ID() + ")" }
