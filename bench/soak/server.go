package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wsroute/wsroute"
)

// The soak Router's settings: a small send queue, short write timeout and
// fast heartbeat so that clients that stop reading or answering are dropped
// within the run.
const (
	soakSendQueue    = 256
	soakWriteTimeout = 3 * time.Second
	soakPingInterval = time.Second
	soakPongTimeout  = 5 * time.Second // generous: the race detector slows clients down
	soakFirstMessage = 2 * time.Second // the lobby's FirstMessageTimeout
	newsTopic        = "news"
	boomEvery        = 4 // boom panics when n is a multiple of this
)

// The rate limits: /ordered lets well-behaved clients (which pace
// themselves below orderedPace) through untouched; /limited refuses floods
// after limitedBurst messages and closes them with 1008.
var (
	orderedRate = wsroute.RateLimit{Rate: 5000, Burst: 1000}
	limitedRate = wsroute.RateLimit{Rate: 50, Burst: limitedBurst, MaxRefused: 50, Window: 10 * time.Second}
)

// limitedBurst is the burst of /limited: floods get this many answers first.
const limitedBurst = 100

// echoSchema is the schema of the ordered channel's echo route.
const echoSchema = `{"type":"object","properties":{"title":{"type":"string","maxLength":64},"n":{"type":"integer","minimum":0}},"required":["title","n"],"additionalProperties":false}`

// user is the typed session set from a token.
type user struct{ ID string }

// echoMsg is the echo routes' input and output.
type echoMsg struct {
	Title string `json:"title"`
	N     int64  `json:"n"`
}

// slowIn asks the slow route to sleep MS milliseconds.
type slowIn struct {
	MS int `json:"ms"`
}

// slowOut is the slow route's reply.
type slowOut struct {
	Slept int `json:"slept"`
}

// numIn carries a number (boom's input).
type numIn struct {
	N int64 `json:"n"`
}

// publishIn asks to publish event{From, Seq} to Topic.
type publishIn struct {
	Topic string `json:"topic"`
	From  string `json:"from"`
	Seq   int64  `json:"seq"`
}

// event is the payload of a topic event.
type event struct {
	From string `json:"from"`
	Seq  int64  `json:"seq"`
}

// topicIn names a topic to subscribe to or leave.
type topicIn struct {
	Topic string `json:"topic"`
}

// burstIn asks for N pushes of Size bytes each.
type burstIn struct {
	N    int `json:"n"`
	Size int `json:"size"`
}

// tokenIn carries a log-in token.
type tokenIn struct {
	Token string `json:"token"`
}

// whoOut names the session's user.
type whoOut struct {
	User string `json:"user"`
}

// defaultOut is the lobby default handler's reply.
type defaultOut struct {
	Default bool `json:"default"`
	JSON    bool `json:"json"`
	Len     int  `json:"len"`
}

// ack is a handler result that encodes to null: the reply is an ack.
type ack = *struct{}

// serverStats counts what the handlers did.
type serverStats struct {
	panics       atomic.Int64 // boom panics raised
	published    atomic.Int64 // successful Router.Publish calls from handlers
	slowCanceled atomic.Int64 // slow handlers ended by their context
	bursts       atomic.Int64 // bursts cut short by a closed or slow channel
}

// sessionFromToken turns "user-<id>" into a session and "brief-<ms>-<id>"
// into one that expires after ms milliseconds.
func sessionFromToken(c *wsroute.Channel, token string) error {
	if id, ok := strings.CutPrefix(token, "user-"); ok && id != "" {
		c.SetSession(user{ID: token})
		return nil
	}
	if rest, ok := strings.CutPrefix(token, "brief-"); ok {
		ms, id, _ := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(ms); err == nil && n > 0 && id != "" {
			c.SetSessionUntil(user{ID: token}, time.Now().Add(time.Duration(n)*time.Millisecond))
			return nil
		}
	}
	return errors.New("unknown token")
}

