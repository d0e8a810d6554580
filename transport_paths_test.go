package wsroute_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// The writer takes three paths to the socket: non-blocking writes through
// the Wire (plain TCP, the other tests), blocking writes through the Wire
// when the connection cannot write without blocking (TLS), and
// coder/websocket's own writes when it must compress. Each must carry
// replies, pushes larger than a socket takes at once, topic events and the
// close frame, in order.
func TestTransportPaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		tls      bool
		compress bool
	}{
		{"tls", true, false},
		{"compression", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := wsroute.Options{}
			if tc.compress {
				opts.AcceptOptions = &websocket.AcceptOptions{CompressionMode: websocket.CompressionContextTakeover}
			}
			r := wsroute.New(opts)
			cl := newCloses()
			ch := r.Channel("/p", wsroute.ChannelConfig{Public: true, OnDisconnect: cl.record,
				OnConnect: func(_ context.Context, c *wsroute.Channel) error { return c.Subscribe("t") }})
			big := strings.Repeat("y", 512<<10)
			wsroute.Handle(ch, "go", func(ctx context.Context, c *wsroute.Channel, _ struct{}) (titleOut, error) {
				if err := c.Send(ctx, big); err != nil {
					return titleOut{}, err
				}
				if err := c.Router().Publish(ctx, "t", "event", wsroute.PublishOptions{}); err != nil {
					return titleOut{}, err
				}
				return titleOut{Title: "done"}, nil
			}, wsroute.RouteConfig{Public: true})
			srv := httptest.NewUnstartedServer(r)
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			dopts := &websocket.DialOptions{HTTPClient: srv.Client()}
			if tc.compress {
				dopts.CompressionMode = websocket.CompressionContextTakeover
			}
			url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/p"
			c, _, err := websocket.Dial(t.Context(), url, dopts)
			require.NoError(t, err)
			defer c.CloseNow()
			c.SetReadLimit(-1)
			require.Eventually(t, func() bool { return len(r.Subscribers("t")) == 1 }, 5*time.Second, time.Millisecond)
			require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"go","ref":1}`)))
			var got []string
			for range 3 {
				_, data, err := c.Read(t.Context())
				require.NoError(t, err)
				if len(data) > 64 {
					data = data[:64]
				}
				got = append(got, string(data))
			}
			assert.Equal(t, []string{`"` + big[:63], `{"topic":"t","data":"event"}`, `{"action":"go","ref":1,"title":"done"}`}, got)
			r.CloseWhere(func(*wsroute.Channel) bool { return true }, 4000, "bye")
			_, _, err = c.Read(t.Context())
			assert.Equal(t, websocket.StatusCode(4000), websocket.CloseStatus(err))
			assert.Equal(t, 4000, int(cl.wait(t).Code))
			require.NoError(t, r.Shutdown(t.Context()))
		})
	}
}
