package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServer serves a new app on a loopback httptest.Server and returns
// its ws:// and http:// base URLs.
func startServer(t *testing.T) (wsURL, httpURL string) {
	t.Helper()
	_, h := newTestApp(t) // its cleanup (Router.Shutdown) runs after srv.Close
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), srv.URL
}

// timeout returns a context that bounds one test's network I/O: a safety
// net against a hang, not a sleep.
func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
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

// roundTrip writes frame and reads the next frame.
func roundTrip(t *testing.T, ctx context.Context, c *websocket.Conn, frame string) string {
	t.Helper()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(frame)))
	return read(t, ctx, c)
}

// TestE2EHTTP: over a real socket, the page, its script, the AsyncAPI
// document, 404 and the 426 of a channel.
func TestE2EHTTP(t *testing.T) {
	t.Parallel()
	_, base := startServer(t)
	tests := []struct {
		path        string
		status      int
		contentType string
		contains    string
	}{
		{"/", http.StatusOK, "text/html", `<script src="/app.js">`},
		{"/app.js", http.StatusOK, "text/javascript", "WsrouteError"}, // the bundled client
		{"/asyncapi.json", http.StatusOK, "application/json", `"asyncapi": "3.0.0"`},
		{"/nope", http.StatusNotFound, "text/plain", "404"},
		{"/admin", http.StatusUpgradeRequired, "application/json", "upgrade"},
		{"/todos", http.StatusUpgradeRequired, "application/json", "upgrade"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(timeout(t), http.MethodGet, base+tt.path, nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("Content-Type"), tt.contentType)
			assert.Contains(t, string(body), tt.contains)
		})
	}
}

// TestE2EAdmin: /admin refuses without a token (401) and bob (403), opens for
// alice and answers stats.
func TestE2EAdmin(t *testing.T) {
	t.Parallel()
	ws, _ := startServer(t)
	ctx := timeout(t)

	for token, status := range map[string]int{"": http.StatusUnauthorized, "bob-token": http.StatusForbidden} {
		_, resp, err := websocket.Dial(ctx, ws+"/admin?token="+token, nil)
		require.Error(t, err, "token %q", token)
		require.NotNil(t, resp, "token %q", token)
		assert.Equal(t, status, resp.StatusCode, "token %q", token)
	}

	admin := dial(t, ctx, ws+"/admin?token=alice-token", nil)
	assert.JSONEq(t, `{"connected":true,"admin":true}`, read(t, ctx, admin))
	todos := dial(t, ctx, ws+"/todos", nil)
	read(t, ctx, todos) // connected
	assert.JSONEq(t, `{"action":"stats","ref":"s","connections":2}`, roundTrip(t, ctx, admin, `{"action":"stats","ref":"s"}`))
}

// TestE2ETodos: alice creates, bob (subscribed) receives the event and may
// not complete alice's todo.
func TestE2ETodos(t *testing.T) {
	t.Parallel()
	ws, _ := startServer(t)
	ctx := timeout(t)

	alice := dial(t, ctx, ws+"/todos?token=alice-token", nil)
	bob := dial(t, ctx, ws+"/todos", http.Header{"Authorization": {"Bearer bob-token"}})
	for _, c := range []*websocket.Conn{alice, bob} {
		var hello struct {
			Connected bool   `json:"connected"`
			ChannelID string `json:"channelId"`
		}
		require.NoError(t, json.Unmarshal([]byte(read(t, ctx, c)), &hello))
		assert.True(t, hello.Connected)
		assert.NotEmpty(t, hello.ChannelID)
	}
	assert.JSONEq(t, `{"action":"subscribe","subscribed":"todos"}`, roundTrip(t, ctx, bob, `{"action":"subscribe","topic":"todos"}`))
	assert.JSONEq(t, `{"action":"subscribe","subscribed":"todos"}`, roundTrip(t, ctx, alice, `{"action":"subscribe","topic":"todos"}`))

	milk := `{"id":"1","title":"milk","done":false,"owner":"alice"}`
	assert.JSONEq(t, `{"action":"create","ref":1,"todo":`+milk+`}`, roundTrip(t, ctx, alice, `{"action":"create","ref":1,"title":"milk"}`))
	assert.JSONEq(t, `{"topic":"todos","data":{"event":"created","todo":`+milk+`}}`, read(t, ctx, bob))

	requireError(t, roundTrip(t, ctx, bob, `{"action":"complete","id":"1"}`), "complete", "forbidden")

	// The sender never gets its own event: its next frame is the list.
	assert.JSONEq(t, `{"action":"list","todos":[`+milk+`]}`, roundTrip(t, ctx, alice, `{"action":"list"}`))
	require.NoError(t, alice.Close(websocket.StatusNormalClosure, "bye"))
}
