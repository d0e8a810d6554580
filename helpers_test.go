package wsroute_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// user is the session type of the tests.
type user struct{ ID string }

// tokens maps the test tokens to users.
var tokens = map[string]user{"alice-token": {ID: "alice"}, "bob-token": {ID: "bob"}}

// tokenAuth sets a session from a known token and refuses others.
var tokenAuth = wsroute.TokenAuth{Check: func(_ context.Context, c *wsroute.Channel, token string) error {
	u, ok := tokens[token]
	if !ok {
		return errors.New("unknown token")
	}
	c.SetSession(u)
	return nil
}}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newRouter returns a Router shut down (and checked for leftovers) when the
// test ends.
func newRouter(t *testing.T, opts wsroute.Options) *wsroute.Router {
	t.Helper()
	r := wsroute.New(opts)
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(context.Background()))
		assert.Zero(t, r.Len(), "channels left after Shutdown")
	})
	return r
}

// exchange sends each frame and returns every frame received afterwards, as strings.
func exchange(t *testing.T, c *wsroutetest.Conn, frames ...string) []string {
	t.Helper()
	for _, f := range frames {
		require.NoError(t, c.SendText(f))
	}
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = string(g)
	}
	return out
}

// one sends a frame and returns the single frame that answers it.
func one(t *testing.T, c *wsroutetest.Conn, frame string) string {
	t.Helper()
	got := exchange(t, c, frame)
	require.Len(t, got, 1, "frames answering %s: %q", frame, got)
	return got[0]
}

// decode unmarshals a frame into a map for field checks.
func decode(t *testing.T, frame string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(frame), &m), frame)
	return m
}

// websocketStatus is websocket.CloseStatus.
func websocketStatus(err error) websocket.StatusCode { return websocket.CloseStatus(err) }
