package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsroute/wsroute"
)

// Config configures the test application. The zero value is valid: demo
// tokens that never expire, no logs.
type Config struct {
	// TokenTTL is how long a session opened with a demo token
	// (alice-token, bob-token) lasts; 0: forever. Tokens made by the
	// "issueToken" route carry their own TTL.
	TokenTTL time.Duration
	// Logger receives the Router's logs; nil: silent.
	Logger *slog.Logger
}

// demoUsers are the static tokens and their users.
var demoUsers = map[string]string{
	"alice-token": "alice",
	"bob-token":   "bob",
}

// user is the session of a logged-in channel.
type user struct {
	ID      string
	Token   string
	Expires time.Time // zero: never
}

// Inputs, outputs and events of the application.
type (
	loginIn struct {
		Token string `json:"token"`
	}
	userOut struct {
		User string `json:"user"`
	}
	echoIn struct {
		Text string `json:"text"`
		N    int    `json:"n,omitempty"`
	}
	echoOut struct {
		Text string `json:"text"`
		N    int    `json:"n"`
	}
	sleepIn struct {
		MS int    `json:"ms"`
		ID string `json:"id,omitempty"`
	}
	sleepOut struct {
		ID    string `json:"id"`
		Slept int    `json:"slept"`
	}
	buyIn struct {
		Item string `json:"item"`
	}
	buyOut struct {
		Item   string `json:"item"`
		Bought bool   `json:"bought"`
	}
	recordIn struct {
		Value string `json:"value"`
	}
	recordedOut struct {
		Values []string `json:"values"`
	}
	issueIn struct {
		User  string `json:"user"`
		TTLMs int    `json:"ttlMs,omitempty"`
	}
	issueOut struct {
		Token string `json:"token"`
	}
	statsOut struct {
		// Opens counts connection attempts (openings that reached the
		// Router, refused or not) by "lab" or "rooms/<room>".
		Opens map[string]int `json:"opens"`
	}
	awaitIn struct {
		Topic     string `json:"topic"`
		Count     int    `json:"count"`
		TimeoutMs int    `json:"timeoutMs,omitempty"`
	}
	awaitOut struct {
		Topic       string `json:"topic"`
		Subscribers int    `json:"subscribers"`
	}
	announceIn struct {
		Text string `json:"text"`
	}
	announceOut struct {
		Seq int64 `json:"seq"`
	}
	topicIn struct {
		Topic string `json:"topic"`
	}
	subscribedOut struct {
		Subscribed string `json:"subscribed"`
	}
	unsubscribedOut struct {
		Unsubscribed string `json:"unsubscribed"`
	}
	notifyIn struct {
		Text string `json:"text"`
	}
	sayIn struct {
		Text string `json:"text"`
	}
	roomWhoOut struct {
		User  string `json:"user"`
		Room  string `json:"room"`
		Token string `json:"token"`
	}
	unroutedOut struct {
		Unrouted any `json:"unrouted"`
	}
	// ack is the output of routes that answer with a bare ack (a nil *ack).
	ack struct{}

	// NewsEvent is the payload of topic "news".
	NewsEvent struct {
		Seq  int64  `json:"seq"`
		Text string `json:"text"`
		By   string `json:"by"`
	}
	// ChatEvent is the payload of topic "rooms/{room}".
	ChatEvent struct {
		Room string `json:"room"`
		User string `json:"user"`
		Text string `json:"text"`
	}
)

// app is the state the routes share.
type app struct {
	cfg    Config
	router *wsroute.Router
	news   *wsroute.Topic[NewsEvent]
	rooms  *wsroute.Topic[ChatEvent]
	seq    atomic.Int64

	mu     sync.Mutex
	tokens map[string]user // issued tokens
	opens  map[string]int  // connection attempts by channel key
}

// recorded holds what "record" stored on a channel.
var recorded = wsroute.NewLocal[*[]string]("recorded")

// newRouter builds the test application's Router. It is the single source
// of both the running test server and any document generated from it
// (Router.Walk, Router.WalkTopics), so it exercises every feature wsroute's
// registry describes.
func newRouter(cfg Config) *wsroute.Router {
	a := &app{cfg: cfg, tokens: map[string]user{}, opens: map[string]int{}}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a.router = wsroute.New(wsroute.Options{
		Logger:     logger,
		Middleware: []wsroute.Middleware{a.countOpens},
	})
	a.news = wsroute.NewTopic[NewsEvent](a.router, "news", wsroute.TopicConfig{
		Summary:     "Announcements",
		Description: "Every announcement made with the lab channel's \"announce\" route.",
	})
	a.rooms = wsroute.NewTopic[ChatEvent](a.router, "rooms/{room}", wsroute.TopicConfig{
		Summary:     "A room's messages",
		Description: "What is said in one room with its channel's \"say\" route.",
	})
	a.routeLab()
	a.routeRooms()
	return a.router
}

