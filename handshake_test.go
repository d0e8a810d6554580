package wsroute_test

import (
	"net/http"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

func TestAcceptOptionsPassThrough(t *testing.T) {
	t.Parallel()
	accept := &websocket.AcceptOptions{Subprotocols: []string{"todo.v1"}, OriginPatterns: []string{"app.example"}}
	_, url := e2eServer(t, wsroute.Options{AcceptOptions: accept}, newCloses())
	c, _, err := websocket.Dial(t.Context(), url+"/e", &websocket.DialOptions{
		Subprotocols: []string{"todo.v1"},
		HTTPHeader:   http.Header{"Origin": {"https://app.example"}},
	})
	require.NoError(t, err, "an allowed cross origin opens")
	defer c.CloseNow()
	assert.Equal(t, "todo.v1", c.Subprotocol())
	_, res, err := websocket.Dial(t.Context(), url+"/e", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	assert.Equal(t, []string{"todo.v1"}, accept.Subprotocols, "the caller's options are not modified")
}
