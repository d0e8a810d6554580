package wsroute_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// Serve serves until its context ends, then shuts the server and the Router
// down together: a handler running at that moment finishes and its reply
// goes out before the 1001 close.
func TestServe(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	r := wsroute.New(wsroute.Options{})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "slow", func(context.Context, *wsroute.Channel, struct{}) (string, error) {
		close(started)
		<-release
		return "done", nil
	}, wsroute.RouteConfig{Public: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- wsroute.ServeListener(ctx, ln, &http.Server{Handler: r}, r) }()

	c, _, err := websocket.Dial(t.Context(), "ws://"+ln.Addr().String()+"/c", nil)
	require.NoError(t, err)
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"slow"}`)))
	<-started
	stop()
	time.AfterFunc(50*time.Millisecond, func() { close(release) }) // let the shutdown begin first
	_, reply, err := c.Read(t.Context())
	require.NoError(t, err)
	assert.Equal(t, `{"action":"slow","result":"done"}`, string(reply))
	_, _, err = c.Read(t.Context())
	assert.Equal(t, wsroute.StatusGoingAway, wsroute.CloseStatus(err))
	require.NoError(t, <-served, "a clean shutdown")
	_, err = net.Dial("tcp", ln.Addr().String())
	assert.Error(t, err, "the listener is closed")
}

// A server that cannot start is reported at once.
func TestServeFails(t *testing.T) {
	t.Parallel()
	r := wsroute.New(wsroute.Options{})
	err := wsroute.Serve(context.Background(), &http.Server{Addr: "127.0.0.1:-1", Handler: r}, r)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "port") || strings.Contains(err.Error(), "address"), "%v", err)
	require.NoError(t, r.Shutdown(context.Background()))
}

// The close codes and reasons are the library's own constants.
func TestCloseCodes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, websocket.StatusPolicyViolation, wsroute.StatusPolicyViolation)
	assert.Equal(t, wsroute.StatusCode(4401), wsroute.StatusSessionExpired)
	assert.Equal(t, wsroute.StatusCode(-1), wsroute.CloseStatus(context.Canceled))
	assert.Equal(t, wsroute.StatusGoingAway, wsroute.CloseStatus(websocket.CloseError{Code: 1001}))
}

// CloseInfo.Shutdown: only this server's own shutdown counts, not a peer's
// 1001 or another close.
func TestCloseInfoShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		info wsroute.CloseInfo
		want bool
	}{
		{"Router.Shutdown", wsroute.CloseInfo{Code: wsroute.StatusGoingAway, Reason: wsroute.ReasonShutdown}, true},
		{"browser leaving the page", wsroute.CloseInfo{Code: wsroute.StatusGoingAway, ByPeer: true}, false},
		{"peer quoting the reason", wsroute.CloseInfo{Code: wsroute.StatusGoingAway, Reason: wsroute.ReasonShutdown, ByPeer: true}, false},
		{"session expired", wsroute.CloseInfo{Code: wsroute.StatusSessionExpired, Reason: wsroute.ReasonSessionExpired}, false},
		{"kicked", wsroute.CloseInfo{Code: wsroute.StatusPolicyViolation, Reason: "kicked by alice"}, false},
		{"connection lost", wsroute.CloseInfo{Code: -1, Reason: wsroute.ReasonConnectionLost, ByPeer: true}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.info.Shutdown(), tt.name)
	}
}
