package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/wsroute/wsroute"
)

// indexHTML is the single-page client served at "/".
//
//go:embed index.html
var indexHTML []byte

// account is what a demo token stands for.
type account struct {
	ID  string        // the user id; never contains '@' (see memberKey)
	TTL time.Duration // how long a session opened with the token lasts; 0: for ever
}

// demoTokens maps the demo bearer tokens to their accounts. carol's token is
// short-lived: her channels close with 4401 thirty seconds after they open.
var demoTokens = map[string]account{
	"alice-token": {ID: "alice"},
	"bob-token":   {ID: "bob"},
	"carol-token": {ID: "carol", TTL: 30 * time.Second},
}

// errUnknownToken is what checkToken returns for a token it does not know.
var errUnknownToken = errors.New("unknown token")

// member is the session of a channel: a user in one room. The room is part
// of the session, not only of the path, because the session key
// (memberKey) is what kicks address, and a kick is from one room.
type member struct {
	User string
	Room string
}

// memberKey is the Router's session key (Options.SessionKey) of user's
// channels in room: "bob@lobby". Kicking bob from lobby is
// CloseChannelsOf(memberKey("lobby", "bob")), on every node, and leaves bob's
// other rooms open. The price: the key names a membership, not a user, so
// "every channel of bob" is not one key (Router.CloseWhere does that). User
// ids contain no '@', so the first '@' ends the user id and no two
// memberships share a key.
func memberKey(room, user string) string { return user + "@" + room }

// sessionKey is Options.SessionKey: the memberKey of a member session.
func sessionKey(session any) string {
	m, ok := session.(member)
	if !ok {
		return ""
	}
	return memberKey(m.Room, m.User)
}

// roomOf is the room a channel joined in OnConnect: handlers and
// OnDisconnect find it there.
var roomOf = wsroute.NewLocal[*room]("room")

// app is the chat application: its rooms and the Router serving them.
type app struct {
	router *wsroute.Router
	hall   *hall
	log    *slog.Logger
}

// newApp builds the application and the http.Handler that serves it: the
// page on exactly "/", the rooms on "/rooms/{room}", 404 elsewhere. It opens
// no socket, so tests can use it without a network. broker is nil for the
// default, an in-memory broker of this process alone; rooms' state
// (owner, members, history) is always this process's.
func newApp(logger *slog.Logger, broker wsroute.Broker) (*app, http.Handler) {
	a := &app{hall: newHall(), log: logger}
	a.router = wsroute.New(wsroute.Options{
		Broker:        broker,
		Logger:        logger,
		Authenticator: wsroute.TokenAuth{Check: checkToken},
		SessionKey:    sessionKey,
	})
	a.routeRooms()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage) // "{$}": only "/" itself
	mux.Handle("/rooms/{room}", a.router) // the channel's own pattern
	return a, mux
}

// checkToken is TokenAuth's Check: a known token makes the channel a member
// of the room in its path, for the token's lifetime.
func checkToken(_ context.Context, c *wsroute.Channel, token string) error {
	acct, ok := demoTokens[token]
	if !ok {
		return errUnknownToken // no session: the opening is refused with 401
	}
	var expires time.Time // zero: never
	if acct.TTL > 0 {
		expires = time.Now().Add(acct.TTL)
	}
	c.SetSessionUntil(member{User: acct.ID, Room: c.PathValue("room")}, expires)
	return nil
}

// servePage serves the embedded HTML client.
func servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, _ = w.Write(indexHTML)
}

