package wsroute_test

// Regression tests for the bugs of issue 7 (the channel state machine),
// written first against 1d3aa9b, where each TestTrust* failed, failed after a
// bounded wait (trustBound) where the old code hung, or crashed the process.
// The bugs that need internal access are in trust_internal_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// trustBound bounds every wait for something the fixed code does at once. In a
// synctest bubble it is fake time and costs nothing.
const trustBound = 5 * time.Second

// trustRouter returns a Router shut down when the test ends (see newRouter)
// and its channel at "/c".
func trustRouter(t *testing.T, opts wsroute.Options, cfg wsroute.ChannelConfig) (*wsroute.Router, *wsroute.ChannelRoute) {
	t.Helper()
	r := newRouter(t, opts)
	return r, r.Channel("/c", cfg)
}

// trustBareRouter is trustRouter without the Shutdown at the end of the test,
// for tests whose failure on the old code leaves Shutdown hung.
func trustBareRouter(opts wsroute.Options, cfg wsroute.ChannelConfig) (*wsroute.Router, *wsroute.ChannelRoute) {
	r := wsroute.New(opts)
	return r, r.Channel("/c", cfg)
}

// trustServe serves r over loopback TCP with a real http.Server, which
// recovers a handler's panic as production servers do, and returns the
// channel's URL. It does not shut r down.
func trustServe(t *testing.T, r *wsroute.Router) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(r)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // "http: panic serving ..."
	srv.Start()
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/c"
}

// trustAtOpen is open middleware that calls fn with the opening channel.
func trustAtOpen(fn func(c *wsroute.Channel)) wsroute.Middleware {
	return func(next wsroute.Handler) wsroute.Handler {
		return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
			if m.IsOpen() {
				fn(c)
			}
			return next.Handle(ctx, c, m)
		})
	}
}

// trustSessionFor authenticates every opening as alice, for ttl (0: no expiry).
func trustSessionFor(ttl time.Duration) wsroute.Authenticator {
	return wsroute.AuthenticatorFunc(func(_ context.Context, c *wsroute.Channel) error {
		var until time.Time
		if ttl > 0 {
			until = time.Now().Add(ttl)
		}
		c.SetSessionUntil(user{ID: "alice"}, until)
		return nil
	})
}

// within reports whether ch is closed within trustBound.
func within(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(trustBound):
		return false
	}
}

// shutdownAsync runs r.Shutdown with a context that ends after d.
func shutdownAsync(r *wsroute.Router, d time.Duration) <-chan error {
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		res <- r.Shutdown(ctx)
	}()
	return res
}

// returnsWithin waits up to trustBound for res.
func returnsWithin(res <-chan error) (returned bool, err error) {
	select {
	case err = <-res:
		return true, err
	case <-time.After(trustBound):
		return false, nil
	}
}

func strs(frames []json.RawMessage) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

// trustBroker is the in-memory broker, whose Subscribe to one topic waits
// until released (an engine slow to confirm), and which records its node id.
type trustBroker struct {
	*wsroute.MemoryBroker
	node    string
	slow    string
	entered chan struct{} // closed when the slow Subscribe begins
	release chan struct{} // close to let it finish
}

