package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/wsroute/wsroute"
)

// indexHTML is the single-page client served at "/".
//
//go:embed index.html
var indexHTML []byte

// appJS is the page's script: web/main.ts and the wsroute TypeScript client,
// bundled ahead of time by client/scripts/build-demo.mjs (npm run build:demo),
// so running the demo needs nothing but Go.
//
//go:embed static/app.js
var appJS []byte

// schemaFS holds the JSON Schemas of the routes' inputs.
//
//go:embed schemas/*.json
var schemaFS embed.FS

// topicTodos is the only topic clients may subscribe to.
const topicTodos = "todos"

// user is the session of a logged-in channel, read with wsroute.SessionAs[user].
type user struct {
	ID string
}

// demoTokens maps the demo bearer tokens to their users.
var demoTokens = map[string]user{
	"alice-token": {ID: "alice"},
	"bob-token":   {ID: "bob"},
}

// errUnknownToken is what checkToken returns for a token it does not know.
var errUnknownToken = errors.New("unknown token")

// app is the todo application: its store and the Router serving its channels.
type app struct {
	router *wsroute.Router
	todos  *wsroute.Topic[todoEvent] // the "todos" topic, declared with its event type
	store  *store
	log    *slog.Logger
}

// newApp builds the application and the http.Handler that serves it: the
// page on exactly "/", the channels on "/todos" and "/admin", 404 elsewhere.
// It opens no socket, so tests can use it without a network.
// broker is nil for the default, an in-memory broker of this process alone.
func newApp(logger *slog.Logger, broker wsroute.Broker) (*app, http.Handler) {
	return newAppWith(logger, broker, nil)
}

// newAppWith is newApp with the OpenTelemetry wiring of -metrics and -otlp:
// tel's observer joins the logging one, and its /metrics handler is served.
func newAppWith(logger *slog.Logger, broker wsroute.Broker, tel *telemetry) (*app, http.Handler) {
	a := buildApp(logger, broker, tel)
	mux := a.pageMux(tel)
	mux.Handle("/todos", a.router)
	mux.Handle("/admin", a.router)
	return a, mux
}

// buildApp makes the application and its Router, with every channel route
// registered, and serves nothing: newAppWith serves the Router itself
// (-mode server), newAPIGWApp through the API Gateway emulator
// (-mode apigw-local).
func buildApp(logger *slog.Logger, broker wsroute.Broker, tel *telemetry) *app {
	a := &app{store: newStore(), log: logger}
	obs := observer(logger)
	if tel != nil && tel.observer != nil {
		obs = wsroute.JoinObservers(obs, tel.observer)
	}
	a.router = wsroute.New(wsroute.Options{
		Broker:   broker,
		Logger:   logger,
		Observer: obs,
		// The default authenticator of both channels: a valid token from
		// "Authorization: Bearer" or "?token=" sets the session; an unknown
		// one is logged at debug level and ignored, so each channel's own
		// policy (Public or not) decides what happens without a session.
		Authenticator: wsroute.TokenAuth{Check: checkToken},
	})
	a.todos = wsroute.NewTopic[todoEvent](a.router, topicTodos, wsroute.TopicConfig{
		Summary:     "Changes to todos",
		Description: "A todo created or completed by another client.",
		Channels:    []string{"todos"}, // subscribed to on /todos only
	})
	a.routeTodos()
	a.routeAdmin()
	return a
}

// pageMux serves what is not a channel, the same in every mode: the page
// on exactly "/", its script, the AsyncAPI document and, with -metrics,
// /metrics. The caller adds the channels' paths.
func (a *app) pageMux(tel *telemetry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage) // "{$}": only "/" itself, not every path
	mux.HandleFunc("GET /app.js", serveScript)
	mux.Handle("GET /asyncapi.json", wsroute.AsyncAPIHandler(a.router, apiInfo))
	if tel != nil && tel.metrics != nil {
		mux.Handle("GET /metrics", tel.metrics)
	}
	return mux
}

// apiInfo heads the demo's AsyncAPI document, served at /asyncapi.json and
// kept in testdata/asyncapi.json, from which client/ generates the page's
// TypeScript types.
var apiInfo = wsroute.AsyncAPIInfo{
	Title:       "wsroute todos",
	Version:     "1.0.0",
	Description: "The demo's shared todo list: log in by message on /todos, then list, create and complete todos and receive the others' changes; /admin needs a token when opening.",
}

// checkToken is TokenAuth's Check: it sets the session of a known token.
func checkToken(_ context.Context, c *wsroute.Channel, token string) error {
	u, ok := demoTokens[token]
	if !ok {
		return errUnknownToken
	}
	c.SetSession(u)
	return nil
}

