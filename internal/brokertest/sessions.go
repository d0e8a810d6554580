package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// kickAcrossNodes: a user logged in on two nodes is reached on both and
// kicked from both by one CloseChannelsOf, through the engine.
func (s *suite[B]) kickAcrossNodes(t *testing.T) {
	t.Parallel()
	routers := make([]*wsroute.Router, 2)
	pf := prefix(t)
	for i := range routers {
		b := s.cfg.New(t, Options{Prefix: pf})
		r := wsroute.New(wsroute.Options{
			Broker:     b,
			SessionKey: func(v any) string { id, _ := v.(string); return id },
			Authenticator: wsroute.AuthenticatorFunc(func(_ context.Context, c *wsroute.Channel) error {
				c.SetSession(c.Query().Get("user"))
				return nil
			}),
		})
		r.Channel("/c", wsroute.ChannelConfig{})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, r.Shutdown(ctx))
		})
		s.connected(t, b)
		routers[i] = r
	}
	one := wsroutetest.MustDial(t, routers[0], "/c?user=alice", nil)
	two := wsroutetest.MustDial(t, routers[1], "/c?user=alice", nil)
	bob := wsroutetest.MustDial(t, routers[1], "/c?user=bob", nil)

	// The nodes subscribe to the control topic in the background: retry the
	// notice until the other node has it, then kick.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, err := routers[0].SendToChannelsOf(ctx, "alice", "notice")
		require.NoError(t, err)
		rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		got, err := two.Read(rctx)
		rcancel()
		if err == nil {
			assert.Equal(t, `"notice"`, string(got))
			break
		}
		require.NoError(t, ctx.Err(), "the other node never got the notice")
	}
	n, err := routers[0].CloseChannelsOf(ctx, "alice", wsroute.StatusPolicyViolation, "credentials changed")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "closed on this node")
	for _, c := range []*wsroutetest.Conn{one, two} {
		assert.Equal(t, wsroute.StatusPolicyViolation, wsroute.CloseStatus(c.Wait(ctx)))
	}
	assert.Len(t, routers[1].ChannelsOf("bob"), 1, "bob is untouched")
	_ = bob
}
