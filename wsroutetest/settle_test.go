package wsroutetest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// room is a Router whose public channel "/room" joins the topic "room" in
// OnConnect and announces its leave there in OnDisconnect. Its routes:
//
//	announce  publishes {"from":<id>} to the room, except to the sender
//	tell      sends {"from":<id>,"text":..} to the channel whose id is "to"
//	kick      closes the channel with 4000 "kicked"
//	held      waits for release, then announces like announce
type room struct {
	r       *wsroute.Router
	release chan struct{}
}

func newRoom(t *testing.T) *room {
	t.Helper()
	rm := &room{r: newRouter(t, wsroute.Options{}), release: make(chan struct{})}
	ch := rm.r.Channel("/room", wsroute.ChannelConfig{
		Public: true,
		OnConnect: func(_ context.Context, c *wsroute.Channel) error {
			return c.Subscribe("room")
		},
		OnDisconnect: func(ctx context.Context, c *wsroute.Channel, _ wsroute.CloseInfo) {
			_ = c.Router().Publish(ctx, "room", map[string]string{"left": c.ID()}, wsroute.PublishOptions{})
		},
	})
	public := wsroute.RouteConfig{Public: true}
	announce := func(ctx context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		return nil, c.Router().Publish(ctx, "room", map[string]string{"from": c.ID()}, wsroute.PublishOptions{Exclude: c})
	}
	wsroute.Handle(ch, "announce", announce, public)
	wsroute.Handle(ch, "tell", func(ctx context.Context, c *wsroute.Channel, in struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}) (*struct{}, error) {
		other, ok := c.Router().Lookup(in.To)
		if !ok {
			return nil, wsroute.NewError(wsroute.CodeNotFound, "no such channel")
		}
		return nil, other.Send(ctx, map[string]string{"from": c.ID(), "text": in.Text})
	}, public)
	wsroute.Handle(ch, "kick", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		c.Close(4000, "kicked")
		return nil, nil
	}, public)
	wsroute.Handle(ch, "held", func(ctx context.Context, c *wsroute.Channel, in struct{}) (*struct{}, error) {
		<-rm.release
		return announce(ctx, c, in)
	}, public)
	return rm
}

// event is the room's event frame for data.
func event(data string) string { return `{"topic":"room","data":` + data + `}` }