// Inputs, outputs and events of the /rooms/{room} channel.
type (
	// sayIn is the input of "say".
	sayIn struct {
		Text string `json:"text"`
	}
	// sayOut is the reply to "say": the message as the others see it.
	sayOut struct {
		Message chatMessage `json:"message"`
	}
	// historyIn is the input of "history"; Limit 0 (absent) means all.
	historyIn struct {
		Limit int `json:"limit"`
	}
	// historyOut is the reply to "history".
	historyOut struct {
		Messages []chatMessage `json:"messages"`
	}
	// kickIn is the input of "kick".
	kickIn struct {
		User string `json:"user"`
	}
	// kickOut is the reply to "kick".
	kickOut struct {
		Kicked string `json:"kicked"`
	}
	// welcomeFrame is the first frame of every channel.
	welcomeFrame struct {
		Welcome welcome `json:"welcome"`
	}
	// event is published on the room's topic; members receive it as
	// {"topic":"room:<name>","data":<event>}.
	event struct {
		Event   string       `json:"event"`             // "joined", "left" or "message"
		User    string       `json:"user,omitempty"`    // joined, left
		Message *chatMessage `json:"message,omitempty"` // message
	}
)

// The routes' input schemas.
var (
	saySchema = wsroute.SchemaString(`{"type":"object","properties":{
		"text":{"type":"string","minLength":1,"maxLength":1000}},
		"required":["text"],"additionalProperties":false}`)
	historySchema = wsroute.SchemaString(`{"type":"object","properties":{
		"limit":{"type":"integer","minimum":1,"maximum":` + fmt.Sprint(historySize) + `}},
		"additionalProperties":false}`)
	kickSchema = wsroute.SchemaString(`{"type":"object","properties":{
		"user":{"type":"string","minLength":1,"maxLength":64}},
		"required":["user"],"additionalProperties":false}`)
)

// sayLimit lets one connection say three things at once, then one a second.
// Refusals carry retryAfterMs. Other routes are bound only by the channel's
// default rate limit.
var sayLimit = wsroute.RouteRateLimit{Rate: 1, Burst: 3}

// routeRooms registers the /rooms/{room} channel and its routes. Opening it
// requires a session (a token in the request): the channel and every route
// need one, and a session that expires closes the channel with 4401.
func (a *app) routeRooms() {
	ch := a.router.Channel("/rooms/{room}", wsroute.ChannelConfig{
		Name:         "rooms",
		Permissions:  validRoom,
		OnConnect:    a.join,
		OnDisconnect: a.leave,
	})
	wsroute.Handle(ch, "say", a.say, wsroute.RouteConfig{Schema: saySchema, RateLimit: sayLimit})
	wsroute.Handle(ch, "history", a.history, wsroute.RouteConfig{Schema: historySchema})
	wsroute.Handle(ch, "kick", a.kick, wsroute.RouteConfig{Schema: kickSchema, Permissions: a.ownerOnly})
}

// roomName is what a room may be called.
var roomName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// validRoom is the channel's Permission: it refuses (400) a room name that
// is empty, long or full of characters a page would have to escape.
func validRoom(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
	if !roomName.MatchString(c.PathValue("room")) {
		return wsroute.NewError(wsroute.CodeInvalid, "a room name is 1 to 32 letters, digits, '-' or '_'")
	}
	return nil
}

// join is OnConnect: subscribe to the room, join it, greet the channel and
// tell the others — unless the user was there already in another tab.
func (a *app) join(ctx context.Context, c *wsroute.Channel) error {
	m, ok := wsroute.SessionAs[member](c)
	if !ok {
		return errors.New("no member session") // cannot happen: opening requires one
	}
	// Subscribe before joining: an error here closes the channel (1011)
	// and OnDisconnect does not run, so nothing may have been joined yet.
	// Subscribed first, the channel may see an event before its welcome,
	// never miss one.
	if err := c.Subscribe(topicOf(m.Room)); err != nil {
		return err
	}
	r, w, first := a.hall.join(m.Room, m.User)
	roomOf.Set(c, r)
	// From here on OnConnect returns nil, so OnDisconnect leaves the room
	// however the channel ends. The welcome fails only if the channel is
	// already closing (a kick that came first), which OnDisconnect handles.
	_ = c.Send(ctx, welcomeFrame{Welcome: w})
	if first {
		a.announce(ctx, c, r, event{Event: "joined", User: m.User})
	}
	return nil
}