// newHandler serves r's channels under their paths and answers 404
// elsewhere (the Router does).
func newHandler(r *wsroute.Router) http.Handler { return r }

// countOpens counts every opening that reaches the Router, before auth, so
// that refused attempts count too.
func (a *app) countOpens(next wsroute.Handler) wsroute.Handler {
	return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
		if m.IsOpen() {
			key := c.Name()
			if room := c.PathValue("room"); room != "" {
				key += "/" + room
			}
			a.mu.Lock()
			a.opens[key]++
			a.mu.Unlock()
		}
		return next.Handle(ctx, c, m)
	})
}

// lookup returns the user of a demo or issued token.
func (a *app) lookup(token string) (user, bool) {
	if id, ok := demoUsers[token]; ok {
		u := user{ID: id, Token: token}
		if a.cfg.TokenTTL > 0 {
			u.Expires = time.Now().Add(a.cfg.TokenTTL)
		}
		return u, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.tokens[token]
	return u, ok
}

// checkToken is TokenAuth's Check for the rooms channel.
func (a *app) checkToken(_ context.Context, c *wsroute.Channel, token string) error {
	u, ok := a.lookup(token)
	if !ok {
		return wsroute.NewError(wsroute.CodeUnauthenticated, "unknown token")
	}
	c.SetSessionUntil(u, u.Expires)
	return nil
}

func (a *app) routeLab() {
	ch := a.router.Channel("/lab", wsroute.ChannelConfig{
		Name:    "lab",
		Summary: "Everything a client needs to test itself against",
		Description: "Opens without a session; \"login\" logs in by message. Up to 32 messages " +
			"of a connection are handled at once, so replies come out of order.",
		Public:   true,
		Parallel: 32,
		Limits: wsroute.Limits{
			RateLimit:    wsroute.RateLimit{Rate: -1}, // the client tests fire 1,000 requests at once
			InboundQueue: 256,
			SendQueue:    4096,
			SendBytes:    8 << 20,
		},
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			return c.Send(ctx, map[string]any{"connected": true, "channel": "lab", "id": c.ID()})
		},
	})
	wsroute.Handle(ch, "login", a.login, wsroute.RouteConfig{
		Summary:     "Log in by message",
		Description: "Sets the channel's session from a demo token or one made by issueToken.",
		Public:      true,
		Schema: wsroute.SchemaString(`{"type":"object","properties":{"token":{"type":"string","minLength":1}},
			"required":["token"],"additionalProperties":false}`),
	})
	wsroute.Handle(ch, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (userOut, error) {
		u, _ := wsroute.SessionAs[user](c)
		return userOut{User: u.ID}, nil
	}, wsroute.RouteConfig{Summary: "The logged-in user"})
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in echoIn) (echoOut, error) {
		return echoOut(in), nil
	}, wsroute.RouteConfig{
		Summary: "Echo a text and a number",
		Public:  true,
		Schema: wsroute.SchemaString(`{"type":"object","properties":{
			"text":{"type":"string","minLength":1,"maxLength":100},
			"n":{"type":"integer","minimum":0}},
			"required":["text"],"additionalProperties":false}`),
	})
	wsroute.Handle(ch, "sleep", sleep, wsroute.RouteConfig{
		Summary:     "Reply after ms milliseconds",
		Description: "Gives up when the connection closes. For timeouts and out-of-order replies.",
		Public:      true,
		Schema: wsroute.SchemaString(`{"type":"object","properties":{
			"ms":{"type":"integer","minimum":0,"maximum":60000},
			"id":{"type":"string"}},
			"required":["ms"],"additionalProperties":false}`),
	})
	wsroute.Handle(ch, "list", func(context.Context, *wsroute.Channel, struct{}) ([]string, error) {
		return []string{"alpha", "beta", "gamma"}, nil
	}, wsroute.RouteConfig{Summary: "A slice: the reply carries it as \"result\"", Public: true})
	wsroute.Handle(ch, "ping", func(context.Context, *wsroute.Channel, struct{}) (*ack, error) {
		return nil, nil
	}, wsroute.RouteConfig{Summary: "A bare ack", Public: true})
	wsroute.Handle(ch, "buy", func(_ context.Context, _ *wsroute.Channel, in buyIn) (buyOut, error) {
		if in.Item != "apple" {
			return buyOut{}, wsroute.Errorf("out_of_stock", "no %s left", in.Item)
		}
		return buyOut{Item: in.Item, Bought: true}, nil
	}, wsroute.RouteConfig{
		Summary:     "Buy an item",
		Description: "Only apples are in stock; anything else fails with the application code out_of_stock.",
		Public:      true,
		Schema: wsroute.SchemaString(`{"type":"object","properties":{"item":{"type":"string","minLength":1}},
			"required":["item"],"additionalProperties":false}`),
	})
	wsroute.Handle(ch, "record", func(_ context.Context, c *wsroute.Channel, in recordIn) (*ack, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		vs, ok := recorded.Get(c)
		if !ok {
			vs = new([]string)
			recorded.Set(c, vs)
		}
		*vs = append(*vs, in.Value)
		return nil, nil
	}, wsroute.RouteConfig{Summary: "Remember a value (for fire-and-forget sends)", Public: true})
	wsroute.Handle(ch, "recorded", func(_ context.Context, c *wsroute.Channel, _ struct{}) (recordedOut, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		out := recordedOut{Values: []string{}}
		if vs, ok := recorded.Get(c); ok {
			out.Values = append(out.Values, *vs...)
		}
		return out, nil
	}, wsroute.RouteConfig{Summary: "The values recorded on this connection", Public: true})
	wsroute.Handle(ch, "issueToken", a.issueToken, wsroute.RouteConfig{
		Summary:     "Make a token",
		Description: "A token for user that opens the rooms channel and logs in on this one; its session expires after ttlMs (default: never).",
		Public:      true,
		Schema: wsroute.SchemaString(`{"type":"object","properties":{
			"user":{"type":"string","minLength":1},"ttlMs":{"type":"integer","minimum":1}},
			"required":["user"],"additionalProperties":false}`),
	})
	wsroute.Handle(ch, "stats", func(context.Context, *wsroute.Channel, struct{}) (statsOut, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		out := statsOut{Opens: make(map[string]int, len(a.opens))}
		for k, v := range a.opens {
			out.Opens[k] = v
		}
		return out, nil
	}, wsroute.RouteConfig{Summary: "Connection attempts by channel", Public: true})
	wsroute.Handle(ch, "awaitSubscribers", a.awaitSubscribers, wsroute.RouteConfig{
		Summary: "Wait until a topic has count subscribers on this node",
		Public:  true,
		Schema: wsroute.SchemaString(`{"type":"object","properties":{
			"topic":{"type":"string","minLength":1},"count":{"type":"integer","minimum":0},
			"timeoutMs":{"type":"integer","minimum":1,"maximum":30000}},
			"required":["topic","count"],"additionalProperties":false}`),
	})
	wsroute.Handle(ch, "announce", func(ctx context.Context, c *wsroute.Channel, in announceIn) (announceOut, error) {
		u, _ := wsroute.SessionAs[user](c)
		seq := a.seq.Add(1)
		return announceOut{Seq: seq}, a.news.Publish(ctx, NewsEvent{Seq: seq, Text: in.Text, By: u.ID})
	}, wsroute.RouteConfig{
		Summary: "Publish on topic news",
		Schema: wsroute.SchemaString(`{"type":"object","properties":{"text":{"type":"string"}},
			"required":["text"],"additionalProperties":false}`),
	})
	topicSchema := wsroute.SchemaString(`{"type":"object","properties":{"topic":{"type":"string","minLength":1}},
		"required":["topic"],"additionalProperties":false}`)
	wsroute.Handle(ch, "subscribe", a.subscribe, wsroute.RouteConfig{
		Summary: "Subscribe to news or rooms/<room>", Schema: topicSchema,
	})
	wsroute.Handle(ch, "unsubscribe", a.unsubscribe, wsroute.RouteConfig{
		Summary: "Unsubscribe from a topic", Schema: topicSchema,
	})
	wsroute.Handle(ch, "notify", func(ctx context.Context, c *wsroute.Channel, in notifyIn) (*ack, error) {
		if err := c.Send(ctx, map[string]string{"notice": in.Text}); err != nil {
			return nil, err
		}
		return nil, nil
	}, wsroute.RouteConfig{Summary: "Push {\"notice\":text} to this connection, then ack", Public: true})
	wsroute.HandleDefaultReply(ch, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) (unroutedOut, error) {
		if m.IsJSON() {
			return unroutedOut{Unrouted: json.RawMessage(append([]byte(nil), m.Data()...))}, nil
		}
		return unroutedOut{Unrouted: string(m.Data())}, nil
	}, wsroute.RouteConfig{Summary: "Answers every frame that names no route with {\"unrouted\":<frame>}", Public: true})
}