// Settle is the barrier for what other channels push: a handler (or
// OnDisconnect) of channel a pushes to channel b, and b's Received has it
// once Settle returned, without sleeping. Run with -count=50 to see that
// it does not depend on scheduling.
func TestSettle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// act makes a's side push to b; settle is the Conn that settles.
		act    func(t *testing.T, rm *room, a, b *wsroutetest.Conn)
		settle func(a, b *wsroutetest.Conn) *wsroutetest.Conn
		want   func(a, b *wsroutetest.Conn) []string // what b received
	}{
		{"a handler publishes to a topic the other subscribed", func(t *testing.T, _ *room, a, _ *wsroutetest.Conn) {
			require.NoError(t, a.SendText(`{"action":"announce"}`))
		}, other, func(a, _ *wsroutetest.Conn) []string {
			return []string{event(`{"from":"` + a.Channel().ID() + `"}`)}
		}},
		{"settling the sender's Conn is the same barrier", func(t *testing.T, _ *room, a, _ *wsroutetest.Conn) {
			require.NoError(t, a.SendText(`{"action":"announce"}`))
		}, self, func(a, _ *wsroutetest.Conn) []string {
			return []string{event(`{"from":"` + a.Channel().ID() + `"}`)}
		}},
		{"a handler sends to the other channel", func(t *testing.T, _ *room, a, b *wsroutetest.Conn) {
			require.NoError(t, a.Send(map[string]string{"action": "tell", "to": b.Channel().ID(), "text": "hi"}))
		}, other, func(a, _ *wsroutetest.Conn) []string {
			return []string{`{"from":"` + a.Channel().ID() + `","text":"hi"}`}
		}},
		{"many messages from several channels", func(t *testing.T, rm *room, a, _ *wsroutetest.Conn) {
			more := wsroutetest.MustDial(t, rm.r, "/room", nil)
			for range 20 {
				require.NoError(t, a.SendText(`{"action":"announce"}`))
				require.NoError(t, more.SendText(`{"action":"announce"}`))
			}
		}, other, func(_, b *wsroutetest.Conn) []string {
			return nil // counted below
		}},
		{"a kick: OnDisconnect announces the leave", func(t *testing.T, _ *room, a, _ *wsroutetest.Conn) {
			require.NoError(t, a.SendText(`{"action":"kick"}`))
		}, other, func(a, _ *wsroutetest.Conn) []string {
			return []string{event(`{"left":"` + a.Channel().ID() + `"}`)}
		}},
		{"CloseWhere from the test: OnDisconnect announces the leave", func(t *testing.T, rm *room, a, _ *wsroutetest.Conn) {
			assert.Equal(t, 1, rm.r.CloseWhere(func(c *wsroute.Channel) bool { return c == a.Channel() }, 4000, "bye"))
		}, other, func(a, _ *wsroutetest.Conn) []string {
			return []string{event(`{"left":"` + a.Channel().ID() + `"}`)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rm := newRoom(t)
			a := wsroutetest.MustDial(t, rm.r, "/room", nil)
			b := wsroutetest.MustDial(t, rm.r, "/room", nil)
			tt.act(t, rm, a, b)
			require.NoError(t, tt.settle(a, b).Settle(t.Context()))
			got := received(t, b)
			if want := tt.want(a, b); want != nil {
				assert.Equal(t, want, got)
			} else {
				assert.Len(t, got, 40, "every announcement of both senders: %s", got)
			}
		})
	}
	t.Run("Flush is this channel's own work; Settle the Router's", func(t *testing.T) {
		t.Parallel()
		rm := newRoom(t)
		a := wsroutetest.MustDial(t, rm.r, "/room", nil)
		b := wsroutetest.MustDial(t, rm.r, "/room", nil)
		require.NoError(t, a.SendText(`{"action":"held"}`))
		assert.Empty(t, received(t, b), "b's Flush does not wait for a's handler")
		assert.ErrorIs(t, b.Settle(cancelled(t)), context.Canceled, "a's handler still runs")
		close(rm.release)
		require.NoError(t, b.Settle(t.Context()))
		assert.Equal(t, []string{event(`{"from":"` + a.Channel().ID() + `"}`)}, received(t, b))
	})
	t.Run("after the channel closed", func(t *testing.T) {
		t.Parallel()
		rm := newRoom(t)
		a := wsroutetest.MustDial(t, rm.r, "/room", nil)
		b := wsroutetest.MustDial(t, rm.r, "/room", nil)
		a.Drop()
		assert.NoError(t, a.Settle(t.Context()))
		assert.Equal(t, []string{event(`{"left":"` + a.Channel().ID() + `"}`)}, received(t, b))
	})
	t.Run("nothing to wait for", func(t *testing.T) {
		t.Parallel()
		rm := newRoom(t)
		c := wsroutetest.MustDial(t, rm.r, "/room", nil)
		assert.NoError(t, c.Settle(t.Context()))
		assert.Empty(t, received(t, c))
	})
}

func self(a, _ *wsroutetest.Conn) *wsroutetest.Conn  { return a }
func other(_, b *wsroutetest.Conn) *wsroutetest.Conn { return b }

// One Settle, on any Conn, covers every channel: each of four channels
// tells the next one and announces to the others, and afterwards every
// Conn has received all of it.
func TestSettleEveryChannel(t *testing.T) {
	t.Parallel()
	rm := newRoom(t)
	conns := make([]*wsroutetest.Conn, 4)
	for i := range conns {
		conns[i] = wsroutetest.MustDial(t, rm.r, "/room", nil)
	}
	for i, c := range conns {
		next := conns[(i+1)%len(conns)]
		require.NoError(t, c.Send(map[string]string{"action": "tell", "to": next.Channel().ID(), "text": fmt.Sprint(i)}))
		require.NoError(t, c.SendText(`{"action":"announce"}`))
	}
	require.NoError(t, conns[0].Settle(t.Context()))
	for i, c := range conns {
		got := received(t, c)
		prev := conns[(i+len(conns)-1)%len(conns)]
		assert.Contains(t, got, `{"from":"`+prev.Channel().ID()+`","text":"`+fmt.Sprint((i+len(conns)-1)%len(conns))+`"}`, "conn %d", i)
		assert.Contains(t, got, `{"action":"tell"}`, "conn %d", i)
		assert.Contains(t, got, `{"action":"announce"}`, "conn %d", i)
		assert.Len(t, got, 2+1+len(conns)-1, "conn %d: its two acks, one tell and the others' announcements: %s", i, got)
	}
}
