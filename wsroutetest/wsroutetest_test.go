package wsroutetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/leakcheck"
	"github.com/wsroute/wsroute/wsroutetest"
)

// TestMain fails the run if any goroutine of wsroute, wsroutetest or
// coder/websocket is still alive after every test has ended: a Conn's
// cleanup and a Router's Shutdown must leave nothing behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked(5 * time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// user is the session type of the tests.
type user struct{ ID string }

// tokenAuth gives "alice-token" a session and refuses other tokens.
var tokenAuth = wsroute.TokenAuth{Check: func(_ context.Context, c *wsroute.Channel, token string) error {
	if token != "alice-token" {
		return wsroute.NewError(wsroute.CodeUnauthenticated, "unknown token")
	}
	c.SetSession(user{ID: "alice"})
	return nil
}}

// kit is a Router with a public channel at /c (and refusing channels
// elsewhere) that records what its lifecycle did.
type kit struct {
	r         *wsroute.Router
	connected atomic.Int32

	mu   sync.Mutex          // guards gone
	gone []wsroute.CloseInfo // what OnDisconnect saw, in order
}

// disconnects returns what OnDisconnect saw so far.
func (k *kit) disconnects() []wsroute.CloseInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]wsroute.CloseInfo(nil), k.gone...)
}

// newRouter returns a Router shut down (and checked for leftovers) when the
// test ends.
func newRouter(t testing.TB, opts wsroute.Options) *wsroute.Router {
	t.Helper()
	r := wsroute.New(opts)
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(context.Background()))
		assert.Zero(t, r.Len(), "channels left after Shutdown")
	})
	return r
}

// newKit builds the kit's Router. Its channel /c has these routes:
//
//	echo  replies with its input
//	push  sends {"push":i} for i in [0, n), then acks
//	slow  sleeps a second, sends "late", then acks (in a synctest bubble)
//	quiet sends nothing
//	kick  sends "kicked soon", closes the channel with 4000 "kicked", acks
//
// /bin has a binary handler that upper-cases; /private requires a session
// (tokenAuth); /alice allows alice only; /down refuses with 503.
// more, if not nil, registers more routes on /c.
func newKit(t testing.TB, more func(ch *wsroute.ChannelRoute)) *kit {
	t.Helper()
	k := &kit{}
	k.r = newRouter(t, wsroute.Options{Authenticator: tokenAuth})
	ch := k.r.Channel("/c", wsroute.ChannelConfig{
		Public: true,
		OnConnect: func(context.Context, *wsroute.Channel) error {
			k.connected.Add(1)
			return nil
		},
		OnDisconnect: func(_ context.Context, _ *wsroute.Channel, info wsroute.CloseInfo) {
			k.mu.Lock()
			k.gone = append(k.gone, info)
			k.mu.Unlock()
		},
	})
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
		return in, nil
	}, public)
	wsroute.Handle(ch, "push", func(ctx context.Context, c *wsroute.Channel, in struct {
		N int `json:"n"`
	}) (*struct{}, error) {
		for i := range in.N {
			if err := c.Send(ctx, map[string]int{"push": i}); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}, public)
	wsroute.Handle(ch, "slow", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		time.Sleep(time.Second)
		return nil, c.Send(ctx, "late")
	}, public)
	wsroute.Handle(ch, "quiet", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
		return nil, wsroute.ErrNoReply
	}, public)
	wsroute.Handle(ch, "kick", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		if err := c.Send(ctx, "kicked soon"); err != nil {
			return nil, err
		}
		c.Close(4000, "kicked")
		return nil, nil
	}, public)
	if more != nil {
		more(ch)
	}
	bin := k.r.Channel("/bin", wsroute.ChannelConfig{Public: true})
	wsroute.HandleBinary(bin, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) ([]byte, error) {
		return []byte(strings.ToUpper(string(m.Data()))), nil
	}, public)
	k.r.Channel("/private", wsroute.ChannelConfig{})
	k.r.Channel("/alice", wsroute.ChannelConfig{Permissions: func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
		if u, _ := wsroute.SessionAs[user](c); u.ID != "alice" {
			return errors.New("not alice")
		}
		return nil
	}, Public: true})
	k.r.Channel("/down", wsroute.ChannelConfig{Public: true, Authenticator: wsroute.AuthenticatorFunc(func(context.Context, *wsroute.Channel) error {
		return wsroute.NewError(wsroute.CodeUnavailable, "down for maintenance")
	})})
	return k
}

