package wsroute

import (
	"context"
	"errors"
	"strconv"
)

// A Permission decides whether a channel may open (on a ChannelConfig) or a
// message may reach its handler (on a RouteConfig). It runs after auth and
// before validation, so it sees the context, the channel, the session (read
// it with SessionAs) and the message's raw input, not yet validated.
//
// It returns nil to allow. To refuse it returns an error: an *Error is sent
// as it is ("only the room owner may kick"), with its code deciding the
// HTTP status at open; any other error refuses with a plain forbidden
// ("permission denied"), its text logged at debug level, never sent.
// Permissions fail closed: one that must consult a store and cannot should
// return that error.
//
// Checks that need the typed, validated input ("only the owner may complete
// this todo") belong in the handler, which returns a forbidden or not_found
// *Error itself.
type Permission func(ctx context.Context, c *Channel, m *Message) error

// AllOf returns a Permission that allows only when every p allows. It stops
// at the first refusal and returns it. AllOf() allows.
func AllOf(ps ...Permission) Permission {
	ps = checkPermissions("AllOf", ps)
	return func(ctx context.Context, c *Channel, m *Message) error {
		for _, p := range ps {
			if err := p(ctx, c, m); err != nil {
				return err
			}
		}
		return nil
	}
}

// AnyOf returns a Permission that allows when at least one p allows. It
// stops at the first that allows; when all refuse it returns the first
// refusal. AnyOf() refuses.
func AnyOf(ps ...Permission) Permission {
	ps = checkPermissions("AnyOf", ps)
	return func(ctx context.Context, c *Channel, m *Message) error {
		var first error
		for _, p := range ps {
			err := p(ctx, c, m)
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		if first == nil {
			return errForbidden
		}
		return first
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

// permissionStage runs p: nil allows; an *Error is the refusal as it is;
// any other error is a plain forbidden, logged at debug level.
func permissionStage(ctx context.Context, c *Channel, m *Message, p Permission) error {
	if p == nil {
		return nil
	}
	err := p(ctx, c, m)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	c.router.log.DebugContext(ctx, "wsroute: permission refused", "channel", c.route.name, "id", c.id, "err", err)
	return errForbidden
}
