package wsroute

import (
	"context"
	"strconv"
)

// A Permission decides whether a channel may open (on a ChannelConfig) or a
// message may reach its handler (on a RouteConfig). It runs after auth and
// before validation, so it sees the context, the channel, the session (read it
// with SessionAs) and the message's raw input, not yet validated. Returning
// false refuses with CodeForbidden (HTTP 403 at open, an error frame for a
// message).
//
// Checks that need the typed, validated input ("only the owner may complete
// this todo") belong in the handler, which returns a forbidden or not_found
// *Error itself. A Permission that must consult a store and fails should
// return false: permissions fail closed.
type Permission func(ctx context.Context, c *Channel, m *Message) bool

// AllOf returns a Permission that allows only when every p allows. It stops at
// the first refusal. AllOf() allows.
func AllOf(ps ...Permission) Permission {
	ps = checkPermissions("AllOf", ps)
	return func(ctx context.Context, c *Channel, m *Message) bool {
		for _, p := range ps {
			if !p(ctx, c, m) {
				return false
			}
		}
		return true
	}
}

// AnyOf returns a Permission that allows when at least one p allows. It stops
// at the first that allows. AnyOf() refuses.
func AnyOf(ps ...Permission) Permission {
	ps = checkPermissions("AnyOf", ps)
	return func(ctx context.Context, c *Channel, m *Message) bool {
		for _, p := range ps {
			if p(ctx, c, m) {
				return true
			}
		}
		return false
	}
}

func checkPermissions(fn string, ps []Permission) []Permission {
	for i, p := range ps {
		if p == nil {
			panic("wsroute: " + fn + ": permission " + strconv.Itoa(i) + " is nil")
		}
	}
	return append([]Permission(nil), ps...)
}

// permissionStage refuses with forbidden unless p allows.
func permissionStage(ctx context.Context, c *Channel, m *Message, p Permission) error {
	if p != nil && !p(ctx, c, m) {
		return errForbidden
	}
	return nil
}