// servePage serves the embedded HTML client.
func servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'")
	_, _ = w.Write(indexHTML)
}

// serveScript serves the page's bundled script.
func serveScript(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(appJS)
}

// schema returns the embedded schema schemas/<name>.json.
func schema(name string) *wsroute.Schema {
	return wsroute.SchemaFS(schemaFS, "schemas/"+name+".json")
}

// Inputs and outputs of the /todos routes.
type (
	// authIn is the input of "auth".
	authIn struct {
		Token string `json:"token"`
	}
	// authOut is the reply to "auth".
	authOut struct {
		UserID string `json:"userId"`
	}
	// listOut is the reply to "list".
	listOut struct {
		Todos []todo `json:"todos"`
	}
	// createIn is the input of "create".
	createIn struct {
		Title string `json:"title"`
	}
	// completeIn is the input of "complete".
	completeIn struct {
		ID string `json:"id"`
	}
	// todoOut is the reply to "create" and "complete".
	todoOut struct {
		Todo todo `json:"todo"`
	}
	// todoEvent is the payload published on topic "todos".
	todoEvent struct {
		Event string `json:"event"` // "created" or "completed"
		Todo  todo   `json:"todo"`
	}
	// topicIn is the input of "subscribe" and "unsubscribe".
	topicIn struct {
		Topic string `json:"topic"`
	}
	// subscribeOut is the reply to "subscribe".
	subscribeOut struct {
		Subscribed string `json:"subscribed"`
	}
	// unsubscribeOut is the reply to "unsubscribe".
	unsubscribeOut struct {
		Unsubscribed string `json:"unsubscribed"`
	}
	// echoOut is the default handler's reply.
	echoOut struct {
		Echo any `json:"echo"`
	}
	// ack is the output type of routes that reply with a bare ack: they
	// return a nil *ack, which encodes to null.
	ack struct{}
)

// routeTodos registers the /todos channel and its routes.
func (a *app) routeTodos() {
	ch := a.router.Channel("/todos", wsroute.ChannelConfig{
		Name:    "todos",
		Summary: "The shared todo list",
		Public:  true, // opens without a session; clients log in with "auth"
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			return c.Send(ctx, map[string]any{"connected": true, "channelId": c.ID()})
		},
	})
	wsroute.Handle(ch, "auth", a.auth, wsroute.RouteConfig{Public: true, Schema: schema("auth"),
		Summary: "Log in (or switch user) with a token"})
	wsroute.Handle(ch, "logout", a.logout, wsroute.RouteConfig{Public: true,
		Summary: "Log out: clear the session and the subscriptions"})
	wsroute.Handle(ch, "list", a.list, wsroute.RouteConfig{Summary: "Everyone's todos, in creation order"})
	wsroute.Handle(ch, "create", a.create, wsroute.RouteConfig{Schema: schema("create"),
		Summary: "Add a todo; the other subscribers get a created event"})
	wsroute.Handle(ch, "complete", a.complete, wsroute.RouteConfig{Schema: schema("complete"),
		Summary: "Complete one of your own todos; the other subscribers get a completed event"})
	// The topic check ("todos" only) is in the handlers, not in a
	// Permission: a Permission runs before validation and sees the raw
	// input, so it would have to parse unvalidated JSON itself and guess
	// what to answer for {"topic":5} or a missing topic (forbidden would
	// hide the real mistake, allowing would make it a second source of
	// truth). In the handler the input is validated and typed, and the
	// answers are exact: invalid for a malformed input, forbidden for a
	// well-formed but disallowed topic. Nothing leaks either way: the route
	// requires a session, which is checked before the schema.
	wsroute.Handle(ch, "subscribe", a.subscribe, wsroute.RouteConfig{Schema: schema("topic"),
		Summary: "Receive the todos topic's events"})
	wsroute.Handle(ch, "unsubscribe", a.unsubscribe, wsroute.RouteConfig{Schema: schema("topic"),
		Summary: "Stop receiving the todos topic's events"})
	wsroute.HandleDefaultReply(ch, echo, wsroute.RouteConfig{ // requires a session, like every route but auth and logout
		Summary: "Echo any other frame"})
}

// auth logs the channel in (or switches user). An unknown token answers
// unauthenticated and leaves the session as it was.
func (a *app) auth(_ context.Context, c *wsroute.Channel, in authIn) (authOut, error) {
	u, ok := demoTokens[in.Token]
	if !ok {
		return authOut{}, wsroute.NewError(wsroute.CodeUnauthenticated, "unknown token")
	}
	c.SetSession(u)
	return authOut{UserID: u.ID}, nil
}

