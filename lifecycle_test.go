package wsroute_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type nIn struct {
	N int `json:"n"`
}

type nOut struct {
	N int `json:"n"`
}

func TestRepliesInOrder(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{Limits: wsroute.Limits{InboundQueue: 4, RateLimit: wsroute.RateLimit{Rate: -1}}})
	ch := r.Channel("/o", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "n", func(_ context.Context, _ *wsroute.Channel, in nIn) (nOut, error) {
		for range in.N % 7 * 100 { // uneven work
			_ = fmt.Sprint(in.N)
		}
		return nOut(in), nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/o", nil)
	const n = 500
	for i := range n {
		require.NoError(t, c.SendText(`{"action":"n","n":`+strconv.Itoa(i)+`}`))
	}
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, g := range got {
		require.Equal(t, fmt.Sprintf(`{"action":"n","n":%d}`, i), string(g))
	}
}

func TestParallelIsBounded(t *testing.T) {
	t.Parallel()
	const limit = 4
	var running, peak atomic.Int32
	release := make(chan struct{})
	arrived := make(chan struct{}, 64)
	r := newRouter(t, wsroute.Options{})
	ch := r.Channel("/p", wsroute.ChannelConfig{Public: true, Parallel: limit})
	wsroute.Handle(ch, "wait", func(_ context.Context, _ *wsroute.Channel, in nIn) (nOut, error) {
		now := running.Add(1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		arrived <- struct{}{}
		<-release
		running.Add(-1)
		return nOut(in), nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/p", nil)
	for i := range 10 {
		require.NoError(t, c.SendText(`{"action":"wait","ref":`+strconv.Itoa(i)+`,"n":`+strconv.Itoa(i)+`}`))
	}
	for range limit {
		<-arrived // four handlers run at once...
	}
	close(release)
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 10, "every message answered")
	assert.Equal(t, int32(limit), peak.Load(), "...and never more")
}

// closeKinds are every way a channel can end, each with what OnDisconnect must see.
func TestOnDisconnectExactlyOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		close func(t *testing.T, r *wsroute.Router, c *wsroutetest.Conn)
		want  wsroute.CloseInfo
	}{
		{"client close", func(t *testing.T, _ *wsroute.Router, c *wsroutetest.Conn) {
			require.NoError(t, c.Close(websocket.StatusNormalClosure, "bye"))
		}, wsroute.CloseInfo{Code: 1000, Reason: "bye", ByPeer: true}},
		{"network drop", func(_ *testing.T, _ *wsroute.Router, c *wsroutetest.Conn) { c.Drop() },
			wsroute.CloseInfo{Code: -1, Reason: "connection lost", ByPeer: true}},
		{"server close", func(t *testing.T, _ *wsroute.Router, c *wsroutetest.Conn) {
			c.Channel().Close(websocket.StatusNormalClosure, "done")
			_ = c.Wait(t.Context())
		}, wsroute.CloseInfo{Code: 1000, Reason: "done"}},
		{"close by handler", func(t *testing.T, _ *wsroute.Router, c *wsroutetest.Conn) {
			require.NoError(t, c.SendText(`{"action":"quit"}`))
			_ = c.Wait(t.Context())
		}, wsroute.CloseInfo{Code: 1000, Reason: "quit"}},
		{"close where", func(t *testing.T, r *wsroute.Router, c *wsroutetest.Conn) {
			n := r.CloseWhere(func(ch *wsroute.Channel) bool {
				u, ok := wsroute.SessionAs[user](ch)
				return ok && u.ID == "alice"
			}, websocket.StatusPolicyViolation, "credentials changed")
			assert.Equal(t, 1, n)
			_ = c.Wait(t.Context())
		}, wsroute.CloseInfo{Code: 1008, Reason: "credentials changed"}},
		{"shutdown", func(t *testing.T, r *wsroute.Router, c *wsroutetest.Conn) {
			require.NoError(t, r.Shutdown(t.Context()))
			assert.Equal(t, 1001, int(websocket.CloseStatus(c.Wait(t.Context()))))
		}, wsroute.CloseInfo{Code: 1001, Reason: "server shutdown"}},
		{"binary frame", func(t *testing.T, _ *wsroute.Router, c *wsroutetest.Conn) {
			require.NoError(t, c.SendBinary([]byte("x")))
			_ = c.Wait(t.Context())
		}, wsroute.CloseInfo{Code: 1008, Reason: "binary frames are not accepted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var infos, observed []wsroute.CloseInfo
			r := newRouter(t, wsroute.Options{Authenticator: tokenAuth, Observer: &wsroute.Observer{
				OnClose: func(_ context.Context, _ *wsroute.Channel, info wsroute.CloseInfo) {
					mu.Lock()
					observed = append(observed, info)
					mu.Unlock()
				}}})
			ch := r.Channel("/c", wsroute.ChannelConfig{
				OnConnect: func(_ context.Context, c *wsroute.Channel) error { return c.Subscribe("t") },
				OnDisconnect: func(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
					mu.Lock()
					infos = append(infos, info)
					mu.Unlock()
					assert.Empty(t, c.Topics(), "subscriptions dropped before OnDisconnect")
					_, open := r.Lookup(c.ID())
					assert.False(t, open, "removed from the Router before OnDisconnect")
					assert.Error(t, c.Context().Err(), "the channel's context is cancelled")
				}})
			wsroute.Handle(ch, "quit", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
				c.Close(websocket.StatusNormalClosure, "quit")
				return nil, nil
			})
			c := wsroutetest.MustDial(t, r, "/c?token=alice-token", nil)
			tt.close(t, r, c)
			c.Drop() // a second close changes nothing
			<-c.Done()
			mu.Lock()
			defer mu.Unlock()
			want := tt.want
			want.Session = user{ID: "alice"} // the last session: who left
			assert.Equal(t, []wsroute.CloseInfo{want}, infos)
			assert.Equal(t, []wsroute.CloseInfo{want}, observed)
		})
	}
}

