package wsroute_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// heartbeatRouter pings every 30 s and waits 10 s for the pong.
func heartbeatRouter(cl *closes, opts wsroute.Options) (*wsroute.Router, *wsroute.ChannelRoute) {
	opts.Limits.PingInterval, opts.Limits.PongTimeout = 30*time.Second, 10*time.Second
	r := wsroute.New(opts)
	return r, r.Channel("/c", wsroute.ChannelConfig{Public: true, OnDisconnect: cl.record})
}

func dialInMemory(t *testing.T, r *wsroute.Router, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.HTTPClient = serveInMemory(t, r)
	c, _, err := websocket.Dial(t.Context(), "ws://memory/c", opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	t.Run("idle healthy peer stays", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cl := newCloses()
			r, _ := heartbeatRouter(cl, wsroute.Options{})
			c := dialInMemory(t, r, nil)
			ctx := c.CloseRead(context.Background()) // reads (and so answers pings) until closed
			time.Sleep(10 * time.Minute)
			synctest.Wait()
			assert.Equal(t, 1, r.Len(), "twenty pings answered, still open")
			assert.NoError(t, ctx.Err())
		})
	})
	t.Run("silent peer is dropped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cl := newCloses()
			r, _ := heartbeatRouter(cl, wsroute.Options{})
			start := time.Now()
			// It reads, but never answers a ping.
			c := dialInMemory(t, r, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool { return false }})
			c.CloseRead(context.Background())
			info := cl.wait(t)
			assert.Equal(t, wsroute.CloseInfo{Code: -1, Reason: "heartbeat timeout"}, info)
			assert.Equal(t, 40*time.Second, time.Since(start), "one interval plus the pong timeout")
		})
	})
	t.Run("pong behind a full inbound queue does not count", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cl := newCloses()
			release := make(chan struct{})
			r, ch := heartbeatRouter(cl, wsroute.Options{Limits: wsroute.Limits{InboundQueue: 1}})
			wsroute.Handle(ch, "block", func(context.Context, *wsroute.Channel, struct{}) (int, error) {
				<-release
				return 1, nil
			}, wsroute.RouteConfig{Public: true})
			c := dialInMemory(t, r, nil)
			answered := make(chan int, 8)
			go func() { // the client reads and answers pings all along
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						return
					}
					answered <- 1
				}
			}()
			go func() { // one handled, one queued, one waiting in the reader: the reader pauses
				for range 3 {
					if c.Write(context.Background(), websocket.MessageText, []byte(`{"action":"block"}`)) != nil {
						return
					}
				}
			}()
			time.Sleep(3 * time.Minute) // several pings whose pongs sit unread
			synctest.Wait()
			assert.Equal(t, 1, r.Len(), "not dropped while its reader was paused")
			close(release)
			for range 3 {
				<-answered
			}
			time.Sleep(2 * time.Minute)
			synctest.Wait()
			assert.Equal(t, 1, r.Len(), "healthy again")
		})
	})
}