func (a *app) login(_ context.Context, c *wsroute.Channel, in loginIn) (userOut, error) {
	u, ok := a.lookup(in.Token)
	if !ok {
		return userOut{}, wsroute.NewError(wsroute.CodeUnauthenticated, "unknown token")
	}
	c.SetSessionUntil(u, u.Expires)
	return userOut{User: u.ID}, nil
}

func sleep(ctx context.Context, _ *wsroute.Channel, in sleepIn) (sleepOut, error) {
	t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return sleepOut{ID: in.ID, Slept: in.MS}, nil
	case <-ctx.Done():
		return sleepOut{}, ctx.Err()
	}
}

func (a *app) issueToken(_ context.Context, _ *wsroute.Channel, in issueIn) (issueOut, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	tok := "t-" + hex.EncodeToString(b[:])
	u := user{ID: in.User, Token: tok}
	if in.TTLMs > 0 {
		u.Expires = time.Now().Add(time.Duration(in.TTLMs) * time.Millisecond)
	}
	a.mu.Lock()
	a.tokens[tok] = u
	a.mu.Unlock()
	return issueOut{Token: tok}, nil
}

func (a *app) awaitSubscribers(ctx context.Context, _ *wsroute.Channel, in awaitIn) (awaitOut, error) {
	timeout := 5 * time.Second
	if in.TimeoutMs > 0 {
		timeout = time.Duration(in.TimeoutMs) * time.Millisecond
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n := len(a.router.Subscribers(in.Topic))
		if n >= in.Count {
			return awaitOut{Topic: in.Topic, Subscribers: n}, nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return awaitOut{}, wsroute.Errorf("timeout", "%s has %d subscribers, not %d", in.Topic, n, in.Count)
		case <-ctx.Done():
			return awaitOut{}, ctx.Err()
		}
	}
}

