package wsroute_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// Keys match a typed input's fields exactly, with a schema or without, and
// StrictFields refuses unknown keys.
func TestInputKeysMatchExactly(t *testing.T) {
	t.Parallel()
	type inner struct {
		Name string `json:"name"`
	}
	type in struct {
		Text  string  `json:"text"`
		Items []inner `json:"items"`
		Tags  map[string]inner
	}
	echo := func(_ context.Context, _ *wsroute.Channel, v in) (in, error) { return v, nil }
	r := newRouter(t, wsroute.Options{})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(ch, "plain", echo, public)
	strict := public
	strict.StrictFields = true
	wsroute.Handle(ch, "strict", echo, strict)
	withSchema := public
	withSchema.Schema = wsroute.SchemaString(`{"type":"object"}`)
	wsroute.Handle(ch, "schema", echo, withSchema)
	c := wsroutetest.MustDial(t, r, "/c", nil)

	tests := []struct{ frame, want string }{
		{`{"action":"plain","text":"x"}`, `{"action":"plain","text":"x","items":null,"Tags":null}`},
		{`{"action":"plain","TEXT":"x"}`, `{"action":"plain","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/TEXT","message":"property 'TEXT' differs from 'text' only by case"}]}}`},
		{`{"action":"schema","Text":"x"}`, `{"action":"schema","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/Text","message":"property 'Text' differs from 'text' only by case"}]}}`},
		{`{"action":"plain","items":[{"name":"a"},{"NAME":"b"}]}`, `{"action":"plain","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/items/1/NAME","message":"property 'NAME' differs from 'name' only by case"}]}}`},
		{`{"action":"plain","Tags":{"k/1":{"Name":"b"}}}`, `{"action":"plain","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/Tags/k~11/Name","message":"property 'Name' differs from 'name' only by case"}]}}`},
		{`{"action":"plain","text":"x","extra":1}`, `{"action":"plain","text":"x","items":null,"Tags":null}`},
		{`{"action":"strict","text":"x","extra":1}`, `{"action":"strict","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/extra","message":"unknown property 'extra'"}]}}`},
		{`{"action":"strict","items":[{"name":"a","age":3}]}`, `{"action":"strict","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/items/0/age","message":"unknown property 'age'"}]}}`},
		{`{"action":"strict","ref":1,"text":"x"}`, `{"action":"strict","ref":1,"text":"x","items":null,"Tags":null}`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, one(t, c, tt.frame), tt.frame)
	}
}

func TestStrictFieldsNeedsATypedInput(t *testing.T) {
	t.Parallel()
	r := wsroute.New(wsroute.Options{})
	ch := r.Channel("/c", wsroute.ChannelConfig{})
	assert.PanicsWithValue(t, `wsroute: channel "/c" default handler: StrictFields needs a typed input (Handle)`, func() {
		wsroute.HandleDefault(ch, func(context.Context, *wsroute.Channel, *wsroute.Message) error { return nil }, wsroute.RouteConfig{StrictFields: true})
	})
}

// The default handler learns what the client asked for; one without a
// result replies nothing by itself.
func TestDefaultHandlerSeesTheRequestedRoute(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wsroute.HandleDefault(ch, func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
		return c.Send(ctx, map[string]string{"asked": m.Route()})
	}, wsroute.RouteConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	assert.Equal(t, []string{`{"asked":"nope"}`, `{"asked":""}`, `{"asked":""}`},
		exchange(t, c, `{"action":"nope"}`, `{"action":5}`, `not json`))
}
