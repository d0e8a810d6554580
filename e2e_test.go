package wsroute_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// closes collects OnDisconnect calls.
type closes struct {
	mu    sync.Mutex
	infos []wsroute.CloseInfo
	done  chan struct{}
}

func newCloses() *closes { return &closes{done: make(chan struct{}, 64)} }

func (c *closes) record(_ context.Context, _ *wsroute.Channel, info wsroute.CloseInfo) {
	c.mu.Lock()
	c.infos = append(c.infos, info)
	c.mu.Unlock()
	c.done <- struct{}{}
}

func (c *closes) wait(t *testing.T) wsroute.CloseInfo {
	t.Helper()
	select {
	case <-c.done:
	case <-t.Context().Done(): // not a timer: synctest bubbles wait on fake time
		t.Fatal("OnDisconnect did not run")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.infos[len(c.infos)-1]
}

// e2eServer serves a Router over real loopback TCP.
func e2eServer(t *testing.T, opts wsroute.Options, cl *closes) (*wsroute.Router, string) {
	t.Helper()
	opts.Authenticator = tokenAuth
	r := wsroute.New(opts)
	ch := r.Channel("/e", wsroute.ChannelConfig{Public: true, OnDisconnect: cl.record})
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in titleIn) (titleOut, error) {
		return titleOut(in), nil
	}, wsroute.RouteConfig{Public: true, Schema: wsroute.SchemaString(`{"type":"object","properties":{"title":{"type":"string","maxLength":200}},"required":["title"],"additionalProperties":false}`)})
	wsroute.Handle(ch, "flood", func(ctx context.Context, c *wsroute.Channel, in nIn) (*struct{}, error) {
		payload := strings.Repeat("x", 1024)
		for range in.N {
			if err := c.Send(ctx, payload); err != nil {
				return nil, wsroute.ErrNoReply
			}
		}
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	r.Channel("/fails", wsroute.ChannelConfig{Public: true, OnConnect: func(context.Context, *wsroute.Channel) error {
		return assert.AnError
	}})
	r.Channel("/private", wsroute.ChannelConfig{})
	srv := httptest.NewServer(r)
	srv.Config.RegisterOnShutdown(func() { _ = r.Shutdown(context.Background()) })
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(context.Background()))
		srv.Close()
	})
	return r, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func readText(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	require.NoError(t, err)
	return string(b)
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	cl := newCloses()
	_, url := e2eServer(t, wsroute.Options{}, cl)
	c := dial(t, url+"/e", nil)
	ctx := t.Context()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"action":"echo","ref":"1","title":"hello"}`)))
	assert.Equal(t, `{"action":"echo","ref":"1","title":"hello"}`, readText(t, c))
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"action":"echo","ref":2,"title":7,"x":1}`)))
	assert.Equal(t, `{"action":"echo","ref":2,"error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"","message":"additional properties 'x' not allowed"},{"pointer":"/title","message":"got number, want string"}]}}`, readText(t, c))
	require.NoError(t, c.Close(websocket.StatusNormalClosure, "bye"))
	assert.Equal(t, wsroute.CloseInfo{Code: 1000, Reason: "bye", ByPeer: true}, cl.wait(t))
}

func TestEndToEndCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		path   string
		opts   wsroute.Options
		send   func(ctx context.Context, c *websocket.Conn) error
		code   websocket.StatusCode
		reason string
	}{
		{"invalid UTF-8", "/e", wsroute.Options{}, func(ctx context.Context, c *websocket.Conn) error {
			return c.Write(ctx, websocket.MessageText, []byte("\"\xc3\x28\""))
		}, 1007, "invalid UTF-8"},
		{"binary", "/e", wsroute.Options{}, func(ctx context.Context, c *websocket.Conn) error {
			return c.Write(ctx, websocket.MessageBinary, []byte{0})
		}, 1008, "binary frames are not accepted"},
		{"too big", "/e", wsroute.Options{Limits: wsroute.Limits{ReadLimit: 1024}}, func(ctx context.Context, c *websocket.Conn) error {
			return c.Write(ctx, websocket.MessageText, []byte(`"`+strings.Repeat("a", 1024)+`"`))
		}, 1009, ""},
		{"OnConnect fails", "/fails", wsroute.Options{}, func(context.Context, *websocket.Conn) error { return nil }, 1011, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, url := e2eServer(t, tt.opts, newCloses())
			c := dial(t, url+tt.path, nil)
			require.NoError(t, tt.send(t.Context(), c))
			_, _, err := c.Read(t.Context())
			var ce websocket.CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.code, ce.Code)
			if tt.reason != "" {
				assert.Equal(t, tt.reason, ce.Reason)
			}
		})
	}
}

func TestEndToEndHTTPAnswers(t *testing.T) {
	t.Parallel()
	_, url := e2eServer(t, wsroute.Options{}, newCloses())
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"no channel", "/nope", nil, 404},
		{"no session", "/private", nil, 401},
		{"cross-site origin", "/e", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"session by bearer", "/private", http.Header{"Authorization": {"Bearer alice-token"}}, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, res, err := websocket.Dial(t.Context(), url+tt.path, &websocket.DialOptions{HTTPHeader: tt.header})
			if tt.status == 101 {
				require.NoError(t, err)
				_ = c.CloseNow()
			} else {
				require.Error(t, err)
			}
			require.NotNil(t, res)
			assert.Equal(t, tt.status, res.StatusCode)
		})
	}
	res, err := http.Get("http" + strings.TrimPrefix(url, "ws") + "/e")
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusUpgradeRequired, res.StatusCode)
}

func TestEndToEndSlowConsumer(t *testing.T) {
	t.Parallel()
	cl := newCloses()
	_, url := e2eServer(t, wsroute.Options{Limits: wsroute.Limits{SendQueue: 16}}, cl)
	c := dial(t, url+"/e", nil)
	// The client never reads; the server pushes far more than TCP buffers and the queue hold.
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"flood","n":200000}`)))
	info := cl.wait(t)
	assert.Equal(t, wsroute.CloseInfo{Code: -1, Reason: "slow consumer"}, info)
}

func TestEndToEndAbruptDrop(t *testing.T) {
	t.Parallel()
	cl := newCloses()
	r, url := e2eServer(t, wsroute.Options{}, cl)
	c := dial(t, url+"/e", nil)
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"echo","title":"x"}`)))
	readText(t, c)
	require.NoError(t, c.CloseNow())
	assert.Equal(t, wsroute.CloseInfo{Code: -1, Reason: "connection lost", ByPeer: true}, cl.wait(t))
	assert.Zero(t, r.Len())
}

func TestEndToEndShutdown(t *testing.T) {
	t.Parallel()
	cl := newCloses()
	r, url := e2eServer(t, wsroute.Options{}, cl)
	conns := make([]*websocket.Conn, 20)
	for i := range conns {
		conns[i] = dial(t, url+"/e", nil)
	}
	// Each reads in the background, as a real client does, so it answers the close frame.
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := c.Read(context.Background())
			assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err))
		}()
	}
	// A dial returns once the 101 has arrived, which the server writes
	// before it registers the channel and runs OnConnect; a channel closed
	// in between never connected and gets no OnDisconnect. All are open
	// once the Router counts them.
	require.Eventually(t, func() bool { return r.Len() == len(conns) }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, r.Shutdown(ctx))
	wg.Wait()
	assert.Zero(t, r.Len())
	for range conns {
		assert.Equal(t, websocket.StatusGoingAway, cl.wait(t).Code)
	}
}

// newHTTPTestServer serves r on loopback and returns its ws:// URL; the
// Router is shut down and the server closed when the test ends.
func newHTTPTestServer(t *testing.T, r *wsroute.Router) string {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(context.Background()))
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}
