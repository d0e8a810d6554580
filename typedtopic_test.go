package wsroute_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type chatEvent struct {
	From string `json:"from"`
	Text string `json:"text"`
}

func TestTypedTopics(t *testing.T) {
	t.Parallel()
	r := wsroute.New(wsroute.Options{})
	news := wsroute.NewTopic[string](r, "news", wsroute.TopicConfig{Summary: "Headlines"})
	rooms := wsroute.NewTopic[chatEvent](r, "rooms/{room}/{thread}")
	r.Channel("/c/{room}", wsroute.ChannelConfig{Public: true, OnConnect: func(_ context.Context, c *wsroute.Channel) error {
		if err := news.Subscribe(c); err != nil {
			return err
		}
		return rooms.At(c.PathValue("room"), "main").Subscribe(c)
	}})
	lobby := wsroutetest.MustDial(t, r, "/c/lobby", nil)
	hall := wsroutetest.MustDial(t, r, "/c/hall", nil)
	ctx := t.Context()

	require.NoError(t, news.Publish(ctx, "extra"))
	require.NoError(t, rooms.At("lobby", "main").Publish(ctx, chatEvent{From: "ann", Text: "hi"}))
	for _, c := range []*wsroutetest.Conn{lobby, hall} {
		got, err := c.ReadEvent(ctx, "news")
		require.NoError(t, err)
		assert.JSONEq(t, `"extra"`, string(got))
	}
	got, err := lobby.ReadEvent(ctx, "rooms/lobby/main")
	require.NoError(t, err)
	assert.JSONEq(t, `{"from":"ann","text":"hi"}`, string(got))
	frames, err := hall.Received(ctx)
	require.NoError(t, err)
	assert.Empty(t, frames, "another room's event")

	assert.Equal(t, "rooms/lobby/main", rooms.At("lobby", "main").Name())
	for _, bad := range [][]string{{"lobby"}, {"lobby", "main", "x"}, {"", "main"}, {"a/b", "main"}} {
		b := rooms.At(bad...)
		require.Error(t, b.Err(), "%q", bad)
		assert.Equal(t, b.Err(), b.Publish(ctx, chatEvent{}), "%q", bad)
		assert.Equal(t, b.Err(), b.Subscribe(lobby.Channel()), "%q", bad)
	}

	var infos []wsroute.TopicInfo
	require.NoError(t, r.WalkTopics(func(ti wsroute.TopicInfo) error { infos = append(infos, ti); return nil }))
	require.Len(t, infos, 2)
	assert.Equal(t, wsroute.TopicInfo{Pattern: "news", Summary: "Headlines", Payload: reflect.TypeFor[string]()}, infos[0])
	assert.Equal(t, "rooms/{room}/{thread}", infos[1].Pattern)
	assert.Equal(t, []string{"room", "thread"}, infos[1].Params)
	assert.Equal(t, reflect.TypeFor[chatEvent](), infos[1].Payload)
	stop := errors.New("stop")
	assert.Equal(t, stop, r.WalkTopics(func(wsroute.TopicInfo) error { return stop }))
}

func TestNewTopicRefusals(t *testing.T) {
	t.Parallel()
	r := wsroute.New(wsroute.Options{})
	wsroute.NewTopic[int](r, "taken")
	for _, p := range []string{"", "$wsroute/x", "rooms/{", "rooms/}", "a/{b}c", "a/{}", "{x}/{x}", "taken"} {
		assert.Panics(t, func() { wsroute.NewTopic[int](r, p) }, "%q", p)
	}
	assert.Panics(t, func() { wsroute.NewTopic[int](r, "two", wsroute.TopicConfig{}, wsroute.TopicConfig{}) })
}