// received flushes and returns what the server sent, as strings.
func received(t *testing.T, c *wsroutetest.Conn) []string {
	t.Helper()
	frames, err := c.Received(t.Context())
	require.NoError(t, err)
	return strs(frames)
}

// strs returns frames as strings.
func strs(frames []json.RawMessage) []string {
	out := []string{}
	for _, f := range frames {
		out = append(out, string(f))
	}
	return out
}

// cancelled returns a context that has already ended: reads with it take
// what has arrived and never wait.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// isDone reports whether ch is closed, without waiting.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestDial(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	tests := []struct {
		name       string
		target     string
		opts       *wsroutetest.DialOptions
		query      string
		header     string
		remoteAddr string
	}{
		{"nil options", "/c", nil, "", "", "192.0.2.1:1234"},
		{"query", "/c?x=1&y=2", nil, "x=1&y=2", "", "192.0.2.1:1234"},
		{"header and address", "/c", &wsroutetest.DialOptions{Header: http.Header{"X-Test": {"yes"}}, RemoteAddr: "198.51.100.7:4242"}, "", "yes", "198.51.100.7:4242"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := wsroutetest.Dial(t.Context(), k.r, tt.target, tt.opts)
			require.NoError(t, err)
			t.Cleanup(c.Drop)
			ch := c.Channel()
			require.NotNil(t, ch)
			assert.NotEmpty(t, ch.ID())
			assert.Equal(t, tt.query, ch.Query().Encode())
			assert.Equal(t, tt.header, ch.Header().Get("X-Test"))
			assert.Equal(t, tt.remoteAddr, ch.RemoteAddr())
			got, ok := k.r.Lookup(ch.ID())
			assert.True(t, ok, "the channel is registered when Dial returns")
			assert.Same(t, ch, got)
			assert.False(t, isDone(c.Done()))
		})
	}
	t.Run("returns after OnConnect", func(t *testing.T) {
		t.Parallel()
		var connected, handled atomic.Bool
		r := newRouter(t, wsroute.Options{})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, OnConnect: func(context.Context, *wsroute.Channel) error {
			connected.Store(true)
			return nil
		}})
		wsroute.Handle(ch, "was", func(context.Context, *wsroute.Channel, struct{}) (bool, error) {
			handled.Store(true)
			return connected.Load(), nil
		}, wsroute.RouteConfig{Public: true})
		c := wsroutetest.MustDial(t, r, "/c", nil)
		assert.True(t, connected.Load())
		assert.False(t, handled.Load())
		require.NoError(t, c.SendText(`{"action":"was"}`))
		assert.Equal(t, []string{`{"action":"was","result":true}`}, received(t, c))
	})
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	down := wsroute.New(wsroute.Options{})
	down.Channel("/c", wsroute.ChannelConfig{Public: true})
	require.NoError(t, down.Shutdown(t.Context()))
	tests := []struct {
		name    string
		r       *wsroute.Router
		target  string
		status  int
		code    string
		message string
	}{
		{"no session", k.r, "/private", http.StatusUnauthorized, "unauthenticated", "authentication required"},
		{"unknown token", k.r, "/private?token=nope", http.StatusUnauthorized, "unauthenticated", "authentication required"},
		{"permission refused", k.r, "/alice", http.StatusForbidden, "forbidden", "permission denied"},
		{"no channel at the path", k.r, "/nope", http.StatusNotFound, "not_found", "no channel at this path"},
		{"authenticator unavailable", k.r, "/down", http.StatusServiceUnavailable, "unavailable", "down for maintenance"},
		{"router shut down", down, "/c", http.StatusServiceUnavailable, "unavailable", "server is shutting down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := wsroutetest.Dial(t.Context(), tt.r, tt.target, nil)
			assert.Nil(t, c)
			var he *wsroutetest.HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tt.status, he.StatusCode)
			assert.Equal(t, tt.code, he.Code)
			assert.Equal(t, tt.message, he.Message)
			assert.Equal(t, "application/json", he.Header.Get("Content-Type"))
			assert.Equal(t, fmt.Sprintf("wsroutetest: opening refused with %d %s: %s", tt.status, tt.code, tt.message), err.Error())
		})
	}
	t.Run("the same channels open with what they lacked", func(t *testing.T) {
		t.Parallel()
		for _, target := range []string{"/private?token=alice-token", "/alice?token=alice-token"} {
			c := wsroutetest.MustDial(t, k.r, target, nil)
			u, ok := wsroute.SessionAs[user](c.Channel())
			assert.True(t, ok, target)
			assert.Equal(t, "alice", u.ID, target)
		}
	})
}