// topicOf returns the declared topic a client names: "news" or
// "rooms/<room>".
func (a *app) topicOf(name string) (func(*wsroute.Channel) error, func(*wsroute.Channel), error) {
	if name == "news" {
		return a.news.Subscribe, a.news.Unsubscribe, nil
	}
	if room, ok := strings.CutPrefix(name, "rooms/"); ok {
		if b := a.rooms.At(room); b.Err() == nil {
			return b.Subscribe, b.Unsubscribe, nil
		}
	}
	return nil, nil, wsroute.Errorf(wsroute.CodeForbidden, "topic %q is not allowed", name)
}

func (a *app) subscribe(_ context.Context, c *wsroute.Channel, in topicIn) (subscribedOut, error) {
	sub, _, err := a.topicOf(in.Topic)
	if err != nil {
		return subscribedOut{}, err
	}
	if err := sub(c); err != nil {
		return subscribedOut{}, err
	}
	return subscribedOut{Subscribed: in.Topic}, nil
}

func (a *app) unsubscribe(_ context.Context, c *wsroute.Channel, in topicIn) (unsubscribedOut, error) {
	_, unsub, err := a.topicOf(in.Topic)
	if err != nil {
		return unsubscribedOut{}, err
	}
	unsub(c)
	return unsubscribedOut{Unsubscribed: in.Topic}, nil
}

func (a *app) routeRooms() {
	ch := a.router.Channel("/rooms/{room}", wsroute.ChannelConfig{
		Name:    "rooms",
		Summary: "A chat room",
		Description: "Opening requires a token (Authorization: Bearer or ?token=); a session made from " +
			"an expiring token closes the channel with 4401 when it expires.",
		Authenticator: wsroute.TokenAuth{Check: a.checkToken},
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			return a.rooms.At(c.PathValue("room")).Subscribe(c)
		},
	})
	wsroute.Handle(ch, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (roomWhoOut, error) {
		u, _ := wsroute.SessionAs[user](c)
		return roomWhoOut{User: u.ID, Room: c.PathValue("room"), Token: u.Token}, nil
	}, wsroute.RouteConfig{Summary: "The user, the room and the token of this connection"})
	wsroute.Handle(ch, "say", func(ctx context.Context, c *wsroute.Channel, in sayIn) (*ack, error) {
		u, _ := wsroute.SessionAs[user](c)
		room := c.PathValue("room")
		return nil, a.rooms.At(room).Publish(ctx, ChatEvent{Room: room, User: u.ID, Text: in.Text})
	}, wsroute.RouteConfig{
		Summary: "Say something to the room (the sender hears it too)",
		Schema: wsroute.SchemaString(`{"type":"object","properties":{"text":{"type":"string","minLength":1,"maxLength":500}},
			"required":["text"],"additionalProperties":false}`),
	})
	wsroute.Handle(ch, "kick", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*ack, error) {
		c.Close(wsroute.StatusPolicyViolation, "kicked")
		return nil, wsroute.ErrNoReply
	}, wsroute.RouteConfig{
		Summary:     "Have the server close this connection with 1008",
		Description: "A policy violation: a client must not reconnect after it.",
	})
}
