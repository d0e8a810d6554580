package wsroutetest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// The kit runs inside testing/synctest bubbles, as the package documents:
// each case builds its Router inside the bubble, and the cleanups that shut
// it down run there too.
func TestSynctest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"dial, send, flush", func(t *testing.T) {
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			start := time.Now()
			require.NoError(t, c.SendText(`{"action":"slow","ref":1}`))
			require.NoError(t, c.SendText(`{"action":"echo","ref":2}`))
			assert.Equal(t, []string{`"late"`, `{"action":"slow","ref":1}`, `{"action":"echo","ref":2}`}, received(t, c))
			assert.Equal(t, time.Second, time.Since(start), "Flush waited a fake second for the slow handler")
		}},
		{"settle", func(t *testing.T) {
			rm := newRoom(t)
			a := wsroutetest.MustDial(t, rm.r, "/room", nil)
			b := wsroutetest.MustDial(t, rm.r, "/room", nil)
			require.NoError(t, a.SendText(`{"action":"announce"}`))
			require.NoError(t, b.Settle(t.Context()))
			assert.Equal(t, []string{event(`{"from":"` + a.Channel().ID() + `"}`)}, received(t, b))
			require.NoError(t, a.SendText(`{"action":"kick"}`))
			require.NoError(t, b.Settle(t.Context()))
			assert.Equal(t, []string{event(`{"left":"` + a.Channel().ID() + `"}`)}, received(t, b))
		}},
		{"session expiry by fake time", func(t *testing.T) {
			var gone []wsroute.CloseInfo
			r := newRouter(t, wsroute.Options{})
			r.Channel("/c", wsroute.ChannelConfig{
				Authenticator: wsroute.AuthenticatorFunc(func(_ context.Context, c *wsroute.Channel) error {
					c.SetSessionUntil(user{ID: "alice"}, time.Now().Add(time.Hour))
					return nil
				}),
				OnDisconnect: func(_ context.Context, _ *wsroute.Channel, info wsroute.CloseInfo) { gone = append(gone, info) },
			})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			start := time.Now()
			time.Sleep(time.Hour - time.Second)
			synctest.Wait()
			assert.False(t, isDone(c.Channel().Closing()), "a second before the expiry")
			time.Sleep(time.Second)
			synctest.Wait()
			require.True(t, isDone(c.Channel().Closing()), "closing at the expiry") // so the Wait below ends
			err := c.Wait(t.Context())
			assert.Equal(t, wsroute.StatusSessionExpired, wsroute.CloseStatus(err), "%v", err)
			assert.Equal(t, time.Hour, time.Since(start))
			assert.Equal(t, []wsroute.CloseInfo{{Code: wsroute.StatusSessionExpired, Reason: wsroute.ReasonSessionExpired, Session: user{ID: "alice"}}}, gone)
		}},
		{"heartbeats run on fake time", func(t *testing.T) {
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			time.Sleep(24 * time.Hour) // 2,880 pings, answered by the in-memory peer
			assert.False(t, isDone(c.Channel().Closing()))
			assert.Equal(t, []string{`{"action":"echo"}`}, exchange(t, c, `{"action":"echo"}`))
		}},
		{"shutdown", func(t *testing.T) {
			k := newKit(t, nil)
			conns := []*wsroutetest.Conn{wsroutetest.MustDial(t, k.r, "/c", nil), wsroutetest.MustDial(t, k.r, "/c", nil)}
			require.NoError(t, k.r.Shutdown(t.Context()))
			for _, c := range conns {
				assert.True(t, isDone(c.Done()), "Shutdown returns after every channel's end")
				err := c.Wait(t.Context())
				assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "%v", err)
			}
			assert.Len(t, k.disconnects(), 2)
		}},
		{"close and drop", func(t *testing.T) {
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			require.NoError(t, c.Close(websocket.StatusNormalClosure, "bye"))
			d := wsroutetest.MustDial(t, k.r, "/c", nil)
			d.Drop()
			assert.Equal(t, []wsroute.CloseInfo{
				{Code: websocket.StatusNormalClosure, Reason: "bye", ByPeer: true},
				{Code: -1, Reason: wsroute.ReasonConnectionLost, ByPeer: true},
			}, k.disconnects())
		}},
		{"a recorder and its own Router", func(t *testing.T) {
			rec := wsroutetest.NewRecorder(t, nil, "", nil)
			require.NoError(t, rec.Channel.Send(t.Context(), "hi"))
			assert.Equal(t, []string{`"hi"`}, strs(rec.Sent(t)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, tt.run)
		})
	}
}