// Dial returns ctx's error when ctx ends before the channel has opened, and
// leaves nothing running.
func TestDialContextEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		release := make(chan struct{})
		r := newRouter(t, wsroute.Options{})
		r.Channel("/c", wsroute.ChannelConfig{Public: true, OnConnect: func(context.Context, *wsroute.Channel) error {
			cancel()
			<-release
			return nil
		}})
		var err error
		dialed := make(chan struct{})
		go func() {
			defer close(dialed)
			_, err = wsroutetest.Dial(ctx, r, "/c", nil)
		}()
		synctest.Wait() // Dial saw ctx end, cut the connection, and waits for the channel's end
		assert.False(t, isDone(dialed), "Dial waits until the channel's lifecycle is over")
		close(release)
		<-dialed
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, r.Len())
	})
}

// fakeTB records MustDial's Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMustDial(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	t.Run("drops the connection when the test ends", func(t *testing.T) {
		var c *wsroutetest.Conn
		t.Run("inner", func(t *testing.T) {
			c = wsroutetest.MustDial(t, k.r, "/c", nil)
			assert.Equal(t, 1, k.r.Len())
		})
		assert.True(t, isDone(c.Done()), "the channel's life is over once the test's cleanups ran")
		assert.Zero(t, k.r.Len())
		assert.Equal(t, []wsroute.CloseInfo{{Code: -1, Reason: "connection lost", ByPeer: true}}, k.disconnects())
	})
	t.Run("fails the test when the opening is refused", func(t *testing.T) {
		tb := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			wsroutetest.MustDial(tb, k.r, "/private", nil)
			t.Error("MustDial returned after a refused opening")
		}()
		<-done
		assert.Equal(t, "wsroutetest: dial /private: wsroutetest: opening refused with 401 unauthenticated: authentication required", tb.fatal)
	})
}

func TestSend(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	tests := []struct {
		name   string
		target string
		send   func(c *wsroutetest.Conn) error
		want   []string
	}{
		{"Send encodes JSON", "/c", func(c *wsroutetest.Conn) error {
			return c.Send(map[string]any{"action": "echo", "ref": 1, "title": "a"})
		}, []string{`{"action":"echo","ref":1,"title":"a"}`}},
		{"SendText sends the text as it is", "/c", func(c *wsroutetest.Conn) error {
			return c.SendText(`{"action":"echo","title":"b"}`)
		}, []string{`{"action":"echo","title":"b"}`}},
		{"SendText need not be JSON", "/c", func(c *wsroutetest.Conn) error {
			return c.SendText(`not json`)
		}, []string{`{"error":{"code":"bad_request","message":"frame is not valid JSON"}}`}},
		{"SendBinary sends a binary frame", "/bin", func(c *wsroutetest.Conn) error {
			return c.SendBinary([]byte("abc"))
		}, []string{"ABC"}},
		{"frames in order", "/c", func(c *wsroutetest.Conn) error {
			for _, s := range []string{`{"action":"echo","ref":1}`, `{"action":"quiet"}`, `{"action":"push","ref":2,"n":2}`} {
				if err := c.SendText(s); err != nil {
					return err
				}
			}
			return nil
		}, []string{`{"action":"echo","ref":1}`, `{"push":0}`, `{"push":1}`, `{"action":"push","ref":2}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := wsroutetest.MustDial(t, k.r, tt.target, nil)
			require.NoError(t, tt.send(c))
			assert.Equal(t, tt.want, received(t, c))
		})
	}
	t.Run("Send fails without sending when v does not encode", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		var ue *json.UnsupportedTypeError
		require.ErrorAs(t, c.Send(map[string]any{"action": "echo", "f": func() {}}), &ue)
		assert.Empty(t, received(t, c))
	})
	t.Run("sends fail once the connection is closed", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		c.Drop()
		assert.Error(t, c.Send(map[string]string{"action": "echo"}))
		assert.Error(t, c.SendText(`{"action":"echo"}`))
		assert.Error(t, c.SendBinary([]byte("x")))
	})
}

func TestRead(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	t.Run("frames in the order sent", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"push","ref":"p","n":3}`))
		for i := range 3 {
			f, err := c.Read(t.Context())
			require.NoError(t, err)
			assert.JSONEq(t, fmt.Sprintf(`{"push":%d}`, i), string(f))
		}
		var ack struct{ Action, Ref string }
		require.NoError(t, c.ReadJSON(t.Context(), &ack))
		assert.Equal(t, "push", ack.Action)
		assert.Equal(t, "p", ack.Ref)
		assert.Empty(t, received(t, c), "Read consumed them")
	})
	t.Run("waits for a frame", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			require.NoError(t, c.SendText(`{"action":"slow"}`))
			start := time.Now()
			f, err := c.Read(t.Context())
			require.NoError(t, err)
			assert.Equal(t, `"late"`, string(f))
			assert.Equal(t, time.Second, time.Since(start), "Read returned when the handler sent, a second later")
		})
	})
	t.Run("returns ctx's error while nothing comes", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Read(ctx)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, c.ReadJSON(ctx, new(any)), context.Canceled)
		assert.False(t, isDone(c.Done()), "an ended Read leaves the channel open")
		assert.Equal(t, []string{`{"action":"echo","ref":1}`}, exchange(t, c, `{"action":"echo","ref":1}`))
	})
	t.Run("ReadJSON reports a frame that does not fit v", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"echo"}`))
		var n int
		var ute *json.UnmarshalTypeError
		assert.ErrorAs(t, c.ReadJSON(t.Context(), &n), &ute)
	})
	t.Run("the close error once the channel closed", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"kick"}`))
		for _, want := range []string{`"kicked soon"`, `{"action":"kick"}`} {
			f, err := c.Read(t.Context())
			require.NoError(t, err)
			assert.Equal(t, want, string(f))
		}
		_, err := c.Read(t.Context())
		assert.Equal(t, websocket.StatusCode(4000), websocket.CloseStatus(err), "%v", err)
		_, err = c.Read(t.Context())
		assert.Equal(t, websocket.StatusCode(4000), websocket.CloseStatus(err), "and again")
	})
	t.Run("a dropped connection is not a close frame", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		c.Drop()
		_, err := c.Read(t.Context())
		require.Error(t, err)
		assert.Equal(t, websocket.StatusCode(-1), websocket.CloseStatus(err))
	})
}

