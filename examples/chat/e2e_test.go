package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// TestE2E: over real loopback TCP, with coder/websocket's client, served
// the way main serves (wsroute.Serve's listener variant): alice and bob
// join, talk, alice kicks bob, then the server shuts down gracefully.
func TestE2E(t *testing.T) {
	t.Parallel()
	a, h := newApp(slog.New(slog.DiscardHandler), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveCtx, cancelServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- wsroute.ServeListener(serveCtx, ln, &http.Server{Handler: h}, a.router) }()
	// shutdown is what a signal does to main: Serve shuts down (within
	// Options.ShutdownTimeout) and returns.
	shutdown := sync.OnceValue(func() error {
		cancelServe()
		return <-served
	})
	t.Cleanup(func() { _ = shutdown() })
	base := "ws://" + ln.Addr().String() + "/rooms/lobby"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a safety net, not a sleep
	defer cancel()

	alice := dial(t, ctx, base+"?token=alice-token", nil)
	assert.JSONEq(t, `{"welcome":{"room":"lobby","user":"alice","owner":"alice","members":["alice"]}}`, read(t, ctx, alice))
	bob := dial(t, ctx, base, http.Header{"Authorization": {"Bearer bob-token"}})
	assert.JSONEq(t, `{"welcome":{"room":"lobby","user":"bob","owner":"alice","members":["alice","bob"]}}`, read(t, ctx, bob))
	assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"bob"}`), read(t, ctx, alice))

	write(t, ctx, bob, `{"action":"say","ref":1,"text":"hello"}`)
	hello := `{"seq":1,"user":"bob","text":"hello"}`
	assert.JSONEq(t, `{"action":"say","ref":1,"message":`+hello+`}`, read(t, ctx, bob))
	assert.JSONEq(t, ev("lobby", `{"event":"message","message":`+hello+`}`), read(t, ctx, alice))

	write(t, ctx, bob, `{"action":"kick","user":"alice"}`)
	e := requireError(t, read(t, ctx, bob), "kick", "forbidden")
	assert.Equal(t, "only the room's owner, alice, may kick", e.Error.Message)

	write(t, ctx, alice, `{"action":"kick","user":"bob"}`)
	_, _, err = bob.Read(ctx)
	var ce websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseError{Code: wsroute.StatusPolicyViolation, Reason: "kicked by alice"}, ce)
	// The reply and the announcement come from different goroutines.
	got := []string{read(t, ctx, alice), read(t, ctx, alice)}
	assert.ElementsMatch(t, canonical(t, `{"action":"kick","kicked":"bob"}`, ev("lobby", `{"event":"left","user":"bob"}`)), canonical(t, got...))

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- shutdown() }()
	_, _, err = alice.Read(ctx)
	require.ErrorAs(t, err, &ce, "alice's next frame is the close, no announcement")
	assert.Equal(t, websocket.CloseError{Code: wsroute.StatusGoingAway, Reason: wsroute.ReasonShutdown}, ce)
	assert.NoError(t, <-shutdownErr, "a clean shutdown")
}

// dial opens a WebSocket with coder/websocket's client and closes it when
// the test ends.
func dial(t *testing.T, ctx context.Context, url string, header http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// read returns the next text frame.
func read(t *testing.T, ctx context.Context, c *websocket.Conn) string {
	t.Helper()
	typ, b, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, websocket.MessageText, typ)
	return string(b)
}

// write sends frame as a text frame.
func write(t *testing.T, ctx context.Context, c *websocket.Conn, frame string) {
	t.Helper()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(frame)))
}