func newTrustBroker(slow string) *trustBroker {
	return &trustBroker{MemoryBroker: wsroute.NewMemoryBroker(), slow: slow, entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *trustBroker) Attach(node string, deliver func(wsroute.Envelope)) {
	b.node = node
	b.MemoryBroker.Attach(node, deliver)
}

func (b *trustBroker) Subscribe(ctx context.Context, node, topic string) error {
	if topic == b.slow {
		close(b.entered)
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.MemoryBroker.Subscribe(ctx, node, topic)
}

// Bug 1: a refused opening leaves a live channel. Each subtest crashes the
// process on the old code (a writer starts on the refused channel's nil
// connection): run them one at a time.
func TestTrustRefusedOpen(t *testing.T) {
	deny := func(context.Context, *wsroute.Channel, *wsroute.Message) error { return errors.New("denied") }
	tests := []struct {
		name   string
		cfg    func(keep func(*wsroute.Channel)) wsroute.ChannelConfig
		status int
	}{
		{"middleware then 401", func(keep func(*wsroute.Channel)) wsroute.ChannelConfig {
			return wsroute.ChannelConfig{Middleware: []wsroute.Middleware{trustAtOpen(keep)}}
		}, 401},
		{"authenticator then 401", func(keep func(*wsroute.Channel)) wsroute.ChannelConfig {
			return wsroute.ChannelConfig{Authenticator: wsroute.AuthenticatorFunc(func(_ context.Context, c *wsroute.Channel) error {
				keep(c)
				return nil // no session
			})}
		}, 401},
		{"middleware then 403", func(keep func(*wsroute.Channel)) wsroute.ChannelConfig {
			return wsroute.ChannelConfig{Public: true, Permissions: deny, Middleware: []wsroute.Middleware{trustAtOpen(keep)}}
		}, 403},
	}
	for _, tt := range tests {
		t.Run("Publish after "+tt.name, func(t *testing.T) {
			var kept *wsroute.Channel
			var subErr error
			keep := func(c *wsroute.Channel) { kept, subErr = c, c.Subscribe("t") }
			published := make(chan wsroute.PublishInfo, 1)
			obs := &wsroute.Observer{OnPublish: func(_ context.Context, i wsroute.PublishInfo) { published <- i }}
			r, _ := trustRouter(t, wsroute.Options{Observer: obs}, tt.cfg(keep))
			_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
			var he *wsroutetest.HandshakeError
			require.ErrorAs(t, err, &he)
			require.Equal(t, tt.status, he.StatusCode)
			require.NotNil(t, kept)
			t.Logf("Subscribe while opening returned %v", subErr)
			assert.Empty(t, kept.Topics(), "the refused channel is still subscribed")
			require.NoError(t, r.Publish(t.Context(), "t", "hello", wsroute.PublishOptions{}))
			assert.Zero(t, (<-published).Local, "Publish reached the refused channel")
			require.NoError(t, r.Shutdown(context.Background())) // waits for any writer the Publish started
		})
	}
	t.Run("Send on a kept channel after 401", func(t *testing.T) {
		var kept *wsroute.Channel
		r, _ := trustRouter(t, wsroute.Options{}, wsroute.ChannelConfig{
			Middleware: []wsroute.Middleware{trustAtOpen(func(c *wsroute.Channel) { kept = c })},
		})
		_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
		var he *wsroutetest.HandshakeError
		require.ErrorAs(t, err, &he)
		require.Equal(t, 401, he.StatusCode)
		assert.ErrorIs(t, kept.Send(t.Context(), "late"), wsroute.ErrClosed)
		assert.ErrorIs(t, kept.SendBinary(t.Context(), []byte("late")), wsroute.ErrClosed)
		assert.ErrorIs(t, kept.Subscribe("t"), wsroute.ErrClosed)
		require.NoError(t, r.Shutdown(context.Background())) // waits for any writer Send started
	})
}

// Bug 2: Close, CloseWhere and session expiry must cancel a running handler's
// context at once, refuse its pushes, and send the close frame right after its
// final reply.
func TestTrustCloseStopsHandler(t *testing.T) {
	t.Parallel()
	isAlice := func(c *wsroute.Channel) bool {
		u, ok := wsroute.SessionAs[user](c)
		return ok && u.ID == "alice"
	}
	tests := []struct {
		name string
		ttl  time.Duration // of the session set at open; 0: none
		stop func(r *wsroute.Router, c *wsroute.Channel)
		code websocket.StatusCode
	}{
		{"Close", 0, func(_ *wsroute.Router, c *wsroute.Channel) {
			c.Close(websocket.StatusPolicyViolation, "credentials changed")
		}, websocket.StatusPolicyViolation},
		{"CloseWhere", 0, func(r *wsroute.Router, _ *wsroute.Channel) {
			r.CloseWhere(isAlice, websocket.StatusPolicyViolation, "credentials changed")
		}, websocket.StatusPolicyViolation},
		{"session expiry", time.Minute, func(*wsroute.Router, *wsroute.Channel) {
			time.Sleep(time.Minute + time.Second)
		}, wsroute.StatusSessionExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				started, cancelled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
				tick, pushed := make(chan struct{}), make(chan error)
				r, ch := trustRouter(t, wsroute.Options{}, wsroute.ChannelConfig{Authenticator: trustSessionFor(tt.ttl)})
				wsroute.Handle(ch, "stream", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (string, error) {
					close(started)
					for {
						select {
						case <-tick:
							pushed <- c.Send(ctx, "tick")
						case <-ctx.Done():
							close(cancelled)
							return "stopped", nil
						case <-release:
							return "released", nil
						}
					}
				}, wsroute.RouteConfig{Public: true})
				c := wsroutetest.MustDial(t, r, "/c", nil)
				require.NoError(t, c.SendText(`{"action":"stream"}`))
				<-started
				tt.stop(r, c.Channel())
				select {
				case tick <- struct{}{}:
					assert.ErrorIs(t, <-pushed, wsroute.ErrClosed, "the handler pushed after the close")
				case <-cancelled:
				}
				if !within(cancelled) {
					t.Errorf("the handler's context was not cancelled within %v of the close", trustBound)
					close(release)
				}
				err := c.Wait(t.Context())
				assert.Equal(t, tt.code, websocket.CloseStatus(err), "close code (%v)", err)
				got, err := c.Received(t.Context())
				require.NoError(t, err)
				assert.Equal(t, []string{`{"action":"stream","result":"stopped"}`}, strs(got),
					"only the handler's final reply may precede the close frame")
			})
		})
	}
}