// exchange sends each frame and returns what the server sent back.
func exchange(t *testing.T, c *wsroutetest.Conn, frames ...string) []string {
	t.Helper()
	for _, f := range frames {
		require.NoError(t, c.SendText(f))
	}
	return received(t, c)
}

// Flush is a barrier: after it, every reply and push caused by what was sent
// has been received — so an empty Received proves nothing was sent. The
// handlers here take a (fake) second, so a Received that did not wait would
// see nothing.
func TestFlush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frames []string
		want   []string
	}{
		{"waits for a slow handler's push and reply", []string{`{"action":"slow","ref":1}`}, []string{`"late"`, `{"action":"slow","ref":1}`}},
		{"waits for every frame sent", []string{`{"action":"slow","ref":1}`, `{"action":"slow","ref":2}`, `{"action":"echo","ref":3}`},
			[]string{`"late"`, `{"action":"slow","ref":1}`, `"late"`, `{"action":"slow","ref":2}`, `{"action":"echo","ref":3}`}},
		{"nothing sent is provably nothing", []string{`{"action":"quiet"}`}, []string{}},
		{"nothing sent after a slow handler", []string{`{"action":"slow","ref":1}`, `{"action":"quiet"}`}, []string{`"late"`, `{"action":"slow","ref":1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				k := newKit(t, nil)
				c := wsroutetest.MustDial(t, k.r, "/c", nil)
				for _, f := range tt.frames {
					require.NoError(t, c.SendText(f))
				}
				require.NoError(t, c.Flush(t.Context()))
				got, err := c.Received(t.Context())
				require.NoError(t, err)
				out := []string{}
				for _, f := range got {
					out = append(out, string(f))
				}
				assert.Equal(t, tt.want, out)
			})
		})
	}
	t.Run("returns nil once the channel closed, after its end", func(t *testing.T) {
		t.Parallel()
		k := newKit(t, nil)
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendBinary([]byte("binary on a text channel")))
		require.NoError(t, c.Flush(t.Context()))
		assert.Empty(t, received(t, c))
		<-c.Done()
		assert.Len(t, k.disconnects(), 1)
	})
	t.Run("returns ctx's error while a handler runs", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		k := newKit(t, func(ch *wsroute.ChannelRoute) {
			wsroute.Handle(ch, "block", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
				<-release
				return nil, nil
			}, wsroute.RouteConfig{Public: true})
		})
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"block"}`))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.ErrorIs(t, c.Flush(ctx), context.Canceled)
		close(release)
		assert.Equal(t, []string{`{"action":"block"}`}, received(t, c))
	})
}

