package wsroute_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type detUser struct {
	ID string `json:"id"`
}

// detachedApp registers, on r, a public channel that logs in by message and
// a private one opened with a token, with the routes the tests use.
func detachedApp(t *testing.T, r *wsroute.Router, disconnects chan<- string) {
	t.Helper()
	lobby := r.Channel("/rooms/{room}", wsroute.ChannelConfig{Name: "rooms", Public: true,
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			return c.Send(ctx, map[string]string{"hello": c.PathValue("room")})
		},
		OnDisconnect: func(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
			u, _ := wsroute.SessionAs[detUser](c)
			disconnects <- c.ID() + " " + u.ID + " " + info.Reason
		}})
	wsroute.Handle(lobby, "login", func(_ context.Context, c *wsroute.Channel, in struct {
		User string `json:"user"`
	}) (detUser, error) {
		if in.User == "" {
			c.SetSession(detUser{ID: "half-logged-in"})
			return detUser{}, wsroute.NewError(wsroute.CodeUnauthenticated, "no user")
		}
		c.SetSession(detUser{ID: in.User})
		return detUser{ID: in.User}, nil
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(lobby, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (detUser, error) {
		u, _ := wsroute.SessionAs[detUser](c)
		return u, nil
	})
	wsroute.Handle(lobby, "join", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		return nil, c.Subscribe("rooms/" + c.PathValue("room"))
	})
	wsroute.Handle(lobby, "leave", func(_ context.Context, c *wsroute.Channel, _ struct{}) (any, error) {
		c.Unsubscribe("rooms/" + c.PathValue("room"))
		return nil, nil
	})
	wsroute.Handle(lobby, "say", func(ctx context.Context, c *wsroute.Channel, in struct {
		Text string `json:"text"`
	}) (any, error) {
		return nil, c.Router().Publish(ctx, "rooms/"+c.PathValue("room"), in.Text, wsroute.PublishOptions{Exclude: c})
	})
	wsroute.Handle(lobby, "bye", func(_ context.Context, c *wsroute.Channel, _ struct{}) (string, error) {
		c.Close(wsroute.StatusNormalClosure, "bye")
		return "ok", nil
	})

	private := r.Channel("/private", wsroute.ChannelConfig{
		Authenticator: wsroute.TokenAuth{Check: func(_ context.Context, c *wsroute.Channel, tok string) error {
			if tok != "good" {
				return errors.New("bad token")
			}
			c.SetSessionUntil(detUser{ID: "tok"}, time.Now().Add(time.Hour))
			return nil
		}}})
	wsroute.Handle(private, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (detUser, error) {
		u, _ := wsroute.SessionAs[detUser](c)
		return u, nil
	})
}

func frames(res wsroute.DetachedResult) []string {
	var out []string
	for _, f := range res.Frames {
		out = append(out, string(f.Data))
	}
	return out
}

