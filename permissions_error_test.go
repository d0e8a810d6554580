package wsroute_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// A permission says why it refuses with an *Error, sent as is; any other
// error is a plain forbidden whose text stays on the server.
func TestPermissionErrors(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	r := newRouter(t, wsroute.Options{Authenticator: tokenAuth, Logger: logs.logger()})
	ownerOnly := func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
		if u, _ := wsroute.SessionAs[user](c); u.ID != "alice" {
			return wsroute.NewError(wsroute.CodeForbidden, "only the room owner may kick")
		}
		return nil
	}
	storeDown := func(context.Context, *wsroute.Channel, *wsroute.Message) error {
		return errors.New("acl store: connection refused to 10.1.2.3")
	}
	ch := r.Channel("/c", wsroute.ChannelConfig{})
	wsroute.Handle(ch, "kick", noop[struct{}, *struct{}], wsroute.RouteConfig{Permissions: ownerOnly})
	wsroute.Handle(ch, "read", noop[struct{}, *struct{}], wsroute.RouteConfig{Permissions: storeDown})
	wsroute.Handle(ch, "either", noop[struct{}, *struct{}], wsroute.RouteConfig{Permissions: wsroute.AnyOf(storeDown, ownerOnly)})
	bob := wsroutetest.MustDial(t, r, "/c?token=bob-token", nil)
	alice := wsroutetest.MustDial(t, r, "/c?token=alice-token", nil)

	assert.Equal(t, `{"action":"kick","error":{"code":"forbidden","message":"only the room owner may kick"}}`, one(t, bob, `{"action":"kick"}`))
	assert.Equal(t, `{"action":"kick"}`, one(t, alice, `{"action":"kick"}`))
	got := one(t, bob, `{"action":"read"}`)
	assert.Equal(t, `{"action":"read","error":{"code":"forbidden","message":"permission denied"}}`, got)
	assert.NotContains(t, got, "10.1.2.3")
	assert.Contains(t, logs.String(), "acl store: connection refused", "the plain error is logged")
	assert.Equal(t, `{"action":"either","error":{"code":"forbidden","message":"permission denied"}}`, one(t, bob, `{"action":"either"}`),
		"AnyOf returns the first refusal")
	assert.Equal(t, `{"action":"either"}`, one(t, alice, `{"action":"either"}`))
}

// At open, a permission's *Error picks the HTTP status by its code.
func TestPermissionErrorsAtOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
	}{
		{"plain error", errors.New("secret reason"), 403, wsroute.CodeForbidden, "permission denied"},
		{"forbidden with a reason", wsroute.NewError(wsroute.CodeForbidden, "room is full"), 403, wsroute.CodeForbidden, "room is full"},
		{"not found", wsroute.NewError(wsroute.CodeNotFound, "no such room"), 404, wsroute.CodeNotFound, "no such room"},
		{"rate limited", &wsroute.Error{Code: wsroute.CodeRateLimited, Message: "slow down", RetryAfter: 1500 * 1e6}, 429, wsroute.CodeRateLimited, "slow down"},
		{"application code", wsroute.NewError("room_closed", "the room is closed"), 400, "room_closed", "the room is closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRouter(t, wsroute.Options{})
			r.Channel("/c", wsroute.ChannelConfig{Public: true, Permissions: func(context.Context, *wsroute.Channel, *wsroute.Message) error {
				return tt.err
			}})
			_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
			var he *wsroutetest.HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tt.status, he.StatusCode)
			assert.Equal(t, tt.code, he.Code)
			assert.Equal(t, tt.message, he.Message)
			if tt.status == 429 {
				assert.Equal(t, "2", he.Header.Get("Retry-After"), "rounded up to whole seconds")
			}
		})
	}
}