func TestReceived(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	t.Run("consumes what it returns", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		assert.Empty(t, received(t, c), "nothing yet")
		assert.Equal(t, []string{`{"push":0}`, `{"push":1}`, `{"action":"push"}`}, exchange(t, c, `{"action":"push","n":2}`))
		assert.Empty(t, received(t, c))
	})
	t.Run("after Read took some", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"push","n":3}`))
		f, err := c.Read(t.Context())
		require.NoError(t, err)
		assert.Equal(t, `{"push":0}`, string(f))
		assert.Equal(t, []string{`{"push":1}`, `{"push":2}`, `{"action":"push"}`}, received(t, c))
	})
	t.Run("frames Wait kept, then the rest", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"push","n":2}`))
		require.NoError(t, c.Flush(t.Context()))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.ErrorIs(t, c.Wait(ctx), context.Canceled)
		require.NoError(t, c.SendText(`{"action":"echo","ref":1}`))
		assert.Equal(t, []string{`{"push":0}`, `{"push":1}`, `{"action":"push"}`, `{"action":"echo","ref":1}`}, received(t, c))
	})
	t.Run("frames sent before the close", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		assert.Equal(t, []string{`"kicked soon"`, `{"action":"kick"}`}, exchange(t, c, `{"action":"kick"}`))
		assert.Empty(t, received(t, c))
	})
}

