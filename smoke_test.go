package wsroute_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type createIn struct {
	Title string `json:"title"`
}
type createOut struct {
	Title string `json:"title"`
}

func TestSmoke(t *testing.T) {
	r := wsroute.New(wsroute.Options{})
	ch := r.Route("/todos", wsroute.ChannelConfig{Public: true,
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			return c.Send(ctx, map[string]any{"connected": true})
		}})
	wsroute.Handle(ch, "create", func(ctx context.Context, c *wsroute.Channel, in createIn) (createOut, error) {
		return createOut{Title: in.Title}, nil
	}, wsroute.RouteConfig{Public: true, Schema: wsroute.SchemaString(`{"type":"object","properties":{"title":{"type":"string","maxLength":3}},"required":["title"],"additionalProperties":false}`)})
	c := wsroutetest.MustDial(t, r, "/todos", nil)
	require.NoError(t, c.SendText(`{"action":"create","ref":7,"title":"abc"}`))
	require.NoError(t, c.SendText(`{"action":"create","ref":"x","title":"abcd"}`))
	require.NoError(t, c.SendText(`{"action":"nope"}`))
	require.NoError(t, c.SendText(`not json`))
	fs, err := c.Received(t.Context())
	require.NoError(t, err)
	for _, f := range fs {
		t.Log(string(f))
	}
	start := time.Now(); require.NoError(t, r.Shutdown(t.Context())); t.Log("shutdown", time.Since(start))
}
