package wsroute

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// An Authenticator establishes a channel's session while it opens, from what
// the opening HTTP request carried (Channel.Header, Channel.Query,
// Channel.Cookie). It runs in the open lifecycle's auth stage, after
// middleware and before permissions, and sets the session with
// Channel.SetSession.
//
// Returning an error means "no session from this request": the error is
// logged at debug level and the channel's policy decides (a channel that
// requires a session to open answers 401). To refuse the opening outright
// with another answer, return an *Error with CodeForbidden (403) or
// CodeUnavailable (503).
type Authenticator interface {
	Authenticate(ctx context.Context, c *Channel) error
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(ctx context.Context, c *Channel) error

// Authenticate calls f(ctx, c).
func (f AuthenticatorFunc) Authenticate(ctx context.Context, c *Channel) error { return f(ctx, c) }

// TokenAuth is an Authenticator for bearer tokens. It looks for a token in the
// opening request — the Authorization: Bearer header first, then the query
// parameter, then the cookie — and passes the first one found to Check, which
// validates it and sets the session. Without a token Check is not called and
// the channel has no session.
//
// Browsers cannot set headers on a WebSocket, so they use the query parameter
// or a cookie; prefer short-lived tokens there, since URLs end up in logs.
type TokenAuth struct {
	// Check validates token and sets the session (c.SetSession). Required.
	Check func(ctx context.Context, c *Channel, token string) error
	// QueryParam names the query parameter holding a token. Default "token";
	// "-" disables query tokens.
	QueryParam string
	// Cookie names a cookie holding a token. Default "": cookies are not read.
	Cookie string
}

// Authenticate implements Authenticator.
func (a TokenAuth) Authenticate(ctx context.Context, c *Channel) error {
	token := a.token(c)
	if token == "" {
		return nil
	}
	return a.Check(ctx, c, token)
}

func (a TokenAuth) token(c *Channel) string {
	if t, ok := BearerToken(c.Header()); ok {
		return t
	}
	q := a.QueryParam
	if q == "" {
		q = "token"
	}
	if q != "-" {
		if t := c.Query().Get(q); t != "" {
			return t
		}
	}
	if a.Cookie != "" {
		if ck, err := c.Cookie(a.Cookie); err == nil && ck.Value != "" {
			return ck.Value
		}
	}
	return ""
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
// The scheme is matched case-insensitively (RFC 9110).
func BearerToken(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	const prefix = "bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(v[len(prefix):])
	return t, t != ""
}

// checkAuthenticator panics at registration when a is a TokenAuth without
// its Check: every opening would otherwise fail at run time.
func checkAuthenticator(where string, a Authenticator) {
	switch t := a.(type) {
	case TokenAuth:
		if t.Check == nil {
			panic(fmt.Sprintf("wsroute: channel %q: TokenAuth has a nil Check", where))
		}
	case *TokenAuth:
		if t == nil || t.Check == nil {
			panic(fmt.Sprintf("wsroute: channel %q: TokenAuth has a nil Check", where))
		}
	}
}

// authStage is the auth stage of both lifecycles: run the authenticator (open
// only), then enforce the policy: unless public, a session is required.
func authStage(ctx context.Context, c *Channel, a Authenticator, public bool) error {
	if a != nil {
		if err := a.Authenticate(ctx, c); err != nil {
			if e := toError(err); e.Code == CodeForbidden || e.Code == CodeUnavailable {
				return e
			}
			c.router.log.DebugContext(ctx, "wsroute: authentication failed",
				"channel", c.route.name, "id", c.id, "err", err)
		}
	}
	if !public && !c.HasSession() {
		return errUnauthenticated
	}
	return nil
}