func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		code   websocket.StatusCode
		reason string
	}{
		{"normal", websocket.StatusNormalClosure, "bye"},
		{"going away", websocket.StatusGoingAway, ""},
		{"application code", 4321, "done here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			require.NoError(t, c.Close(tt.code, tt.reason))
			// No waiting: Close returned after the close lifecycle.
			assert.Equal(t, []wsroute.CloseInfo{{Code: tt.code, Reason: tt.reason, ByPeer: true}}, k.disconnects())
			assert.True(t, isDone(c.Done()))
			assert.Zero(t, k.r.Len())
			assert.NoError(t, c.Close(tt.code, tt.reason), "closing twice")
			assert.Len(t, k.disconnects(), 1, "OnDisconnect ran once")
		})
	}
	t.Run("after the server closed", func(t *testing.T) {
		t.Parallel()
		k := newKit(t, nil)
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"kick"}`))
		require.NoError(t, c.Flush(t.Context()))
		assert.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
		assert.Equal(t, []wsroute.CloseInfo{{Code: 4000, Reason: "kicked"}}, k.disconnects())
	})
}

func TestDrop(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	c := wsroutetest.MustDial(t, k.r, "/c", nil)
	c.Drop()
	assert.Equal(t, []wsroute.CloseInfo{{Code: -1, Reason: "connection lost", ByPeer: true}}, k.disconnects())
	assert.True(t, isDone(c.Done()))
	assert.Zero(t, k.r.Len())
	c.Drop() // twice is harmless
	assert.Len(t, k.disconnects(), 1)
}

func TestDone(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	c := wsroutetest.MustDial(t, k.r, "/c", nil)
	assert.False(t, isDone(c.Done()))
	assert.Equal(t, []string{`{"action":"echo"}`}, exchange(t, c, `{"action":"echo"}`))
	assert.False(t, isDone(c.Done()), "still open after an exchange")
	c.Channel().Close(4000, "from the server")
	<-c.Done()
	assert.Equal(t, []wsroute.CloseInfo{{Code: 4000, Reason: "from the server"}}, k.disconnects(), "Done closes after OnDisconnect")
	assert.Zero(t, k.r.Len())
}

func TestWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		cause  func(t *testing.T, k *kit, c *wsroutetest.Conn)
		code   websocket.StatusCode
		reason string
		frames []string // read after Wait
	}{
		{"binary frame on a text channel", "/c", func(t *testing.T, _ *kit, c *wsroutetest.Conn) {
			require.NoError(t, c.SendBinary([]byte("x")))
		}, websocket.StatusPolicyViolation, "binary frames are not accepted", nil},
		{"invalid UTF-8", "/c", func(t *testing.T, _ *kit, c *wsroutetest.Conn) {
			require.NoError(t, c.SendText("\xff"))
		}, websocket.StatusInvalidFramePayloadData, "invalid UTF-8", nil},
		{"a handler closes", "/c", func(t *testing.T, _ *kit, c *wsroutetest.Conn) {
			require.NoError(t, c.SendText(`{"action":"kick","ref":9}`))
		}, 4000, "kicked", []string{`"kicked soon"`, `{"action":"kick","ref":9}`}},
		{"replies before the close are kept", "/c", func(t *testing.T, _ *kit, c *wsroutetest.Conn) {
			require.NoError(t, c.SendText(`{"action":"echo","ref":1}`))
			require.NoError(t, c.Flush(t.Context())) // else closing for the binary frame may discard the echo unhandled
			require.NoError(t, c.SendBinary([]byte("x")))
		}, websocket.StatusPolicyViolation, "binary frames are not accepted", []string{`{"action":"echo","ref":1}`}},
		{"shutdown", "/c", func(t *testing.T, k *kit, _ *wsroutetest.Conn) {
			require.NoError(t, k.r.Shutdown(t.Context()))
		}, websocket.StatusGoingAway, "server shutdown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, tt.target, nil)
			tt.cause(t, k, c)
			err := c.Wait(t.Context())
			assert.Equal(t, tt.code, websocket.CloseStatus(err), "%v", err)
			var ce websocket.CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.reason, ce.Reason)
			assert.True(t, isDone(c.Done()), "Wait returns after the channel's end")
			assert.Equal(t, []wsroute.CloseInfo{{Code: tt.code, Reason: tt.reason}}, k.disconnects())
			for _, want := range tt.frames {
				f, err := c.Read(t.Context())
				require.NoError(t, err)
				assert.Equal(t, want, string(f))
			}
			_, err = c.Read(t.Context())
			assert.Equal(t, tt.code, websocket.CloseStatus(err), "after the frames, the close error again")
		})
	}
	t.Run("a client drop", func(t *testing.T) {
		t.Parallel()
		k := newKit(t, nil)
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		c.Drop()
		err := c.Wait(t.Context())
		require.Error(t, err)
		assert.Equal(t, websocket.StatusCode(-1), websocket.CloseStatus(err))
	})
	t.Run("returns ctx's error while the channel is open", func(t *testing.T) {
		t.Parallel()
		k := newKit(t, nil)
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.ErrorIs(t, c.Wait(ctx), context.Canceled)
		assert.False(t, isDone(c.Done()))
		assert.Equal(t, []string{`{"action":"echo"}`}, exchange(t, c, `{"action":"echo"}`))
	})
}

func TestString(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	c := wsroutetest.MustDial(t, k.r, "/c", nil)
	want := "wsroutetest.Conn(" + c.Channel().ID() + ")"
	assert.Equal(t, want, c.String())
	assert.Equal(t, want, fmt.Sprint(c))
	c.Drop()
	assert.Equal(t, want, c.String(), "still usable in a failure message after the end")
}

// The write side of a Conn (Send*, Flush, Close, Drop, Done) may be used from
// other goroutines than the one that reads, as the package documents: this
// test means something under -race.
func TestConcurrentSenderAndReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(c *wsroutetest.Conn) error
		want wsroute.CloseInfo
	}{
		{"Close", func(c *wsroutetest.Conn) error {
			return c.Close(websocket.StatusNormalClosure, "from another goroutine")
		}, wsroute.CloseInfo{Code: websocket.StatusNormalClosure, Reason: "from another goroutine", ByPeer: true}},
		{"Drop", func(c *wsroutetest.Conn) error { c.Drop(); return nil },
			wsroute.CloseInfo{Code: -1, Reason: "connection lost", ByPeer: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			const n = 100
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					if err := c.SendText(fmt.Sprintf(`{"action":"echo","ref":%d}`, i)); err != nil {
						sent <- err
						return
					}
				}
				sent <- c.Flush(context.Background())
			}()
			for i := range n {
				f, err := c.Read(t.Context())
				require.NoError(t, err)
				require.Equal(t, fmt.Sprintf(`{"action":"echo","ref":%d}`, i), string(f))
			}
			require.NoError(t, <-sent)
			ended := make(chan error, 1)
			go func() {
				err := tt.end(c)
				<-c.Done()
				ended <- err
			}()
			_, err := c.Read(t.Context())
			assert.Error(t, err, "a Read waiting while another goroutine ends the connection returns")
			require.NoError(t, <-ended)
			assert.Equal(t, []wsroute.CloseInfo{tt.want}, k.disconnects())
		})
	}
}
