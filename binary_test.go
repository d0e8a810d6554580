package wsroute_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// An opt-in binary handler still passes auth and permissions.
func TestBinaryHandler(t *testing.T) {
	t.Parallel()
	r := wsroute.New(wsroute.Options{Authenticator: tokenAuth})
	ch := r.Channel("/bin", wsroute.ChannelConfig{Public: true})
	onlyAlice := func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
		if u, _ := wsroute.SessionAs[user](c); u.ID != "alice" {
			return errors.New("not alice")
		}
		return nil
	}
	wsroute.HandleBinary(ch, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) ([]byte, error) {
		assert.True(t, m.IsBinary())
		return bytes.ToUpper(m.Data()), nil
	}, wsroute.RouteConfig{Permissions: onlyAlice})
	srv := newHTTPTestServer(t, r)
	tests := []struct {
		name, token string
		typ         websocket.MessageType
		want        string
	}{
		{"no session", "", websocket.MessageText, `{"error":{"code":"unauthenticated","message":"authentication required"}}`},
		{"not permitted", "bob-token", websocket.MessageText, `{"error":{"code":"forbidden","message":"permission denied"}}`},
		{"allowed", "alice-token", websocket.MessageBinary, "ABC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, srv+"/bin?token="+tt.token, nil)
			require.NoError(t, c.Write(t.Context(), websocket.MessageBinary, []byte("abc")))
			typ, got, err := c.Read(t.Context())
			require.NoError(t, err)
			assert.Equal(t, tt.typ, typ)
			assert.Equal(t, tt.want, string(got))
		})
	}
	assert.PanicsWithValue(t, `wsroute: channel "/bin" binary handler: registered twice`, func() {
		wsroute.HandleBinary(ch, func(context.Context, *wsroute.Channel, *wsroute.Message) ([]byte, error) { return nil, nil })
	})
}
