package wsroute_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/memlisten"
)

// serveInMemory serves r with a real http.Server and coder/websocket on an
// in-memory listener, so that synctest's fake clock drives its deadlines.
func serveInMemory(t *testing.T, r *wsroute.Router) *http.Client {
	t.Helper()
	l := memlisten.New()
	srv := &http.Server{Handler: r}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = r.Shutdown(context.Background())
	})
	return &http.Client{Transport: &http.Transport{DialContext: l.DialContext}}
}

func TestWriteTimeoutDropsPeer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cl := newCloses()
		r := wsroute.New(wsroute.Options{Limits: wsroute.Limits{WriteTimeout: 3 * time.Second}})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, OnDisconnect: cl.record})
		wsroute.Handle(ch, "push", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
			return nil, c.Send(ctx, strings.Repeat("x", 256<<10)) // larger than the connection's buffer
		}, wsroute.RouteConfig{Public: true})
		client := serveInMemory(t, r)
		c, _, err := websocket.Dial(t.Context(), "ws://memory/c", &websocket.DialOptions{HTTPClient: client})
		require.NoError(t, err)
		defer c.CloseNow()
		// The client never reads: once the in-memory buffer is full, the write blocks.
		start := time.Now()
		require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"push"}`)))
		info := cl.wait(t)
		assert.Equal(t, wsroute.CloseInfo{Code: -1, Reason: "write timeout"}, info)
		assert.Equal(t, 3*time.Second, time.Since(start), "dropped exactly when the write timed out")
	})
}

// A timer armed for one write that completed in time must still catch a
// later write that does not: it re-arms for the rest of that write's time.
func TestWriteTimeoutAcrossWrites(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cl := newCloses()
		r := wsroute.New(wsroute.Options{Limits: wsroute.Limits{WriteTimeout: 3 * time.Second}})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, OnDisconnect: cl.record})
		wsroute.Handle(ch, "two", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
			big := strings.Repeat("x", 256<<10) // larger than the connection's buffer
			_ = c.Send(ctx, "a"+big)
			// Queued together, the frames would go out in one write; the
			// second is sent once the first has been written.
			time.Sleep(2500 * time.Millisecond)
			return nil, c.Send(ctx, "b"+big)
		}, wsroute.RouteConfig{Public: true})
		client := serveInMemory(t, r)
		c, _, err := websocket.Dial(t.Context(), "ws://memory/c", &websocket.DialOptions{HTTPClient: client})
		require.NoError(t, err)
		defer c.CloseNow()
		start := time.Now()
		require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"two"}`)))
		time.Sleep(2 * time.Second)
		c.SetReadLimit(-1)
		_, a, err := c.Read(t.Context()) // the first write completes after 2 s...
		require.NoError(t, err)
		assert.Equal(t, `"a`, string(a[:2]))
		// ...the second starts at 2.5 s and is never read: dropped 3 s later.
		assert.Equal(t, wsroute.CloseInfo{Code: -1, Reason: "write timeout"}, cl.wait(t))
		assert.Equal(t, 5500*time.Millisecond, time.Since(start))
	})
}
