package wsroute_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// userKey is the tests' Options.SessionKey.
func userKey(s any) string {
	if u, ok := s.(user); ok {
		return u.ID
	}
	return ""
}

// keyedRouter is a Router with the session-key index, on broker b, with a
// channel "/c" that logs in at open by token and has "login" and "logout"
// routes, "fail-login" (logs in, then fails) and "sub".
func keyedRouter(t *testing.T, b wsroute.Broker) *wsroute.Router {
	t.Helper()
	r := newRouter(t, wsroute.Options{Authenticator: tokenAuth, SessionKey: userKey, Broker: b})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	type loginIn struct {
		ID string `json:"id"`
	}
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(ch, "login", func(_ context.Context, c *wsroute.Channel, in loginIn) (*struct{}, error) {
		c.SetSession(user(in))
		return nil, nil
	}, public)
	wsroute.Handle(ch, "fail-login", func(_ context.Context, c *wsroute.Channel, in loginIn) (*struct{}, error) {
		c.SetSession(user(in))
		return nil, wsroute.NewError("nope", "log-in failed after all")
	}, public)
	wsroute.Handle(ch, "logout", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		c.ClearSession()
		return nil, nil
	}, public)
	return r
}

func ids(cs []*wsroute.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID()
	}
	slices.Sort(out)
	return out
}

func TestChannelsOfFollowsSessions(t *testing.T) {
	t.Parallel()
	r := keyedRouter(t, nil)
	a1 := wsroutetest.MustDial(t, r, "/c?token=alice-token", nil)
	a2 := wsroutetest.MustDial(t, r, "/c?token=alice-token", nil)
	anon := wsroutetest.MustDial(t, r, "/c", nil)
	want := []string{a1.Channel().ID(), a2.Channel().ID()}
	slices.Sort(want)
	assert.Equal(t, want, ids(r.ChannelsOf("alice")), "indexed by the session set at open")
	assert.Empty(t, r.ChannelsOf(""), "no session, no key")

	exchange(t, anon, `{"action":"login","id":"bob"}`)
	assert.Equal(t, []string{anon.Channel().ID()}, ids(r.ChannelsOf("bob")), "a log-in by message")
	exchange(t, anon, `{"action":"fail-login","id":"carol"}`)
	assert.Empty(t, r.ChannelsOf("carol"), "a failed log-in is undone in the index too")
	assert.Equal(t, []string{anon.Channel().ID()}, ids(r.ChannelsOf("bob")))
	exchange(t, anon, `{"action":"logout"}`)
	assert.Empty(t, r.ChannelsOf("bob"), "log-out")

	a1.Drop()
	assert.Equal(t, []string{a2.Channel().ID()}, ids(r.ChannelsOf("alice")), "a closed channel leaves the index")
}

// A user on two nodes is reached, and kicked, on both.
func TestCloseAndSendAcrossNodes(t *testing.T) {
	t.Parallel()
	b := wsroute.NewMemoryBroker()
	first, second := keyedRouter(t, b), keyedRouter(t, b)
	aliceOne := wsroutetest.MustDial(t, first, "/c?token=alice-token", nil)
	aliceTwo := wsroutetest.MustDial(t, second, "/c?token=alice-token", nil)
	bobTwo := wsroutetest.MustDial(t, second, "/c?token=bob-token", nil)

	n, err := first.SendToChannelsOf(t.Context(), "alice", map[string]string{"note": "hi"})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "queued on this node")
	for _, c := range []*wsroutetest.Conn{aliceOne, aliceTwo} {
		got, err := c.Received(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{`{"note":"hi"}`}, strs(got))
	}
	got, err := bobTwo.Received(t.Context())
	require.NoError(t, err)
	assert.Empty(t, got)

	n, err = first.CloseChannelsOf(t.Context(), "alice", wsroute.StatusPolicyViolation, "credentials changed")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	for _, c := range []*wsroutetest.Conn{aliceOne, aliceTwo} {
		err := c.Wait(t.Context())
		assert.Equal(t, wsroute.StatusPolicyViolation, wsroute.CloseStatus(err), "%v", err)
	}
	assert.Equal(t, `{"action":"login"}`, one(t, bobTwo, `{"action":"login","id":"bob"}`), "bob is untouched")
}

func TestReservedTopics(t *testing.T) {
	t.Parallel()
	r := keyedRouter(t, nil)
	c := wsroutetest.MustDial(t, r, "/c", nil)
	assert.ErrorContains(t, c.Channel().Subscribe("$wsroute/sessions"), "reserved")
	assert.ErrorContains(t, r.Publish(t.Context(), "$wsroute/sessions", 1, wsroute.PublishOptions{}), "reserved")
}

func TestSubscribers(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{})
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	a := wsroutetest.MustDial(t, r, "/c", nil)
	b := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, a.Channel().Subscribe("room"))
	require.NoError(t, b.Channel().Subscribe("room"))
	want := []string{a.Channel().ID(), b.Channel().ID()}
	slices.Sort(want)
	assert.Equal(t, want, ids(r.Subscribers("room")))
	b.Drop()
	assert.Equal(t, []string{a.Channel().ID()}, ids(r.Subscribers("room")))
	assert.Empty(t, r.Subscribers("none"))
}
