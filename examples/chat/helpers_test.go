package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// newTestApp builds the app with a silent logger on its own in-memory broker
// and shuts its Router down when the test ends.
func newTestApp(t *testing.T) *app {
	t.Helper()
	return newTestAppWith(t, nil)
}

// newTestAppWith is newTestApp on the given broker (nil: the default).
func newTestAppWith(t *testing.T, broker wsroute.Broker) *app {
	t.Helper()
	a, _ := newApp(slog.New(slog.DiscardHandler), broker)
	t.Cleanup(func() {
		// Not t.Context(): it is already cancelled when cleanups run, which
		// would turn the graceful shutdown into an immediate drop.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, a.router.Shutdown(ctx))
	})
	return a
}

// enter opens room as the token's user and returns the connection and its
// welcome frame.
func enter(t *testing.T, a *app, token, room string) (*wsroutetest.Conn, string) {
	t.Helper()
	c := wsroutetest.MustDial(t, a.router, "/rooms/"+room+"?token="+token, nil)
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 1, "the welcome alone: %s", got)
	return c, string(got[0])
}

// join is enter without the welcome.
func join(t *testing.T, a *app, token, room string) *wsroutetest.Conn {
	t.Helper()
	c, _ := enter(t, a, token, room)
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

// next returns the next frame c receives, waiting a bounded time. Events
// that other channels' goroutines cause (a join, a leave, an expiry) are
// read this way: c's Flush only waits for c's own work.
func next(t *testing.T, c *wsroutetest.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	f, err := c.Read(ctx)
	require.NoError(t, err, "waiting for a frame on %v", c)
	return string(f)
}

// nothing asserts that c has received no frame. Received flushes first, so
// for frames c's own messages would cause, an empty result proves that
// nothing was sent; for other channels' doings it holds once their work is
// known to be done (Close and Drop wait for OnDisconnect, MustDial for
// OnConnect, a reply for its handler).
func nothing(t *testing.T, c *wsroutetest.Conn) {
	t.Helper()
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Empty(t, got, "unexpected frames: %s", got)
}

// ev is the topic event frame of room with the given data.
func ev(room, data string) string {
	return `{"topic":"room:` + room + `","data":` + data + `}`
}

// canonical returns each JSON frame re-encoded with its keys sorted, for
// comparing sets of frames whose order is not fixed.
func canonical[F ~string | ~[]byte](t *testing.T, frames ...F) []string {
	t.Helper()
	out := make([]string, len(frames))
	for i, f := range frames {
		var v any
		require.NoError(t, json.Unmarshal([]byte(f), &v), string(f))
		b, err := json.Marshal(v)
		require.NoError(t, err)
		out[i] = string(b)
	}
	return out
}

// errorFrame is the shape of an error frame.
type errorFrame struct {
	Action string `json:"action"`
	Error  struct {
		Code         string           `json:"code"`
		Message      string           `json:"message"`
		Details      []wsroute.Detail `json:"details"`
		RetryAfterMs int64            `json:"retryAfterMs"`
	} `json:"error"`
}

// requireError decodes frame as an error frame for action with code.
func requireError(t *testing.T, frame, action, code string) errorFrame {
	t.Helper()
	var e errorFrame
	require.NoError(t, json.Unmarshal([]byte(frame), &e), frame)
	require.Equal(t, action, e.Action, frame)
	require.Equal(t, code, e.Error.Code, frame)
	require.NotEmpty(t, e.Error.Message, frame)
	return e
}
