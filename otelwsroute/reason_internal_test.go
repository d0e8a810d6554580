package otelwsroute

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

func TestCloseReason(t *testing.T) {
	for in, want := range map[string]string{
		wsroute.ReasonSlowConsumer:            wsroute.ReasonSlowConsumer,
		wsroute.ReasonShutdown:                wsroute.ReasonShutdown,
		wsroute.ReasonRefused + ": forbidden": wsroute.ReasonRefused,
		wsroute.ReasonRefused:                 wsroute.ReasonRefused,
		"message too big":                     "message too big",
		"":                                    "none",
		"bye, see you tomorrow":               "other",
		wsroute.ReasonRefused + "x":           "other",
	} {
		assert.Equal(t, want, closeReason(in), in)
	}
}

// TestNoStateLeft: the per-channel state lives from StartOpen to the end
// callback, whatever the end: closed, refused, closed while opening.
func TestNoStateLeft(t *testing.T) {
	o, err := newObserver(Config{})
	require.NoError(t, err)
	r := wsroute.New(wsroute.Options{Observer: o.hooks()})
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	r.Channel("/private", wsroute.ChannelConfig{})
	r.Channel("/kick", wsroute.ChannelConfig{Public: true, Middleware: []wsroute.Middleware{
		func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				c.Close(4000, "go away")
				return next.Handle(ctx, c, m)
			})
		},
	}})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, c.Close(1000, ""))
	_, err = wsroutetest.Dial(t.Context(), r, "/private", nil)
	require.Error(t, err)
	k := wsroutetest.MustDial(t, r, "/kick", nil)
	require.Error(t, k.Wait(t.Context()))
	// The last one ends on its own goroutine, when the channel's context ends.
	left := func() int {
		n := 0
		o.conns.Range(func(any, any) bool { n++; return true })
		return n
	}
	assert.Eventually(t, func() bool { return left() == 0 }, 10*time.Second, time.Millisecond)
}
