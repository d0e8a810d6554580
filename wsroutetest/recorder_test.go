package wsroutetest_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// rooms is an application's Router: "/rooms/{room}" requires a session
// (tokenAuth), runs middleware that counts openings, subscribes each channel
// to its room's topic and greets it in OnConnect. Its "say" route is the
// handler function say.
type rooms struct {
	r      *wsroute.Router
	opened atomic.Int32 // openings the middleware saw
}

// roomTopic is the topic of c's room.
func roomTopic(c *wsroute.Channel) string { return "room/" + c.PathValue("room") }

// sayInput is the input of say.
type sayInput struct {
	Text string `json:"text"`
}

// say publishes the text to the caller's room, signed with its user id.
func say(ctx context.Context, c *wsroute.Channel, in sayInput) (*struct{}, error) {
	u, _ := wsroute.SessionAs[user](c)
	return nil, c.Router().Publish(ctx, roomTopic(c), map[string]string{"from": u.ID, "text": in.Text}, wsroute.PublishOptions{})
}

func newRooms(t *testing.T) *rooms {
	t.Helper()
	a := &rooms{r: newRouter(t, wsroute.Options{Authenticator: tokenAuth})}
	count := func(next wsroute.Handler) wsroute.Handler {
		return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
			if m.IsOpen() {
				a.opened.Add(1)
			}
			return next.Handle(ctx, c, m)
		})
	}
	ch := a.r.Channel("/rooms/{room}", wsroute.ChannelConfig{
		Middleware: []wsroute.Middleware{count},
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			if err := c.Subscribe(roomTopic(c)); err != nil {
				return err
			}
			return c.Send(ctx, map[string]string{"welcome": c.PathValue("room")})
		},
	})
	wsroute.Handle(ch, "say", say)
	return a
}

