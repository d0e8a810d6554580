package wsroute_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type loginIn struct {
	Token string `json:"token"`
	TTL   int    `json:"ttl"` // seconds; 0: no expiry
}

type whoOut struct {
	UserID string `json:"userId"`
}

// sessionRouter has a public channel that logs in and out by message.
func sessionRouter(t *testing.T, public bool) *wsroute.Router {
	r := newRouter(t, wsroute.Options{Authenticator: tokenAuth})
	ch := r.Channel("/s", wsroute.ChannelConfig{Public: public})
	wsroute.Handle(ch, "login", func(_ context.Context, c *wsroute.Channel, in loginIn) (whoOut, error) {
		u, ok := tokens[in.Token]
		if !ok {
			return whoOut{}, wsroute.NewError(wsroute.CodeUnauthenticated, "bad token")
		}
		if in.TTL > 0 {
			c.SetSessionUntil(u, time.Now().Add(time.Duration(in.TTL)*time.Second))
		} else {
			c.SetSession(u)
		}
		return whoOut{UserID: u.ID}, nil
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "half-login", func(_ context.Context, c *wsroute.Channel, in loginIn) (whoOut, error) {
		c.SetSession(user{ID: "mallory"})
		return whoOut{}, wsroute.NewError(wsroute.CodeForbidden, "changed my mind")
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "logout", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		c.ClearSession()
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(ch, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (whoOut, error) {
		u, _ := wsroute.SessionAs[user](c)
		return whoOut{UserID: u.ID}, nil
	})
	return r
}

const unauthenticated = `{"action":"whoami","error":{"code":"unauthenticated","message":"authentication required"}}`

func TestLoginByMessage(t *testing.T) {
	t.Parallel()
	r := sessionRouter(t, true)
	c := wsroutetest.MustDial(t, r, "/s", nil)
	steps := []struct{ send, want string }{
		{`{"action":"whoami"}`, unauthenticated},
		{`{"action":"login","token":"nope"}`, `{"action":"login","error":{"code":"unauthenticated","message":"bad token"}}`},
		{`{"action":"whoami"}`, unauthenticated},
		{`{"action":"login","token":"alice-token"}`, `{"action":"login","userId":"alice"}`},
		{`{"action":"whoami"}`, `{"action":"whoami","userId":"alice"}`},
		{`{"action":"login","token":"nope"}`, `{"action":"login","error":{"code":"unauthenticated","message":"bad token"}}`},
		{`{"action":"whoami"}`, `{"action":"whoami","userId":"alice"}`}, // a failed log-in leaves the session as it was
		{`{"action":"half-login"}`, `{"action":"half-login","error":{"code":"forbidden","message":"changed my mind"}}`},
		{`{"action":"whoami"}`, `{"action":"whoami","userId":"alice"}`}, // a failed message's session change is undone
		{`{"action":"login","token":"bob-token"}`, `{"action":"login","userId":"bob"}`},
		{`{"action":"whoami"}`, `{"action":"whoami","userId":"bob"}`},
		{`{"action":"logout"}`, `{"action":"logout"}`},
		{`{"action":"whoami"}`, unauthenticated},
	}
	for i, s := range steps {
		assert.Equal(t, s.want, one(t, c, s.send), "step %d: %s", i, s.send)
	}
}

func TestSessionValues(t *testing.T) {
	t.Parallel()
	rec := wsroutetest.NewRecorder(t, nil, "", nil)
	ch := rec.Channel
	var nilUser *user
	tests := []struct {
		name string
		set  func()
		has  bool
	}{
		{"value", func() { ch.SetSession(user{ID: "a"}) }, true},
		{"nil clears", func() { ch.SetSession(nil) }, false},
		{"typed nil pointer clears", func() { ch.SetSession(nilUser) }, false},
		{"nil map clears", func() { ch.SetSession(map[string]string(nil)) }, false},
		{"pointer", func() { ch.SetSession(&user{ID: "p"}) }, true},
		{"expired at once", func() { ch.SetSessionUntil(user{ID: "x"}, time.Now().Add(-time.Second)) }, false},
		{"future expiry", func() { ch.SetSessionUntil(user{ID: "x"}, time.Now().Add(time.Hour)) }, true},
		{"cleared", func() { ch.ClearSession() }, false},
	}
	for _, tt := range tests {
		tt.set()
		assert.Equal(t, tt.has, ch.HasSession(), tt.name)
	}
	ch.SetSession(user{ID: "typed"})
	u, ok := wsroute.SessionAs[user](ch)
	assert.True(t, ok)
	assert.Equal(t, "typed", u.ID)
	_, ok = wsroute.SessionAs[*user](ch)
	assert.False(t, ok, "another type is not the session")
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	t.Run("public channel: expired counts as absent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := sessionRouter(t, true)
			c := wsroutetest.MustDial(t, r, "/s", nil)
			assert.Equal(t, `{"action":"login","userId":"alice"}`, one(t, c, `{"action":"login","token":"alice-token","ttl":60}`))
			time.Sleep(59 * time.Second)
			assert.Equal(t, `{"action":"whoami","userId":"alice"}`, one(t, c, `{"action":"whoami"}`))
			time.Sleep(time.Second)
			assert.Equal(t, unauthenticated, one(t, c, `{"action":"whoami"}`))
			assert.Equal(t, 1, r.Len(), "a public channel stays open")
		})
	})
	t.Run("channel requiring a session closes with 4401", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := sessionRouter(t, false)
			c := wsroutetest.MustDial(t, r, "/s?token=alice-token", nil)
			assert.Equal(t, `{"action":"login","userId":"bob"}`, one(t, c, `{"action":"login","token":"bob-token","ttl":30}`))
			time.Sleep(29 * time.Second)
			synctest.Wait()
			assert.Equal(t, 1, r.Len())
			assert.Equal(t, `{"action":"whoami","userId":"bob"}`, one(t, c, `{"action":"whoami"}`))
			time.Sleep(time.Second)
			err := c.Wait(t.Context())
			assert.Equal(t, wsroute.StatusSessionExpired, websocket.CloseStatus(err), "%v", err)
			assert.Equal(t, 0, r.Len())
		})
	})
	t.Run("renewed session is not closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := sessionRouter(t, false)
			c := wsroutetest.MustDial(t, r, "/s?token=alice-token", nil)
			one(t, c, `{"action":"login","token":"alice-token","ttl":10}`)
			time.Sleep(5 * time.Second)
			one(t, c, `{"action":"login","token":"alice-token","ttl":10}`)
			time.Sleep(9 * time.Second)
			synctest.Wait()
			require.Equal(t, 1, r.Len())
			time.Sleep(2 * time.Second)
			synctest.Wait()
			assert.Equal(t, 0, r.Len())
		})
	})
}