// TestDetachedLifecycles runs a channel one event at a time, its state going
// through JSON between events as a store keeps it: open with OnConnect's
// push, log-in by message, a failed log-in undone, typed session reads, a
// subscription, Close from a handler, and the close lifecycle once.
func TestDetachedLifecycles(t *testing.T) {
	disconnects := make(chan string, 4)
	var mu sync.Mutex
	var msgs []wsroute.MessageInfo
	r := newRouter(t, wsroute.Options{Observer: &wsroute.Observer{
		OnMessage: func(_ context.Context, _ *wsroute.Channel, info wsroute.MessageInfo) {
			mu.Lock()
			msgs = append(msgs, info)
			mu.Unlock()
		}}})
	detachedApp(t, r, disconnects)
	ctx := t.Context()

	req := httptest.NewRequest(http.MethodGet, "/rooms/lobby?x=1", nil)
	req.Header.Set("User-Agent", "test")
	open := r.OpenDetached(req, "conn-1")
	require.Zero(t, open.Status, "%v", open.Error)
	assert.Equal(t, []string{`{"hello":"lobby"}`}, frames(open))
	st := open.State
	assert.Equal(t, "conn-1", st.ID)
	assert.Equal(t, "rooms", st.Channel)
	assert.Equal(t, "/rooms/lobby?x=1", st.URL)
	assert.Equal(t, "test", st.Header.Get("User-Agent"))
	assert.True(t, st.Connected)
	assert.Nil(t, st.Session)
	assert.Zero(t, r.Len(), "nothing of the channel stays in the process")

	// The state goes through JSON between events, as a store keeps it.
	roundTrip := func(st wsroute.ChannelState) wsroute.ChannelState {
		b, err := json.Marshal(st)
		require.NoError(t, err)
		var back wsroute.ChannelState
		require.NoError(t, json.Unmarshal(b, &back))
		return back
	}
	handle := func(st wsroute.ChannelState, frame string) wsroute.DetachedResult {
		t.Helper()
		res, err := r.HandleDetached(ctx, roundTrip(st), []byte(frame), false)
		require.NoError(t, err)
		return res
	}

	res := handle(st, `{"action":"whoami","ref":1}`)
	assert.Equal(t, []string{`{"action":"whoami","ref":1,"error":{"code":"unauthenticated","message":"authentication required"}}`}, frames(res))

	res = handle(st, `{"action":"login","ref":2,"user":"ann"}`)
	assert.Equal(t, []string{`{"action":"login","ref":2,"id":"ann"}`}, frames(res))
	assert.JSONEq(t, `{"id":"ann"}`, string(res.State.Session))
	st = res.State

	res = handle(st, `{"action":"login","ref":3}`) // fails: its session change is undone
	assert.Equal(t, "unauthenticated", errorCode(t, res.Frames[0].Data))
	assert.JSONEq(t, `{"id":"ann"}`, string(res.State.Session))
	st = res.State

	res = handle(st, `{"action":"whoami","ref":4}`)
	assert.Equal(t, []string{`{"action":"whoami","ref":4,"id":"ann"}`}, frames(res), "SessionAs decodes the stored session")

	res = handle(st, `{"action":"join"}`)
	assert.Equal(t, []string{"rooms/lobby"}, res.State.Topics)
	st = res.State
	res = handle(st, `{"action":"leave"}`)
	assert.Nil(t, res.State.Topics)
	res = handle(st, `{"action":"bye","ref":5}`)
	assert.Equal(t, []string{`{"action":"bye","ref":5,"result":"ok"}`}, frames(res), "the reply goes out before the close")
	require.NotNil(t, res.Close)
	assert.Equal(t, wsroute.CloseInfo{Code: wsroute.StatusNormalClosure, Reason: "bye"}, *res.Close)

	res = handle(st, "\xff") // not UTF-8: 1007, as a socket's reader says
	require.NotNil(t, res.Close)
	assert.Equal(t, wsroute.StatusCode(1007), res.Close.Code)

	select {
	case d := <-disconnects:
		t.Fatalf("OnDisconnect ran before the close lifecycle: %s", d)
	default:
	}
	closed, err := r.CloseDetached(ctx, roundTrip(st), wsroute.CloseInfo{Code: 1001, Reason: "going away"})
	require.NoError(t, err)
	assert.Equal(t, "conn-1 ann going away", <-disconnects, "OnDisconnect sees the stored session")
	assert.Equal(t, []string{"rooms/lobby"}, closed.State.Topics, "the last state, for the store to clean up")

	mu.Lock()
	assert.Len(t, msgs, 7, "the observer saw every message handled (the frame that is not UTF-8 closes before)")
	mu.Unlock()
	assert.Zero(t, r.Len())
}

