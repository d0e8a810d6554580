//go:build linux

package main

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/wsroute/wsroute"
)

// echoSchema is the route's schema in routed-schema mode.
const echoSchema = `{"type":"object","properties":{"title":{"type":"string","maxLength":200}},"required":["title"],"additionalProperties":false}`

// user is the typed session the token authenticator sets.
type user struct {
	ID     string
	Banned bool
}

// echoIn is the echo route's input.
type echoIn struct {
	Title string `json:"title"`
}

// echoOut is the echo route's output; the library adds action and ref.
type echoOut struct {
	Title string `json:"title"`
}

// notBanned is the route's session-based permission.
func notBanned(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
	if u, ok := wsroute.SessionAs[user](c); !ok || u.Banned {
		return errBanned
	}
	return nil
}

var errBanned = wsroute.NewError(wsroute.CodeForbidden, "banned")

// checkToken accepts tokens "user-<id>" and sets the session.
func checkToken(_ context.Context, c *wsroute.Channel, token string) error {
	id, ok := strings.CutPrefix(token, "user-")
	if !ok || id == "" {
		return errors.New("unknown token")
	}
	c.SetSession(user{ID: id})
	return nil
}

// newRoutedServer returns wsroute's routed echo: a Router with the channel
// /echo, opened only with a valid ?token= (TokenAuth sets a typed session),
// and the route "echo" (session required, permission notBanned, typed
// decode, reply {"title":..} merged with action and ref by the library),
// with the schema when withSchema. The second result is Router.Len.
func newRoutedServer(withSchema bool) (http.Handler, func() int64) {
	// The load is a closed loop far above an interactive client's rate: a
	// limit this high never refuses, but its bucket still runs per message.
	r := wsroute.New(wsroute.Options{Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{Rate: 1e9, Burst: 1e9}}})
	cr := r.Channel(echoPath, wsroute.ChannelConfig{
		Name:          "echo",
		Authenticator: wsroute.TokenAuth{Check: checkToken},
	})
	cfg := wsroute.RouteConfig{Permissions: notBanned}
	if withSchema {
		cfg.Schema = wsroute.SchemaString(echoSchema)
	}
	wsroute.Handle(cr, "echo", func(_ context.Context, _ *wsroute.Channel, in echoIn) (echoOut, error) {
		return echoOut(in), nil
	}, cfg)
	return r, func() int64 { return int64(r.Len()) }
}
