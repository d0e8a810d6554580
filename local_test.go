package wsroute_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type ctxKey string

var roomOf = wsroute.NewLocal[string]("room")

// Per-connection values and the context values open middleware sets live
// from the open lifecycle to OnDisconnect.
func TestLocalsAndContextValuesLiveUntilDisconnect(t *testing.T) {
	t.Parallel()
	type seen struct{ local, ctxValue, reqID string }
	var mu sync.Mutex
	got := map[string]seen{}
	record := func(where string, ctx context.Context, c *wsroute.Channel) {
		l, _ := roomOf.Get(c)
		v, _ := ctx.Value(ctxKey("mw")).(string)
		id, _ := c.Context().Value(ctxKey("mw")).(string)
		mu.Lock()
		got[where] = seen{l, v, id}
		mu.Unlock()
	}
	disconnected := make(chan struct{})
	r := newRouter(t, wsroute.Options{})
	ch := r.Channel("/rooms/{room}", wsroute.ChannelConfig{
		Public: true,
		Middleware: []wsroute.Middleware{func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				if m.IsOpen() {
					roomOf.Set(c, c.PathValue("room"))
					ctx = context.WithValue(ctx, ctxKey("mw"), "set at open")
				}
				return next.Handle(ctx, c, m)
			})
		}},
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error { record("OnConnect", ctx, c); return nil },
		OnDisconnect: func(ctx context.Context, c *wsroute.Channel, _ wsroute.CloseInfo) {
			record("OnDisconnect", ctx, c)
			close(disconnected)
		},
	})
	wsroute.Handle(ch, "look", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		record("handler", ctx, c)
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/rooms/lobby", nil)
	exchange(t, c, `{"action":"look"}`)
	c.Drop()
	<-disconnected
	want := seen{"lobby", "set at open", "set at open"}
	for _, where := range []string{"OnConnect", "handler", "OnDisconnect"} {
		assert.Equal(t, want, got[where], where)
	}
}

func TestLocalSetGetDelete(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{})
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil).Channel()
	count := wsroute.NewLocal[int]("count")
	other := wsroute.NewLocal[int]("count") // another key, although named alike
	_, ok := count.Get(c)
	assert.False(t, ok)
	count.Set(c, 3)
	v, ok := count.Get(c)
	assert.True(t, ok)
	assert.Equal(t, 3, v)
	_, ok = other.Get(c)
	assert.False(t, ok, "each NewLocal is its own key")
	count.Delete(c)
	_, ok = count.Get(c)
	assert.False(t, ok)
	assert.Equal(t, "wsroute.Local(count)", count.String())
}

// OnDisconnect can tell who left after the session expired (4401) and after
// a normal close alike; a cleared session leaves nothing.
func TestLastSessionInOnDisconnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		act     func(c *wsroutetest.Conn)
		code    wsroute.StatusCode
		session any
	}{
		{"normal close", func(c *wsroutetest.Conn) { _ = c.Close(wsroute.StatusNormalClosure, "bye") }, wsroute.StatusNormalClosure, user{ID: "alice"}},
		{"session expired", func(c *wsroutetest.Conn) {
			c.Channel().SetSessionUntil(user{ID: "alice"}, time.Now().Add(-time.Millisecond))
			_ = c.Wait(context.Background())
		}, wsroute.StatusSessionExpired, user{ID: "alice"}},
		{"cleared, then closed", func(c *wsroutetest.Conn) {
			c.Channel().ClearSession()
			_ = c.Close(wsroute.StatusNormalClosure, "bye")
		}, wsroute.StatusNormalClosure, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			type left struct {
				info   wsroute.CloseInfo
				who    user
				hasWho bool
			}
			gone := make(chan left, 1)
			r := newRouter(t, wsroute.Options{Authenticator: tokenAuth})
			r.Channel("/c", wsroute.ChannelConfig{OnDisconnect: func(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
				u, ok := wsroute.SessionAs[user](c)
				gone <- left{info, u, ok}
			}})
			c := wsroutetest.MustDial(t, r, "/c?token=alice-token", nil)
			tt.act(c)
			l := <-gone
			assert.Equal(t, tt.code, l.info.Code)
			assert.Equal(t, tt.session, l.info.Session)
			if tt.session != nil {
				require.True(t, l.hasWho, "SessionAs in OnDisconnect")
				assert.Equal(t, tt.session, l.who)
			} else {
				assert.False(t, l.hasWho)
			}
		})
	}
}