func errorCode(t *testing.T, frame []byte) string {
	var v struct {
		Error struct{ Code string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(frame, &v))
	return v.Error.Code
}

// TestDetachedOpenRefused: refusals answer with the status a socket would
// get; a token in the query sets the session, which the state carries with
// its expiry; an expired required session closes with 4401 at the next
// event, without running the handler.
func TestDetachedOpenRefused(t *testing.T) {
	r := newRouter(t, wsroute.Options{})
	detachedApp(t, r, make(chan string, 1))

	res := r.OpenDetached(httptest.NewRequest(http.MethodGet, "/private", nil), "c1")
	assert.Equal(t, http.StatusUnauthorized, res.Status)
	assert.Equal(t, wsroute.CodeUnauthenticated, res.Error.Code)
	res = r.OpenDetached(httptest.NewRequest(http.MethodGet, "/nowhere", nil), "c2")
	assert.Equal(t, http.StatusNotFound, res.Status)

	res = r.OpenDetached(httptest.NewRequest(http.MethodGet, "/private?token=good", nil), "c3")
	require.Zero(t, res.Status, "%v", res.Error)
	assert.JSONEq(t, `{"id":"tok"}`, string(res.State.Session))
	assert.WithinDuration(t, time.Now().Add(time.Hour), res.State.SessionExpires, time.Minute)

	st := res.State
	got, err := r.HandleDetached(t.Context(), st, []byte(`{"action":"whoami"}`), false)
	require.NoError(t, err)
	assert.Equal(t, []string{`{"action":"whoami","id":"tok"}`}, frames(got))

	st.SessionExpires = time.Now().Add(-time.Second)
	got, err = r.HandleDetached(t.Context(), st, []byte(`{"action":"whoami"}`), false)
	require.NoError(t, err)
	assert.Empty(t, got.Frames, "the handler did not run")
	require.NotNil(t, got.Close)
	assert.Equal(t, wsroute.StatusSessionExpired, got.Close.Code)

	st.Channel = "rooms" // a state that does not match its URL's channel
	_, err = r.HandleDetached(t.Context(), st, []byte(`{}`), false)
	assert.ErrorContains(t, err, "404")
}

// TestDetachedPublish: a detached handler's publish goes through the
// Broker (the serverless adapter's fans out from its store) and reaches a
// socket channel of another Router; the sender is excluded by its id.
func TestDetachedPublish(t *testing.T) {
	b := wsroute.NewMemoryBroker()
	var got []wsroute.Envelope
	var mu sync.Mutex
	spy := &spyBroker{MemoryBroker: b, published: func(e wsroute.Envelope) { mu.Lock(); got = append(got, e); mu.Unlock() }}
	serverless := newRouter(t, wsroute.Options{Broker: spy})
	detachedApp(t, serverless, make(chan string, 1))
	live := newRouter(t, wsroute.Options{Broker: b})
	detachedApp(t, live, make(chan string, 1))

	c := wsroutetest.MustDial(t, live, "/rooms/lobby", nil)
	exchange(t, c, `{"action":"login","user":"bob"}`, `{"action":"join"}`)

	open := serverless.OpenDetached(httptest.NewRequest(http.MethodGet, "/rooms/lobby", nil), "sl-1")
	login, err := serverless.HandleDetached(t.Context(), open.State, []byte(`{"action":"login","user":"ann"}`), false)
	require.NoError(t, err)
	_, err = serverless.HandleDetached(t.Context(), login.State, []byte(`{"action":"say","text":"hi"}`), false)
	require.NoError(t, err)
	ev, err := c.ReadEvent(t.Context(), "rooms/lobby")
	require.NoError(t, err)
	assert.Equal(t, `"hi"`, string(ev))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1)
	assert.Equal(t, "sl-1", got[0].Exclude)
	assert.Equal(t, `{"topic":"rooms/lobby","data":"hi"}`, string(wsroute.EventFrame(got[0].Topic, got[0].Data)))
}

type spyBroker struct {
	*wsroute.MemoryBroker
	published func(wsroute.Envelope)
}

func (s *spyBroker) Publish(ctx context.Context, e wsroute.Envelope) error {
	s.published(e)
	return s.MemoryBroker.Publish(ctx, e)
}
