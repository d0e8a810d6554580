package wsroute_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

func TestChannelLimitsOverride(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{Limits: wsroute.Limits{ReadLimit: 8 << 10}})
	r.Channel("/small", wsroute.ChannelConfig{Public: true, Limits: wsroute.Limits{ReadLimit: 1024}})
	r.Channel("/router", wsroute.ChannelConfig{Public: true})
	frame := `"` + strings.Repeat("a", 2000) + `"`
	small := wsroutetest.MustDial(t, r, "/small", nil)
	require.NoError(t, small.SendText(frame))
	assert.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(small.Wait(t.Context())), "the channel's limit")
	other := wsroutetest.MustDial(t, r, "/router", nil)
	assert.Len(t, exchange(t, other, frame), 1, "the Router's limit: answered (not_found)")
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newRouter(t, wsroute.Options{Limits: wsroute.Limits{HandshakeTimeout: 2 * time.Second}})
		r.Channel("/slow", wsroute.ChannelConfig{Authenticator: wsroute.AuthenticatorFunc(func(ctx context.Context, _ *wsroute.Channel) error {
			<-ctx.Done() // a directory lookup that hangs
			return ctx.Err()
		})})
		start := time.Now()
		_, err := wsroutetest.Dial(t.Context(), r, "/slow", nil)
		var he *wsroutetest.HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 503, he.StatusCode)
		assert.Equal(t, "opening timed out", he.Message)
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}

func TestFirstMessageTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newRouter(t, wsroute.Options{Limits: wsroute.Limits{FirstMessageTimeout: 5 * time.Second}})
		r.Channel("/c", wsroute.ChannelConfig{Public: true})
		silent := wsroutetest.MustDial(t, r, "/c", nil)
		talker := wsroutetest.MustDial(t, r, "/c", nil)
		time.Sleep(4 * time.Second)
		exchange(t, talker, `{"action":"hello"}`)
		err := silent.Wait(t.Context())
		assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, 1, r.Len(), "a client that spoke in time stays")
	})
}

func TestMaxTopics(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{Limits: wsroute.Limits{MaxTopics: 2}})
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	ch := wsroutetest.MustDial(t, r, "/c", nil).Channel()
	require.NoError(t, ch.Subscribe("a"))
	require.NoError(t, ch.Subscribe("b"))
	require.NoError(t, ch.Subscribe("a"), "already subscribed: not a new topic")
	assert.ErrorIs(t, ch.Subscribe("c"), wsroute.ErrTooManyTopics)
	ch.Unsubscribe("a")
	assert.NoError(t, ch.Subscribe("c"))
}
