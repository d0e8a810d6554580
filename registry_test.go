package wsroute_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

func TestWalkRegistry(t *testing.T) {
	t.Parallel()
	r := wsroute.New(wsroute.Options{})
	auth := wsroute.TokenAuth{Check: func(_ context.Context, c *wsroute.Channel, token string) error {
		c.SetSession(token)
		return nil
	}}
	allow := func(context.Context, *wsroute.Channel, *wsroute.Message) error { return nil }

	rooms := r.Channel("/rooms/{room}/{rest...}", wsroute.ChannelConfig{
		Name: "rooms", Summary: "Chat rooms", Description: "One channel per room.",
		RouteKey: "op", RefKey: "id", Authenticator: auth, Permissions: allow,
	})
	titleSchema := `{"type":"object","properties":{"title":{"type":"string"}}}`
	wsroute.Handle(rooms, "say", func(context.Context, *wsroute.Channel, titleIn) (titleOut, error) { return titleOut{}, nil },
		wsroute.RouteConfig{Summary: "Say something", Description: "To the room.", Schema: wsroute.SchemaString(titleSchema),
			Permissions: allow, Cost: 2, RateLimit: wsroute.RouteRateLimit{Rate: 1, Burst: 3}, StrictFields: true})
	wsroute.Handle(rooms, "history", func(context.Context, *wsroute.Channel, struct{}) ([]string, error) { return nil, nil },
		wsroute.RouteConfig{Public: true, Schema: wsroute.SchemaFS(fstest.MapFS{"h.json": {Data: []byte(`{"type":"object"}`)}}, "h.json")})
	wsroute.Handle(rooms, "alpha", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) { return nil, nil })
	wsroute.HandleDefaultReply(rooms, func(context.Context, *wsroute.Channel, *wsroute.Message) (map[string]int, error) { return nil, nil })
	lobby := r.Channel("/lobby", wsroute.ChannelConfig{Public: true})
	wsroute.HandleBinary(lobby, func(context.Context, *wsroute.Channel, *wsroute.Message) ([]byte, error) { return nil, nil },
		wsroute.RouteConfig{Public: true})

	var got []wsroute.ChannelInfo
	require.NoError(t, r.Walk(func(ci wsroute.ChannelInfo) error { got = append(got, ci); return nil }))
	require.Len(t, got, 2, "every channel, in registration order")

	c := got[0]
	assert.Equal(t, "rooms", c.Name)
	assert.Equal(t, "/rooms/{room}/{rest...}", c.Pattern)
	assert.Equal(t, []string{"room", "rest"}, c.Params)
	assert.Equal(t, "Chat rooms", c.Summary)
	assert.Equal(t, "One channel per room.", c.Description)
	assert.Equal(t, "op", c.RouteKey)
	assert.Equal(t, "id", c.RefKey)
	assert.False(t, c.Public)
	assert.True(t, c.Permissions)
	assert.IsType(t, auth, c.Authenticator)

	names := []string{}
	for _, rt := range c.Routes {
		names = append(names, rt.Name)
	}
	assert.Equal(t, []string{"say", "history", "alpha"}, names, "registration order, not alphabetical")
	say := c.Routes[0]
	assert.Equal(t, "Say something", say.Summary)
	assert.Equal(t, "To the room.", say.Description)
	assert.False(t, say.Public)
	assert.True(t, say.Permissions)
	assert.Equal(t, 2, say.Cost)
	assert.Equal(t, wsroute.RouteRateLimit{Rate: 1, Burst: 3}, say.RateLimit)
	assert.True(t, say.StrictFields)
	assert.Equal(t, reflect.TypeFor[titleIn](), say.Input)
	assert.Equal(t, reflect.TypeFor[titleOut](), say.Output)
	src, err := say.Schema.Source()
	require.NoError(t, err)
	assert.JSONEq(t, titleSchema, string(src))

	history := c.Routes[1]
	assert.True(t, history.Public)
	assert.False(t, history.Permissions)
	assert.Equal(t, 1, history.Cost, "the default cost")
	assert.Equal(t, reflect.TypeFor[[]string](), history.Output)
	src, err = history.Schema.Source()
	require.NoError(t, err)
	assert.Equal(t, `{"type":"object"}`, string(src), "read from the fs.FS")
	assert.Nil(t, c.Routes[2].Schema)

	require.NotNil(t, c.Default)
	assert.Nil(t, c.Default.Input, "the default handler takes the Message")
	assert.Equal(t, reflect.TypeFor[map[string]int](), c.Default.Output)
	assert.Nil(t, c.Binary)

	l := got[1]
	assert.Equal(t, "/lobby", l.Name, "the pattern names an unnamed channel")
	assert.Empty(t, l.Params)
	assert.Equal(t, "action", l.RouteKey)
	assert.Equal(t, "ref", l.RefKey)
	assert.True(t, l.Public)
	assert.Nil(t, l.Authenticator)
	assert.Empty(t, l.Routes)
	assert.Nil(t, l.Default)
	require.NotNil(t, l.Binary)
	assert.True(t, l.Binary.Public)
	assert.Nil(t, l.Binary.Input)
	assert.Nil(t, l.Binary.Output)

	stop := errors.New("stop")
	visited := 0
	assert.Equal(t, stop, r.Walk(func(wsroute.ChannelInfo) error { visited++; return stop }))
	assert.Equal(t, 1, visited, "Walk stops at the first error")

	got[0].Routes[0].Name = "changed" // copies: the registry is unchanged
	require.NoError(t, r.Walk(func(ci wsroute.ChannelInfo) error {
		if ci.Name == "rooms" {
			assert.Equal(t, "say", ci.Routes[0].Name)
		}
		return nil
	}))
}