func TestCloseWaitsForRunningHandler(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	r := newRouter(t, wsroute.Options{})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "slow", func(_ context.Context, _ *wsroute.Channel, in nIn) (nOut, error) {
		close(started)
		<-release
		return nOut(in), nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.SendText(`{"action":"slow","ref":1,"n":1}`))
	require.NoError(t, c.SendText(`{"action":"slow","ref":2,"n":2}`))
	<-started
	c.Channel().Close(websocket.StatusNormalClosure, "bye")
	close(release)
	err := c.Wait(t.Context())
	assert.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err))
	got, _ := c.Read(t.Context())
	assert.Equal(t, `{"action":"slow","ref":1,"n":1}`, string(got), "the running handler's reply goes out before the close")
	_, err = c.Read(t.Context())
	assert.Error(t, err, "the queued message is not handled")
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	t.Run("running handlers finish", func(t *testing.T) {
		t.Parallel()
		started, release := make(chan struct{}), make(chan struct{})
		r := wsroute.New(wsroute.Options{})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
		wsroute.Handle(ch, "slow", func(context.Context, *wsroute.Channel, struct{}) (int, error) {
			close(started)
			<-release
			return 1, nil
		}, wsroute.RouteConfig{Public: true})
		c := wsroutetest.MustDial(t, r, "/c", nil)
		idle := wsroutetest.MustDial(t, r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"slow"}`))
		<-started
		done := make(chan error)
		go func() { done <- r.Shutdown(context.Background()) }()
		assert.Equal(t, 1001, int(websocket.CloseStatus(idle.Wait(t.Context()))), "idle channels close at once")
		_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
		var he *wsroutetest.HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 503, he.StatusCode)
		close(release)
		require.NoError(t, <-done)
		assert.Equal(t, 1001, int(websocket.CloseStatus(c.Wait(t.Context()))))
		got, _ := c.Read(t.Context())
		assert.Equal(t, `{"action":"slow","result":1}`, string(got))
		assert.Zero(t, r.Len())
	})
	t.Run("deadline drops the rest", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			started := make(chan struct{})
			var sawCancel atomic.Bool
			r := wsroute.New(wsroute.Options{})
			ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
			wsroute.Handle(ch, "stuck", func(ctx context.Context, _ *wsroute.Channel, _ struct{}) (int, error) {
				close(started)
				<-ctx.Done()
				sawCancel.Store(true)
				return 0, ctx.Err()
			}, wsroute.RouteConfig{Public: true})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			require.NoError(t, c.SendText(`{"action":"stuck"}`))
			<-started
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := r.Shutdown(ctx)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			// Shutdown returned at its deadline, without waiting for the
			// handler; the dropped channel's teardown follows.
			assert.Equal(t, -1, int(websocket.CloseStatus(c.Wait(t.Context()))), "dropped without a close frame")
			assert.True(t, sawCancel.Load(), "the handler's context was cancelled")
			assert.Zero(t, r.Len())
		})
	})
}

func TestSendBeforeOpen(t *testing.T) {
	t.Parallel()
	var sendErr error
	r := newRouter(t, wsroute.Options{})
	r.Channel("/c", wsroute.ChannelConfig{Public: true, Middleware: []wsroute.Middleware{
		func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				if m.IsOpen() {
					sendErr = c.Send(ctx, "too early")
				}
				return next.Handle(ctx, c, m)
			})
		}}})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	assert.ErrorIs(t, sendErr, wsroute.ErrNotOpen)
	c.Drop()
	assert.ErrorIs(t, c.Channel().Send(t.Context(), 1), wsroute.ErrClosed)
}

func TestObserverMessages(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []wsroute.MessageInfo
	r := newRouter(t, wsroute.Options{Observer: &wsroute.Observer{OnMessage: func(_ context.Context, _ *wsroute.Channel, i wsroute.MessageInfo) {
		mu.Lock()
		got = append(got, i)
		mu.Unlock()
	}}})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "ok", noop[struct{}, struct{}], wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "private", noop[struct{}, struct{}])
	c := wsroutetest.MustDial(t, r, "/c", nil)
	exchange(t, c, `{"action":"ok"}`, `{"action":"private"}`, `{"action":"none"}`, `{`)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 4)
	for i, want := range []struct{ route, code string }{{"ok", ""}, {"private", "unauthenticated"}, {"", "not_found"}, {"", "bad_request"}} {
		assert.Equal(t, want.route, got[i].Route)
		assert.Equal(t, want.code, got[i].Code)
		assert.Positive(t, got[i].Duration)
	}
}
