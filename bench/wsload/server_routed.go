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

// valSchema is the route's schema in validated mode.
const valSchema = `{"type":"object","required":["data"],"additionalProperties":false,"properties":{"data":{"type":"object","additionalProperties":false,"required":["user","room","text","n","seq"],"properties":{"user":{"type":"string","minLength":1,"maxLength":64},"room":{"type":"string","minLength":1,"maxLength":64},"text":{"type":"string","minLength":1,"maxLength":200},"n":{"type":"integer","minimum":0},"seq":{"type":"integer","minimum":0}}}}}`

// valIn is the validated route's input and output; the library adds action
// and ref to the reply.
type valIn struct {
	Data handData `json:"data"`
}

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
// decode, reply merged with action and ref by the library). In mode
// "routed" the route echoes {"title":..}; "routed-schema" adds echoSchema;
// "validated" has valSchema and echoes the valIn it decoded. The second
// result is Router.Len.
func newRoutedServer(mode string) (http.Handler, func() int64) {
	// The load is a closed loop far above an interactive client's rate: a
	// limit this high never refuses, but its bucket still runs per message.
	r := wsroute.New(wsroute.Options{Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{Rate: 1e9, Burst: 1e9}}})
	cr := r.Channel(echoPath, wsroute.ChannelConfig{
		Name:          "echo",
		Authenticator: wsroute.TokenAuth{Check: checkToken},
	})
	cfg := wsroute.RouteConfig{Permissions: notBanned}
	switch mode {
	case "validated":
		cfg.Schema = wsroute.SchemaString(valSchema)
		wsroute.Handle(cr, "echo", func(_ context.Context, _ *wsroute.Channel, in valIn) (valIn, error) {
			return in, nil
		}, cfg)
	case "routed-schema":
		cfg.Schema = wsroute.SchemaString(echoSchema)
		fallthrough
	default:
		wsroute.Handle(cr, "echo", func(_ context.Context, _ *wsroute.Channel, in echoIn) (echoOut, error) {
			return echoOut(in), nil
		}, cfg)
	}
	return r, func() int64 { return int64(r.Len()) }
}