// logout clears the session and the channel's subscriptions, and acks.
func (a *app) logout(_ context.Context, c *wsroute.Channel, _ struct{}) (*ack, error) {
	c.ClearSession()
	c.UnsubscribeAll()
	return nil, nil
}

// list replies with everyone's todos in creation order.
func (a *app) list(_ context.Context, _ *wsroute.Channel, _ struct{}) (listOut, error) {
	return listOut{Todos: a.store.list()}, nil
}

// create adds a todo owned by the session's user and tells the other
// subscribers of "todos".
func (a *app) create(ctx context.Context, c *wsroute.Channel, in createIn) (todoOut, error) {
	u, _ := wsroute.SessionAs[user](c) // the route requires a session
	t := a.store.create(in.Title, u.ID)
	a.publish(ctx, c, "created", t)
	return todoOut{Todo: t}, nil
}

// complete marks one of the user's own todos done and tells the other
// subscribers of "todos". Ownership needs the typed input, so it is checked
// here rather than in a Permission.
func (a *app) complete(ctx context.Context, c *wsroute.Channel, in completeIn) (todoOut, error) {
	u, _ := wsroute.SessionAs[user](c)
	t, res := a.store.complete(in.ID, u.ID)
	switch res {
	case noSuchTodo:
		return todoOut{}, wsroute.Errorf(wsroute.CodeNotFound, "no todo %q", in.ID)
	case notTheOwner:
		return todoOut{}, wsroute.Errorf(wsroute.CodeForbidden, "todo %q belongs to someone else", in.ID)
	}
	a.publish(ctx, c, "completed", t)
	return todoOut{Todo: t}, nil
}

// publish sends a todo event on topic "todos" to every subscriber but the
// channel that caused it (it already has the reply). A failed publish is
// logged, not returned: the change is made and the sender must learn that.
func (a *app) publish(ctx context.Context, from *wsroute.Channel, event string, t todo) {
	err := a.todos.Publish(ctx, todoEvent{Event: event, Todo: t}, wsroute.PublishOptions{Exclude: from})
	if err != nil {
		a.log.WarnContext(ctx, "publish failed", "event", event, "todo", t.ID, "err", err)
	}
}

// checkTopic refuses every topic but "todos".
func checkTopic(topic string) error {
	if topic != topicTodos {
		return wsroute.Errorf(wsroute.CodeForbidden, "topic %q is not allowed", topic)
	}
	return nil
}

// subscribe subscribes the channel to "todos"; doing it twice is harmless.
func (a *app) subscribe(_ context.Context, c *wsroute.Channel, in topicIn) (subscribeOut, error) {
	if err := checkTopic(in.Topic); err != nil {
		return subscribeOut{}, err
	}
	if err := a.todos.Subscribe(c); err != nil {
		return subscribeOut{}, err // closing or broker failure: internal, logged
	}
	return subscribeOut{Subscribed: in.Topic}, nil
}

// unsubscribe unsubscribes the channel from "todos"; doing it twice, or
// without a subscription, is harmless.
func (a *app) unsubscribe(_ context.Context, c *wsroute.Channel, in topicIn) (unsubscribeOut, error) {
	if err := checkTopic(in.Topic); err != nil {
		return unsubscribeOut{}, err
	}
	a.todos.Unsubscribe(c)
	return unsubscribeOut{Unsubscribed: in.Topic}, nil
}

// echo is the default handler: it replies {"echo":<the frame>} with the frame
// as JSON when it is JSON (re-encoded compactly), else as a JSON string.
func echo(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) (echoOut, error) {
	if m.IsJSON() {
		return echoOut{Echo: json.RawMessage(bytes.Clone(m.Data()))}, nil
	}
	return echoOut{Echo: string(m.Data())}, nil
}

// routeAdmin registers the /admin channel: opening it needs a session from
// the request, and only alice may.
func (a *app) routeAdmin() {
	ch := a.router.Channel("/admin", wsroute.ChannelConfig{
		Name:    "admin",
		Summary: "Administration: only alice may open it, with a token in the opening request",
		Permissions: func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
			if u, ok := wsroute.SessionAs[user](c); !ok || u.ID != "alice" {
				return wsroute.NewError(wsroute.CodeForbidden, "only alice may administer")
			}
			return nil
		},
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			return c.Send(ctx, map[string]any{"connected": true, "admin": true})
		},
	})
	wsroute.Handle(ch, "stats", func(_ context.Context, c *wsroute.Channel, _ struct{}) (statsOut, error) {
		return statsOut{Connections: c.Router().Len()}, nil
	}, wsroute.RouteConfig{Summary: "The number of open connections"})
}

// statsOut is the reply to the admin channel's "stats".
type statsOut struct {
	// Connections counts the Router's open channels, this one included.
	Connections int `json:"connections"`
}