// newSoakRouter builds the Router under test. /ordered requires a session
// to open and answers in order: echo (schema), slow, boom (panics for every
// boomEvery-th n), publish, subscribe, unsubscribe, whoami and burst (pushes
// for slow-consumer tests). /limited has echo and boom under a tight rate
// limit. /lobby opens without a session and closes channels that send
// nothing for soakFirstMessage: login, logout, secret (session required),
// echo, and a default handler; ?fail=error|panic makes its OnConnect fail,
// ?deny=1 its permission refuse, ?slowconnect=1 its OnConnect take 20 ms.
func newSoakRouter(l *ledger, st *serverStats, obs *wsroute.Observer, logs *countingHandler) *wsroute.Router {
	r := wsroute.New(wsroute.Options{
		Authenticator: wsroute.TokenAuth{Check: func(_ context.Context, c *wsroute.Channel, token string) error {
			return sessionFromToken(c, token)
		}},
		Observer:   obs,
		Logger:     logs.logger(),
		Middleware: []wsroute.Middleware{l.middleware},
		Limits: wsroute.Limits{
			SendQueue:    soakSendQueue,
			WriteTimeout: soakWriteTimeout,
			PingInterval: soakPingInterval,
			PongTimeout:  soakPongTimeout,
		},
	})
	ordered := r.Channel("/ordered", wsroute.ChannelConfig{
		Name: "ordered", OnConnect: l.onConnect(nil), OnDisconnect: l.onDisconnect, Limits: wsroute.Limits{RateLimit: orderedRate},
	})
	limited := r.Channel("/limited", wsroute.ChannelConfig{
		Name: "limited", OnConnect: l.onConnect(nil), OnDisconnect: l.onDisconnect, Limits: wsroute.Limits{RateLimit: limitedRate},
	})
	for _, cr := range []*wsroute.ChannelRoute{ordered, limited} {
		wsroute.Handle(cr, "echo", func(_ context.Context, _ *wsroute.Channel, in echoMsg) (echoMsg, error) {
			return in, nil
		}, wsroute.RouteConfig{Schema: wsroute.SchemaString(echoSchema)})
		wsroute.Handle(cr, "boom", boom(st))
	}
	wsroute.Handle(ordered, "slow", func(ctx context.Context, _ *wsroute.Channel, in slowIn) (slowOut, error) {
		t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return slowOut{Slept: in.MS}, nil
		case <-ctx.Done():
			st.slowCanceled.Add(1)
			return slowOut{}, ctx.Err()
		}
	})
	wsroute.Handle(ordered, "publish", func(ctx context.Context, c *wsroute.Channel, in publishIn) (ack, error) {
		err := c.Router().Publish(ctx, in.Topic, event{From: in.From, Seq: in.Seq}, wsroute.PublishOptions{Exclude: c})
		if err == nil {
			st.published.Add(1)
		}
		return nil, err
	})
	wsroute.Handle(ordered, "subscribe", func(_ context.Context, c *wsroute.Channel, in topicIn) (ack, error) {
		return nil, c.Subscribe(in.Topic)
	})
	wsroute.Handle(ordered, "unsubscribe", func(_ context.Context, c *wsroute.Channel, in topicIn) (ack, error) {
		c.Unsubscribe(in.Topic)
		return nil, nil
	})
	wsroute.Handle(ordered, "whoami", whoami)
	wsroute.Handle(ordered, "burst", func(ctx context.Context, c *wsroute.Channel, in burstIn) (ack, error) {
		payload := strings.Repeat("x", min(max(in.Size, 1), 4096))
		for range min(in.N, 50_000) {
			if err := c.Send(ctx, payload); err != nil {
				st.bursts.Add(1)
				return nil, wsroute.ErrNoReply
			}
		}
		return nil, nil
	})

	lobby := r.Channel("/lobby", wsroute.ChannelConfig{
		Name: "lobby", Public: true,
		Permissions: func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
			if c.Query().Get("deny") != "" {
				return errors.New("denied by ?deny")
			}
			return nil
		},
		OnConnect:    l.onConnect(lobbyConnect),
		OnDisconnect: l.onDisconnect,
		Limits:       wsroute.Limits{FirstMessageTimeout: soakFirstMessage},
	})
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(lobby, "login", func(_ context.Context, c *wsroute.Channel, in tokenIn) (ack, error) {
		if err := sessionFromToken(c, in.Token); err != nil {
			return nil, wsroute.NewError(wsroute.CodeUnauthenticated, "bad token")
		}
		return nil, nil
	}, public)
	wsroute.Handle(lobby, "logout", func(_ context.Context, c *wsroute.Channel, _ struct{}) (ack, error) {
		c.ClearSession()
		return nil, nil
	}, public)
	wsroute.Handle(lobby, "secret", whoami)
	wsroute.Handle(lobby, "echo", func(_ context.Context, _ *wsroute.Channel, in echoMsg) (echoMsg, error) {
		return in, nil
	}, public)
	wsroute.HandleDefaultReply(lobby, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) (defaultOut, error) {
		return defaultOut{Default: true, JSON: m.IsJSON(), Len: len(m.Data())}, nil
	}, public)
	return r
}

// boom returns n, and panics when n is a multiple of boomEvery.
func boom(st *serverStats) func(context.Context, *wsroute.Channel, numIn) (int64, error) {
	return func(_ context.Context, _ *wsroute.Channel, in numIn) (int64, error) {
		if in.N%boomEvery == 0 {
			st.panics.Add(1)
			panic("soak: boom " + strconv.FormatInt(in.N, 10))
		}
		return in.N, nil
	}
}

// whoami answers with the session's user.
func whoami(_ context.Context, c *wsroute.Channel, _ struct{}) (whoOut, error) {
	u, ok := wsroute.SessionAs[user](c)
	if !ok {
		return whoOut{}, wsroute.NewError(wsroute.CodeUnauthenticated, "no session")
	}
	return whoOut{User: u.ID}, nil
}

// lobbyConnect is the lobby's OnConnect: it fails or panics when asked to by
// the query, and takes a while with ?slowconnect=1.
func lobbyConnect(ctx context.Context, c *wsroute.Channel) error {
	q := c.Query()
	if q.Get("slowconnect") != "" {
		t := time.NewTimer(20 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	switch q.Get("fail") {
	case "error":
		return errors.New("soak: OnConnect refused")
	case "panic":
		panic("soak: OnConnect panic")
	}
	return nil
}
