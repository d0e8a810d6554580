package wsroute_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

func TestPermissionCombinators(t *testing.T) {
	t.Parallel()
	yes := func(context.Context, *wsroute.Channel, *wsroute.Message) error { return nil }
	no := func(context.Context, *wsroute.Channel, *wsroute.Message) error { return errors.New("no") }
	tests := []struct {
		name string
		p    wsroute.Permission
		want bool
	}{
		{"AllOf()", wsroute.AllOf(), true},
		{"AllOf(yes, yes)", wsroute.AllOf(yes, yes), true},
		{"AllOf(yes, no)", wsroute.AllOf(yes, no), false},
		{"AnyOf()", wsroute.AnyOf(), false},
		{"AnyOf(no, yes)", wsroute.AnyOf(no, yes), true},
		{"AnyOf(no, no)", wsroute.AnyOf(no, no), false},
		{"nested", wsroute.AllOf(yes, wsroute.AnyOf(no, yes)), true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.p(context.Background(), nil, nil) == nil, tt.name)
	}
}

// The message stages run in the seed's order — auth, permissions, schema — so
// an unauthenticated client learns nothing about permissions or schemas, and
// permissions see the raw input before validation.
func TestMessageStageOrder(t *testing.T) {
	t.Parallel()
	var seen []string
	r := newRouter(t, wsroute.Options{Authenticator: tokenAuth})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	ownerOnly := func(_ context.Context, c *wsroute.Channel, m *wsroute.Message) error {
		var in struct {
			Owner any `json:"owner"`
		}
		_ = json.Unmarshal(m.Input(), &in)
		seen = append(seen, string(m.Input()))
		if u, _ := wsroute.SessionAs[user](c); in.Owner != u.ID {
			return errors.New("not the owner") // a plain error: the client sees "permission denied"
		}
		return nil
	}
	wsroute.Handle(ch, "edit", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
		return in, nil
	}, wsroute.RouteConfig{
		Permissions: ownerOnly,
		Schema:      wsroute.SchemaString(`{"type":"object","properties":{"owner":{"type":"string"},"n":{"type":"integer"}},"required":["owner","n"]}`),
	})
	anon := wsroutetest.MustDial(t, r, "/c", nil)
	alice := wsroutetest.MustDial(t, r, "/c?token=alice-token", nil)
	bad := `{"action":"edit","owner":"alice","n":"x"}`
	assert.Equal(t, `{"action":"edit","error":{"code":"unauthenticated","message":"authentication required"}}`, one(t, anon, bad))
	assert.Empty(t, seen, "permissions do not run for unauthenticated messages")
	assert.Equal(t, `{"action":"edit","error":{"code":"forbidden","message":"permission denied"}}`, one(t, alice, `{"action":"edit","owner":"bob","n":"x"}`))
	assert.Equal(t, `{"action":"edit","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/n","message":"got string, want integer"}]}}`, one(t, alice, bad))
	assert.Equal(t, `{"action":"edit","ref":1,"n":1,"owner":"alice"}`, one(t, alice, `{"action":"edit","ref":1,"owner":"alice","n":1}`))
	assert.Equal(t, []string{`{"owner":"bob","n":"x"}`, `{"owner":"alice","n":"x"}`, `{"owner":"alice","n":1}`}, seen,
		"permissions see the raw input without the route key and ref")
}