// Bug 3: a failed message undoes only its own session change, and only if the
// session is still the one it set.
func TestTrustSessionUndo(t *testing.T) {
	t.Parallel()
	const failed = `{"action":"fail","error":{"code":"internal","message":"internal error"}}`
	failing := func(started, proceed chan struct{}) func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
		return func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
			close(started)
			<-proceed
			return nil, errors.New("boom")
		}
	}
	t.Run("revocation while a failing message runs", func(t *testing.T) {
		t.Parallel()
		started, proceed := make(chan struct{}), make(chan struct{})
		r, ch := trustRouter(t, wsroute.Options{}, wsroute.ChannelConfig{Public: true, Authenticator: tokenAuth})
		wsroute.Handle(ch, "fail", failing(started, proceed), wsroute.RouteConfig{Public: true})
		c := wsroutetest.MustDial(t, r, "/c?token=alice-token", nil)
		require.True(t, c.Channel().HasSession())
		require.NoError(t, c.SendText(`{"action":"fail"}`))
		<-started
		c.Channel().ClearSession() // an administrator revokes the session meanwhile
		close(proceed)
		assert.Equal(t, []string{failed}, exchange(t, c))
		assert.False(t, c.Channel().HasSession(), "the failed message brought back the session revoked while it ran")
	})
	t.Run("log-in while a failing message runs in parallel", func(t *testing.T) {
		t.Parallel()
		started, proceed := make(chan struct{}), make(chan struct{})
		r, ch := trustRouter(t, wsroute.Options{}, wsroute.ChannelConfig{Public: true, Parallel: 2})
		wsroute.Handle(ch, "fail", failing(started, proceed), wsroute.RouteConfig{Public: true})
		wsroute.Handle(ch, "login", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
			c.SetSession(user{ID: "bob"})
			return nil, nil
		}, wsroute.RouteConfig{Public: true})
		c := wsroutetest.MustDial(t, r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"fail"}`)) // B: starts before the log-in...
		<-started
		require.NoError(t, c.SendText(`{"action":"login"}`)) // A: logs in and succeeds...
		ctx, cancel := context.WithTimeout(t.Context(), trustBound)
		defer cancel()
		reply, err := c.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, `{"action":"login"}`, string(reply))
		close(proceed) // ...then B fails.
		assert.Equal(t, []string{failed}, exchange(t, c))
		u, ok := wsroute.SessionAs[user](c.Channel())
		assert.True(t, ok, "the failed message wiped the log-in of another message")
		assert.Equal(t, "bob", u.ID)
	})
}

// Bug 4: observer callbacks run under recover. The OnMessage subtest crashes
// the process on the old code: run it alone.
func TestTrustObserverPanics(t *testing.T) {
	t.Parallel()
	boom := func() { panic("observer bug") }
	t.Run("OnMessage", func(t *testing.T) {
		t.Parallel()
		obs := &wsroute.Observer{OnMessage: func(context.Context, *wsroute.Channel, wsroute.MessageInfo) { boom() }}
		r, ch := trustRouter(t, wsroute.Options{Observer: obs}, wsroute.ChannelConfig{Public: true})
		wsroute.Handle(ch, "echo", func(context.Context, *wsroute.Channel, struct{}) (string, error) {
			return "ok", nil
		}, wsroute.RouteConfig{Public: true})
		c := wsroutetest.MustDial(t, r, "/c", nil)
		for range 2 {
			assert.Equal(t, `{"action":"echo","result":"ok"}`, one(t, c, `{"action":"echo"}`))
		}
	})
	t.Run("OnOpen", func(t *testing.T) {
		t.Parallel()
		obs := &wsroute.Observer{OnOpen: func(context.Context, *wsroute.Channel) { boom() }}
		r, _ := trustBareRouter(wsroute.Options{Observer: obs}, wsroute.ChannelConfig{Public: true})
		c, _, err := websocket.Dial(t.Context(), trustServe(t, r), nil)
		require.NoError(t, err)
		_ = c.CloseNow()
		t.Logf("open channels before Shutdown: %d", r.Len())
		returned, err := returnsWithin(shutdownAsync(r, time.Second))
		require.True(t, returned, "Shutdown (context ending after 1s) has not returned within %v", trustBound)
		t.Logf("Shutdown returned %v", err)
		assert.Zero(t, r.Len(), "channels left after Shutdown")
	})
	t.Run("OnClose", func(t *testing.T) {
		t.Parallel()
		cl := newCloses()
		obs := &wsroute.Observer{OnClose: func(context.Context, *wsroute.Channel, wsroute.CloseInfo) { boom() }}
		r, _ := trustBareRouter(wsroute.Options{Observer: obs}, wsroute.ChannelConfig{Public: true, OnDisconnect: cl.record})
		c, _, err := websocket.Dial(t.Context(), trustServe(t, r), nil)
		require.NoError(t, err)
		_ = c.CloseNow()
		require.True(t, within(cl.done), "OnDisconnect did not run")
		t.Logf("open channels before Shutdown: %d", r.Len())
		returned, err := returnsWithin(shutdownAsync(r, time.Second))
		require.True(t, returned, "Shutdown (context ending after 1s) has not returned within %v", trustBound)
		assert.NoError(t, err)
		assert.Zero(t, r.Len(), "channels left after Shutdown")
	})
}

// Bug 5: a broker call that waits on its engine must not hold up the close of
// channels that have nothing to do with its topic.
func TestTrustSlowBrokerClose(t *testing.T) {
	t.Parallel()
	b := newTrustBroker("slow")
	r, ch := trustRouter(t, wsroute.Options{Broker: b}, wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "subscribe", func(_ context.Context, c *wsroute.Channel, in struct {
		Topic string `json:"topic"`
	}) (*struct{}, error) {
		return nil, c.Subscribe(in.Topic)
	}, wsroute.RouteConfig{Public: true})
	slow := wsroutetest.MustDial(t, r, "/c", nil)
	idle := wsroutetest.MustDial(t, r, "/c", nil) // subscribed to nothing
	other := wsroutetest.MustDial(t, r, "/c", nil)
	require.Equal(t, []string{`{"action":"subscribe"}`}, exchange(t, other, `{"action":"subscribe","topic":"fast"}`))
	require.NoError(t, slow.SendText(`{"action":"subscribe","topic":"slow"}`))
	<-b.entered
	var wg sync.WaitGroup
	for _, c := range []*wsroutetest.Conn{idle, other} {
		wg.Go(func() { _ = c.Close(websocket.StatusNormalClosure, "bye") }) // returns after OnDisconnect
	}
	closed := make(chan struct{})
	go func() { wg.Wait(); close(closed) }()
	assert.True(t, within(closed), "channels unrelated to the slow topic (one without topics, one on \"fast\") did not finish closing within %v", trustBound)
	close(b.release)
	<-closed
}

// Bug 6: the cause set by Errorf's %w is logged, never sent.
func TestTrustErrorfCause(t *testing.T) {
	t.Parallel()
	r, ch := trustRouter(t, wsroute.Options{}, wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "get", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
		return nil, wsroute.Errorf(wsroute.CodeNotFound, "no todo: %w", errors.New("db password=hunter2"))
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	got := one(t, c, `{"action":"get"}`)
	assert.Equal(t, wsroute.CodeNotFound, decode(t, got)["error"].(map[string]any)["code"])
	assert.NotContains(t, got, "hunter2", "the cause wrapped by Errorf reached the client")
}

// Bug 8: Shutdown returns promptly once its context ends, and cannot deadlock
// when a handler calls it.
func TestTrustShutdownDeadline(t *testing.T) {
	t.Parallel()
	t.Run("handler ignores its context", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			started, release := make(chan struct{}), make(chan struct{})
			r, ch := trustRouter(t, wsroute.Options{}, wsroute.ChannelConfig{Public: true})
			wsroute.Handle(ch, "stubborn", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
				close(started)
				<-release
				return nil, nil
			}, wsroute.RouteConfig{Public: true})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			require.NoError(t, c.SendText(`{"action":"stubborn"}`))
			<-started
			res := shutdownAsync(r, 100*time.Millisecond)
			returned, err := returnsWithin(res)
			close(release)
			if !returned {
				t.Errorf("Shutdown with a 100ms deadline has not returned after %v: it waits for a handler that ignores its context", trustBound)
				err = <-res
			}
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	})
	// On the old code these deadlock for good: the Router and its goroutines are left behind.
	for _, tt := range []struct {
		name string
		ctx  func(handler context.Context) context.Context
	}{
		{"context.Background", func(context.Context) context.Context { return context.Background() }},
		{"the handler's context", func(ctx context.Context) context.Context { return ctx }},
	} {
		t.Run("called from a handler with "+tt.name, func(t *testing.T) {
			t.Parallel()
			res := make(chan error, 1)
			r, ch := trustBareRouter(wsroute.Options{}, wsroute.ChannelConfig{Public: true})
			wsroute.Handle(ch, "shutdown", func(ctx context.Context, _ *wsroute.Channel, _ struct{}) (*struct{}, error) {
				res <- r.Shutdown(tt.ctx(ctx))
				return nil, nil
			}, wsroute.RouteConfig{Public: true})
			c, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
			require.NoError(t, err)
			require.NoError(t, c.SendText(`{"action":"shutdown"}`))
			returned, err := returnsWithin(res)
			if !returned {
				t.Fatalf("Shutdown called from a handler has not returned within %v", trustBound)
			}
			t.Logf("Shutdown returned %v", err)
			c.Drop()
		})
	}
}

// Bug 10 (channel ids): a channel id carries the whole node id, so ids stay
// unique across nodes (PublishOptions.Exclude relies on it).
func TestTrustChannelIDs(t *testing.T) {
	t.Parallel()
	b := newTrustBroker("")
	r, _ := trustRouter(t, wsroute.Options{Broker: b}, wsroute.ChannelConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	assert.Contains(t, c.Channel().ID(), b.node, "the channel id keeps only part of the %d-hex-digit node id", len(b.node))
}

// Registration mistakes panic at registration, naming the route.
func TestTrustRegistration(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) { return nil, nil }
	t.Run("Cost above the rate limit's burst", func(t *testing.T) {
		t.Parallel()
		_, ch := trustBareRouter(wsroute.Options{}, wsroute.ChannelConfig{Public: true})
		assert.Panics(t, func() { wsroute.Handle(ch, "heavy", noop, wsroute.RouteConfig{Cost: 500}) },
			"a message costing 500 tokens can never pass a bucket of 200")
	})
	t.Run("TokenAuth without Check", func(t *testing.T) {
		t.Parallel()
		r := wsroute.New(wsroute.Options{})
		assert.Panics(t, func() { r.Channel("/c", wsroute.ChannelConfig{Authenticator: wsroute.TokenAuth{}}) }, "ChannelConfig.Authenticator")
		assert.Panics(t, func() {
			wsroute.New(wsroute.Options{Authenticator: wsroute.TokenAuth{}}).Channel("/c", wsroute.ChannelConfig{})
		}, "Options.Authenticator")
	})
	t.Run("input that cannot be a JSON object", func(t *testing.T) {
		t.Parallel()
		_, ch := trustBareRouter(wsroute.Options{}, wsroute.ChannelConfig{Public: true})
		assert.Panics(t, func() {
			wsroute.Handle(ch, "string", func(context.Context, *wsroute.Channel, string) (*struct{}, error) { return nil, nil })
		}, "Handle[string]")
		assert.Panics(t, func() {
			wsroute.Handle(ch, "int", func(context.Context, *wsroute.Channel, int) (*struct{}, error) { return nil, nil })
		}, "Handle[int]")
		assert.Panics(t, func() {
			wsroute.Handle(ch, "ints", func(context.Context, *wsroute.Channel, []int) (*struct{}, error) { return nil, nil })
		}, "Handle[[]int]")
	})
}
