package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// newTestApp builds the app with a silent logger and shuts its Router down
// when the test ends.
func newTestApp(t *testing.T) (*app, http.Handler) {
	t.Helper()
	return newTestAppWith(t, nil)
}

// newTestAppWith is newTestApp on the given broker (nil: the default).
func newTestAppWith(t *testing.T, broker wsroute.Broker) (*app, http.Handler) {
	t.Helper()
	a, h := newApp(slog.New(slog.DiscardHandler), broker)
	t.Cleanup(func() {
		// Not t.Context(): it is already cancelled when cleanups run, which
		// would turn the graceful shutdown into an immediate drop.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, a.router.Shutdown(ctx))
	})
	return a, h
}

// openTodos opens a /todos channel in memory at target (with an optional
// header) and checks its first frame, {"connected":true,"channelId":..}.
func openTodos(t *testing.T, a *app, target string, header http.Header) *wsroutetest.Conn {
	t.Helper()
	c := wsroutetest.MustDial(t, a.router, target, &wsroutetest.DialOptions{Header: header})
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 1)
	want, _ := json.Marshal(map[string]any{"connected": true, "channelId": c.Channel().ID()})
	require.JSONEq(t, string(want), string(got[0]))
	return c
}

// login opens a /todos channel and logs it in by message with token.
func login(t *testing.T, a *app, token string) *wsroutetest.Conn {
	t.Helper()
	c := openTodos(t, a, "/todos", nil)
	u := demoTokens[token]
	require.NotEmpty(t, u.ID, "unknown demo token %q", token)
	require.JSONEq(t, `{"action":"auth","userId":"`+u.ID+`"}`, call(t, c, `{"action":"auth","token":"`+token+`"}`))
	return c
}

// subscribed is login plus a subscription to "todos".
func subscribed(t *testing.T, a *app, token string) *wsroutetest.Conn {
	t.Helper()
	c := login(t, a, token)
	require.JSONEq(t, `{"action":"subscribe","subscribed":"todos"}`, call(t, c, `{"action":"subscribe","topic":"todos"}`))
	return c
}

// call sends frame and returns the one frame sent back; any other number of
// frames fails the test.
func call(t *testing.T, c *wsroutetest.Conn, frame string) string {
	t.Helper()
	require.NoError(t, c.SendText(frame))
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 1, "replies to %s: %s", frame, got)
	return string(got[0])
}

// nothing asserts that c has received no frame (Received flushes first, so
// an empty result proves that nothing was sent).
func nothing(t *testing.T, c *wsroutetest.Conn) {
	t.Helper()
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Empty(t, got, "unexpected frames: %s", got)
}

// requireError decodes frame as an error frame for action with code.
func requireError(t *testing.T, frame, action, code string) wsroutetest.ErrorFrame {
	t.Helper()
	e := wsroutetest.RequireError(t, json.RawMessage(frame), code)
	require.Equal(t, action, e.Route, frame)
	require.NotEmpty(t, e.Message, frame)
	return e
}

// bearer returns a header carrying token as a bearer token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}