func TestNewRecorder(t *testing.T) {
	t.Parallel()
	t.Run("on a registered channel route", func(t *testing.T) {
		t.Parallel()
		a := newRooms(t)
		rec := wsroutetest.NewRecorder(t, a.r, "/rooms/42?token=alice-token", &wsroutetest.DialOptions{Header: http.Header{"X-Test": {"yes"}}})
		ch := rec.Channel
		assert.Equal(t, "42", ch.PathValue("room"))
		assert.Equal(t, "alice-token", ch.Query().Get("token"))
		assert.Equal(t, "yes", ch.Header().Get("X-Test"))
		u, ok := wsroute.SessionAs[user](ch)
		assert.True(t, ok, "the Authenticator ran")
		assert.Equal(t, "alice", u.ID)
		assert.Equal(t, int32(1), a.opened.Load(), "the middleware ran")
		assert.Same(t, a.r, rec.Router)
		assert.Same(t, ch, rec.Conn.Channel())
		assert.Equal(t, []string{`{"welcome":"42"}`}, strs(rec.Sent(t)), "what OnConnect sent")

		same := wsroutetest.MustDial(t, a.r, "/rooms/42?token=alice-token", nil)
		other := wsroutetest.MustDial(t, a.r, "/rooms/7?token=alice-token", nil)
		for _, c := range []*wsroutetest.Conn{same, other} {
			_, err := c.Read(t.Context()) // the welcome
			require.NoError(t, err)
		}
		out, err := say(t.Context(), ch, sayInput{Text: "hi"})
		require.NoError(t, err)
		assert.Nil(t, out)
		data, err := same.ReadEvent(t.Context(), "room/42")
		require.NoError(t, err)
		assert.JSONEq(t, `{"from":"alice","text":"hi"}`, string(data), "a handler called directly reaches the room")
		assert.Equal(t, []string{`{"topic":"room/42","data":{"from":"alice","text":"hi"}}`}, strs(rec.Sent(t)), "the recorder is in the room too")
		assert.Empty(t, received(t, other), "another room hears nothing")
		assert.Empty(t, rec.Sent(t))
	})
	t.Run("a refused opening fails the test", func(t *testing.T) {
		t.Parallel()
		a := newRooms(t)
		tests := []struct {
			name   string
			target string
			fatal  string
		}{
			{"no session", "/rooms/1", "wsroutetest: recorder: dial /rooms/1: wsroutetest: opening refused with 401 unauthenticated: authentication required"},
			{"no such channel", "/nope?token=alice-token", "wsroutetest: recorder: dial /nope?token=alice-token: wsroutetest: opening refused with 404 not_found: no channel at this path"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tb := &fakeTB{TB: t}
				done := make(chan struct{})
				go func() {
					defer close(done)
					wsroutetest.NewRecorder(tb, a.r, tt.target, nil)
					t.Error("NewRecorder returned after a refused opening")
				}()
				<-done
				assert.Equal(t, tt.fatal, tb.fatal)
			})
		}
	})
	t.Run("the caller's Router outlives the test", func(t *testing.T) {
		t.Parallel()
		a := newRooms(t)
		var rec *wsroutetest.Recorder
		t.Run("inner", func(t *testing.T) {
			rec = wsroutetest.NewRecorder(t, a.r, "/rooms/1?token=alice-token", nil)
			assert.Equal(t, 1, a.r.Len())
		})
		assert.True(t, isDone(rec.Conn.Done()), "the channel is dropped when the test ends")
		assert.ErrorIs(t, rec.Channel.Send(t.Context(), 1), wsroute.ErrClosed)
		assert.Zero(t, a.r.Len())
		wsroutetest.MustDial(t, a.r, "/rooms/1?token=alice-token", nil) // the Router still serves
	})
	t.Run("without a Router", func(t *testing.T) {
		t.Parallel()
		var rec *wsroutetest.Recorder
		t.Run("inner", func(t *testing.T) {
			rec = wsroutetest.NewRecorder(t, nil, "", nil)
			assert.Empty(t, rec.Sent(t), "nothing sent yet")
			assert.Equal(t, 1, rec.Router.Len())
			got, ok := rec.Router.Lookup(rec.Channel.ID())
			assert.True(t, ok)
			assert.Same(t, rec.Channel, got)
			assert.Equal(t, "recorder", rec.Channel.Name())
			assert.Empty(t, rec.Channel.PathValue("room"))
			assert.False(t, rec.Channel.HasSession(), "the recorder's channel is public")
			rec.Channel.SetSession(user{ID: "alice"})
			u, _ := wsroute.SessionAs[user](rec.Channel)
			assert.Equal(t, "alice", u.ID)
			require.NoError(t, rec.Channel.Subscribe("t"))
			for i := range 3 {
				require.NoError(t, rec.Router.Publish(t.Context(), "t", i, wsroute.PublishOptions{}))
			}
			require.NoError(t, rec.Router.Publish(t.Context(), "t", "excluded", wsroute.PublishOptions{Exclude: rec.Channel}))
			require.NoError(t, rec.Channel.SendBinary(t.Context(), []byte("raw")))
			assert.Equal(t, []string{`{"topic":"t","data":0}`, `{"topic":"t","data":1}`, `{"topic":"t","data":2}`, "raw"}, strs(rec.Sent(t)))
		})
		assert.Zero(t, rec.Router.Len(), "the channel is closed when the test ends")
		assert.ErrorIs(t, rec.Channel.Send(t.Context(), 1), wsroute.ErrClosed)
		_, err := wsroutetest.Dial(t.Context(), rec.Router, "/", nil)
		var he *wsroutetest.HandshakeError
		require.ErrorAs(t, err, &he, "its own Router is shut down when the test ends")
		assert.Equal(t, http.StatusServiceUnavailable, he.StatusCode)
	})
	t.Run("without a Router, any target and options", func(t *testing.T) {
		t.Parallel()
		rec := wsroutetest.NewRecorder(t, nil, "/any/path?x=1", &wsroutetest.DialOptions{RemoteAddr: "198.51.100.7:4242"})
		assert.Equal(t, "1", rec.Channel.Query().Get("x"))
		assert.Equal(t, "198.51.100.7:4242", rec.Channel.RemoteAddr())
	})
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	rec := wsroutetest.NewRecorder(t, nil, "", nil)
	greet := func(ctx context.Context, c *wsroute.Channel, name string) (string, error) {
		if err := c.Send(ctx, map[string]string{"hello": name}); err != nil {
			return "", err
		}
		return "sent", c.Subscribe("greetings")
	}
	out, err := greet(t.Context(), rec.Channel, "bob")
	require.NoError(t, err)
	assert.Equal(t, "sent", out)
	require.NoError(t, rec.Router.Publish(t.Context(), "greetings", 1, wsroute.PublishOptions{}))
	assert.Equal(t, []string{`{"hello":"bob"}`, `{"topic":"greetings","data":1}`}, strs(rec.Sent(t)))
	assert.Empty(t, rec.Sent(t))
}