// leave is OnDisconnect: leave the room and, if it was the user's last
// channel there, tell the others — unless this server is shutting down.
// The session read here is the channel's last one, even if it expired (a
// 4401 close): "carol left" needs no bookkeeping.
func (a *app) leave(ctx context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
	r, joined := roomOf.Get(c)
	m, ok := wsroute.SessionAs[member](c)
	if !joined || !ok {
		return
	}
	// A channel closed by this server's shutdown did not leave: its client
	// will reconnect, perhaps to another node, and the members elsewhere
	// must not see it leave and join again.
	if a.hall.leave(r, m.User) && !info.Shutdown() {
		a.announce(ctx, nil, r, event{Event: "left", User: m.User})
	}
}

// announce publishes ev to the room's members but from (nil: all). A failed
// publish (a broker that is down) is logged, not returned: the local members
// got it, and the sender's own action succeeded.
func (a *app) announce(ctx context.Context, from *wsroute.Channel, r *room, ev event) {
	err := a.router.Publish(ctx, r.topic, ev, wsroute.PublishOptions{Exclude: from})
	if err != nil {
		a.log.WarnContext(ctx, "chat: publish failed", "room", r.name, "event", ev.Event, "err", err)
	}
}

// errNotJoined answers a message that arrives on a channel without a valid
// member session or room: its session expired between the auth stage and
// the handler, the only way it can happen.
var errNotJoined = wsroute.NewError(wsroute.CodeUnauthenticated, "authentication required")

// joined returns the member session of c and the room it joined.
func joined(c *wsroute.Channel) (member, *room, error) {
	m, ok := wsroute.SessionAs[member](c)
	r, in := roomOf.Get(c)
	if !ok || !in {
		return member{}, nil, errNotJoined
	}
	return m, r, nil
}

// say records the message in the room's history and sends it to the other
// members; the sender gets it as the reply.
func (a *app) say(ctx context.Context, c *wsroute.Channel, in sayIn) (sayOut, error) {
	m, r, err := joined(c)
	if err != nil {
		return sayOut{}, err
	}
	msg := a.hall.post(r, m.User, in.Text)
	a.announce(ctx, c, r, event{Event: "message", Message: &msg})
	return sayOut{Message: msg}, nil
}

// history replies with the room's last messages, oldest first.
func (a *app) history(_ context.Context, c *wsroute.Channel, in historyIn) (historyOut, error) {
	_, r, err := joined(c)
	if err != nil {
		return historyOut{}, err
	}
	return historyOut{Messages: a.hall.recent(r, in.Limit)}, nil
}

// ownerOnly is kick's Permission: only the room's owner may kick, and
// anyone else is told who may.
func (a *app) ownerOnly(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
	m, r, err := joined(c)
	if err != nil {
		return err
	}
	if owner := a.hall.ownerOf(r); owner != m.User {
		return wsroute.Errorf(wsroute.CodeForbidden, "only the room's owner, %s, may kick", owner)
	}
	return nil
}

// kick closes every channel of in.User in this room (1008, "kicked by
// <owner>"), on every node, and leaves that user's other rooms open. Their
// OnDisconnect tells the room they left.
func (a *app) kick(ctx context.Context, c *wsroute.Channel, in kickIn) (kickOut, error) {
	m, r, err := joined(c)
	if err != nil {
		return kickOut{}, err
	}
	if in.User == m.User {
		return kickOut{}, wsroute.NewError(wsroute.CodeInvalid, "the owner cannot kick themselves")
	}
	if !a.hall.has(r, in.User) {
		return kickOut{}, wsroute.Errorf(wsroute.CodeNotFound, "%s is not in %s", in.User, r.name)
	}
	reason := "kicked by " + m.User
	if _, err := a.router.CloseChannelsOf(ctx, memberKey(r.name, in.User), wsroute.StatusPolicyViolation, reason); err != nil {
		// This node's channels are closed; the other nodes' may not be.
		return kickOut{}, fmt.Errorf("kick %s from %s: %w", in.User, r.name, err)
	}
	return kickOut{Kicked: in.User}, nil
}
