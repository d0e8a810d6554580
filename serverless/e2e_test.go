package serverless_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/serverless"
	"github.com/wsroute/wsroute/serverless/apigw"
)

// The same end-to-end suite runs against a long-lived Router over real
// sockets and against the serverless path — the API Gateway emulator, the
// Lambda handler, a ChannelStore — with every event handed to one of two
// "function instances" (two Routers of the same app sharing the store), in
// turn. Where the two modes must differ (a close code API Gateway cannot
// send), the suite says so.

type suiteUser struct {
	ID string `json:"id"`
}

// suiteApp registers the suite's application on r. Every OnDisconnect is
// recorded in gone, whichever Router (instance) ran it.
func suiteApp(r *wsroute.Router, gone *disconnects) {
	chat := r.Channel("/chat", wsroute.ChannelConfig{Public: true,
		Authenticator: wsroute.TokenAuth{Check: checkSuiteToken},
		OnDisconnect: func(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
			u, _ := wsroute.SessionAs[suiteUser](c)
			gone.add(c.ID(), u.ID)
		}})
	private := r.Channel("/private", wsroute.ChannelConfig{
		Authenticator: wsroute.TokenAuth{Check: checkSuiteToken}})
	for _, ch := range []*wsroute.ChannelRoute{chat, private} {
		wsroute.Handle(ch, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (suiteUser, error) {
			u, _ := wsroute.SessionAs[suiteUser](c)
			return u, nil
		})
	}
	wsroute.Handle(chat, "echo", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
		return in, nil
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(chat, "count", func(_ context.Context, _ *wsroute.Channel, in struct {
		N int `json:"n"`
	}) ([]int, error) {
		out := make([]int, in.N)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}, wsroute.RouteConfig{Public: true, Schema: wsroute.SchemaString(
		`{"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":5}},"required":["n"],"additionalProperties":false}`)})
	wsroute.Handle(chat, "login", func(_ context.Context, c *wsroute.Channel, in struct {
		User string `json:"user"`
	}) (suiteUser, error) {
		c.SetSession(suiteUser{ID: in.User})
		if in.User == "" || in.User == "mallory" {
			return suiteUser{}, wsroute.NewError(wsroute.CodeUnauthenticated, "who?")
		}
		return suiteUser{ID: in.User}, nil
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(chat, "logout", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		c.ClearSession()
		c.UnsubscribeAll()
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	wsroute.Handle(chat, "admin", func(context.Context, *wsroute.Channel, struct{}) (string, error) {
		return "welcome", nil
	}, wsroute.RouteConfig{Permissions: func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
		if u, _ := wsroute.SessionAs[suiteUser](c); u.ID != "root" {
			return wsroute.NewError(wsroute.CodeForbidden, "root only")
		}
		return nil
	}})
	wsroute.Handle(chat, "join", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		return nil, c.Subscribe("room")
	})
	wsroute.Handle(chat, "say", func(ctx context.Context, c *wsroute.Channel, in struct {
		Text string `json:"text"`
	}) (*struct{}, error) {
		u, _ := wsroute.SessionAs[suiteUser](c)
		return nil, c.Router().Publish(ctx, "room", map[string]string{"from": u.ID, "text": in.Text}, wsroute.PublishOptions{Exclude: c})
	})
}

func checkSuiteToken(_ context.Context, c *wsroute.Channel, tok string) error {
	switch {
	case tok == "good":
		c.SetSession(suiteUser{ID: "tok"})
	case strings.HasPrefix(tok, "short"):
		c.SetSessionUntil(suiteUser{ID: "short"}, time.Now().Add(300*time.Millisecond))
	default:
		return errors.New("bad token")
	}
	return nil
}

// disconnects records OnDisconnect calls.
type disconnects struct {
	mu   sync.Mutex
	seen map[string][]string // channel id → users, one entry per call
	ch   chan struct{}
}

func newDisconnects() *disconnects {
	return &disconnects{seen: map[string][]string{}, ch: make(chan struct{}, 64)}
}

func (d *disconnects) add(id, user string) {
	d.mu.Lock()
	d.seen[id] = append(d.seen[id], user)
	d.mu.Unlock()
	d.ch <- struct{}{}
}

// wait waits for n calls in all, then reports every id's calls.
func (d *disconnects) wait(t *testing.T, n int) map[string][]string {
	t.Helper()
	for {
		d.mu.Lock()
		total := 0
		for _, v := range d.seen {
			total += len(v)
		}
		if total >= n {
			out := map[string][]string{}
			for k, v := range d.seen {
				out[k] = append([]string(nil), v...)
			}
			d.mu.Unlock()
			return out
		}
		d.mu.Unlock()
		select {
		case <-d.ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d OnDisconnect calls within 10s, want %d", total, n)
		}
	}
}

// mode is one way of serving the suite's app.
type mode struct {
	name string
	// start serves the app and returns a dial function: path is the
	// channel path with its query ("/private?token=good").
	start func(t *testing.T, gone *disconnects) (dial func(path string) (*websocket.Conn, *http.Response, error), serverless *serverlessEnv)
}

// serverlessEnv is what the serverless-only tests reach into.
type serverlessEnv struct {
	store serverless.ChannelStore
}

func socketMode() mode {
	return mode{name: "socket", start: func(t *testing.T, gone *disconnects) (func(string) (*websocket.Conn, *http.Response, error), *serverlessEnv) {
		r := wsroute.New(wsroute.Options{})
		suiteApp(r, gone)
		srv := httptest.NewServer(r)
		t.Cleanup(func() {
			srv.Close()
			require.NoError(t, r.Shutdown(context.Background()))
		})
		base := "ws" + strings.TrimPrefix(srv.URL, "http")
		return func(path string) (*websocket.Conn, *http.Response, error) {
			return websocket.Dial(t.Context(), base+path, nil)
		}, nil
	}}
}

var suiteCreds = aws.Credentials{AccessKeyID: "AKIDSUITE", SecretAccessKey: "suite-secret"}

func serverlessMode(name string, newStore func(t *testing.T) serverless.ChannelStore) mode {
	return mode{name: name, start: func(t *testing.T, gone *disconnects) (func(string) (*websocket.Conn, *http.Response, error), *serverlessEnv) {
		store := newStore(t)
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		poster, err := apigw.NewManagementClient(apigw.ManagementOptions{Endpoint: srv.URL + "/ws",
			Credentials: apigw.StaticCredentials(suiteCreds.AccessKeyID, suiteCreds.SecretAccessKey, "")})
		require.NoError(t, err)
		// Two function instances of the same app, sharing the store.
		var instances [2]*serverless.Handler
		var routers [2]*wsroute.Router
		for i := range instances {
			b := serverless.NewBroker(store, poster)
			routers[i] = wsroute.New(wsroute.Options{Broker: b})
			suiteApp(routers[i], gone)
			h, err := serverless.NewHandler(serverless.Options{Router: routers[i], Store: store, Poster: poster, Broker: b,
				Path: func(ev events.APIGatewayWebsocketProxyRequest) string {
					q := url.Values{}
					for k, v := range ev.QueryStringParameters {
						q.Set(k, v)
					}
					p := q.Get("path")
					q.Del("path")
					if len(q) > 0 {
						p += "?" + q.Encode()
					}
					return p
				}})
			require.NoError(t, err)
			instances[i] = h
		}
		var turn atomic.Uint64
		emu, err := apigw.NewEmulator(apigw.EmulatorOptions{Stage: "ws", Credentials: &suiteCreds,
			Handler: func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				return instances[turn.Add(1)%2].Handle(ctx, ev)
			}})
		require.NoError(t, err)
		mux.Handle("/", emu)
		t.Cleanup(func() {
			require.NoError(t, emu.Shutdown(context.Background()))
			srv.Close()
			for _, r := range routers {
				require.NoError(t, r.Shutdown(context.Background()))
			}
		})
		base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
		return func(path string) (*websocket.Conn, *http.Response, error) {
			p, q, _ := strings.Cut(path, "?")
			u := base + "?path=" + url.QueryEscape(p)
			if q != "" {
				u += "&" + q
			}
			return websocket.Dial(t.Context(), u, nil)
		}, &serverlessEnv{store: store}
	}}
}

// client is a test's WebSocket client.
type client struct {
	t *testing.T
	c *websocket.Conn
}

func open(t *testing.T, dial func(string) (*websocket.Conn, *http.Response, error), path string) *client {
	t.Helper()
	c, _, err := dial(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &client{t: t, c: c}
}

func (c *client) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(c.t, c.c.Write(ctx, websocket.MessageText, []byte(frame)))
}

func (c *client) read() string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	require.NoError(c.t, err)
	return string(b)
}

func (c *client) call(frame string) string {
	c.t.Helper()
	c.send(frame)
	return c.read()
}

// closed waits for the server to close the connection and returns its code.
func (c *client) closed() websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := c.c.Read(ctx)
		if err != nil {
			require.NoError(c.t, ctx.Err(), "the server did not close the connection")
			return websocket.CloseStatus(err)
		}
	}
}

func runSuite(t *testing.T, m mode) {
	t.Run("protocol", func(t *testing.T) {
		dial, _ := m.start(t, newDisconnects())
		c := open(t, dial, "/chat")
		assert.Equal(t, `{"action":"echo","ref":1,"a":[1,2]}`, c.call(`{"action":"echo","ref":1,"a":[1,2]}`))
		assert.Equal(t, `{"action":"echo","ref":"x"}`, c.call(`{"action":"echo","ref":"x"}`))
		assert.Equal(t, `{"action":"count","result":[0,1,2]}`, c.call(`{"action":"count","n":3}`))
		assert.JSONEq(t, `{"action":"count","ref":2,"error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/n","message":"maximum: got 9, want 5"}]}}`,
			c.call(`{"action":"count","ref":2,"n":9}`))
		assert.JSONEq(t, `{"action":"nope","error":{"code":"not_found","message":"no route \"nope\""}}`, c.call(`{"action":"nope"}`))
		assert.JSONEq(t, `{"error":{"code":"bad_request","message":"frame is not valid JSON"}}`, c.call(`{"action":`))
		assert.Contains(t, c.call(`{"action":"echo","ref":{}}`), `"code":"bad_request"`)
	})
	t.Run("sessions", func(t *testing.T) {
		dial, _ := m.start(t, newDisconnects())
		c := open(t, dial, "/chat")
		assert.Contains(t, c.call(`{"action":"whoami"}`), `"code":"unauthenticated"`)
		assert.Equal(t, `{"action":"login","id":"ann"}`, c.call(`{"action":"login","user":"ann"}`))
		assert.Contains(t, c.call(`{"action":"login","user":"mallory"}`), `"code":"unauthenticated"`)
		assert.Equal(t, `{"action":"whoami","id":"ann"}`, c.call(`{"action":"whoami"}`), "a failed log-in is undone")
		assert.Contains(t, c.call(`{"action":"admin"}`), `"code":"forbidden"`)
		assert.Equal(t, `{"action":"logout"}`, c.call(`{"action":"logout"}`))
		assert.Contains(t, c.call(`{"action":"whoami"}`), `"code":"unauthenticated"`)
		assert.Equal(t, `{"action":"login","id":"root"}`, c.call(`{"action":"login","user":"root"}`))
		assert.Equal(t, `{"action":"admin","result":"welcome"}`, c.call(`{"action":"admin"}`))

		p := open(t, dial, "/private?token=good")
		assert.Equal(t, `{"action":"whoami","id":"tok"}`, p.call(`{"action":"whoami"}`), "a session set at connect")
		_, resp, err := dial("/private")
		require.Error(t, err)
		require.NotNil(t, resp)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "refused before the upgrade")
	})
	t.Run("expiry", func(t *testing.T) {
		dial, _ := m.start(t, newDisconnects())
		p := open(t, dial, "/private?token=short")
		assert.Equal(t, `{"action":"whoami","id":"short"}`, p.call(`{"action":"whoami"}`))
		time.Sleep(400 * time.Millisecond) // the session expires at 300 ms
		_ = p.c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"whoami"}`))
		code := p.closed()
		if m.name == "socket" {
			assert.Equal(t, wsroute.StatusSessionExpired, code, "closed at expiry with 4401")
		} else {
			// API Gateway cannot send a close code of the application's:
			// DeleteConnection closes with 1000, at the next event.
			assert.Equal(t, websocket.StatusNormalClosure, code)
		}
	})
	t.Run("topics", func(t *testing.T) {
		dial, _ := m.start(t, newDisconnects())
		a, b, c := open(t, dial, "/chat"), open(t, dial, "/chat"), open(t, dial, "/chat")
		for _, x := range []struct {
			c    *client
			name string
		}{{a, "ann"}, {b, "bob"}, {c, "cy"}} {
			x.c.call(`{"action":"login","user":"` + x.name + `"}`)
		}
		for _, x := range []*client{a, b, c} {
			assert.Equal(t, `{"action":"join"}`, x.call(`{"action":"join"}`))
		}
		assert.Equal(t, `{"action":"say"}`, a.call(`{"action":"say","text":"hi"}`))
		for _, x := range []*client{b, c} {
			assert.JSONEq(t, `{"topic":"room","data":{"from":"ann","text":"hi"}}`, x.read())
		}
		assert.Equal(t, `{"action":"logout"}`, c.call(`{"action":"logout"}`), "log-out leaves the room")
		assert.Equal(t, `{"action":"say"}`, b.call(`{"action":"say","text":"yo"}`))
		assert.JSONEq(t, `{"topic":"room","data":{"from":"bob","text":"yo"}}`, a.read())
		assert.Equal(t, `{"action":"echo","n":1}`, c.call(`{"action":"echo","n":1}`), "cy got no event")
	})
	t.Run("disconnect once", func(t *testing.T) {
		gone := newDisconnects()
		dial, _ := m.start(t, gone)
		a, b := open(t, dial, "/chat"), open(t, dial, "/chat")
		a.call(`{"action":"login","user":"ann"}`)
		b.call(`{"action":"login","user":"bob"}`)
		require.NoError(t, a.c.Close(websocket.StatusNormalClosure, "bye"))
		_ = b.c.CloseNow()
		seen := gone.wait(t, 2)
		require.Len(t, seen, 2)
		for id, users := range seen {
			assert.Len(t, users, 1, "OnDisconnect of %s ran %d times", id, len(users))
		}
		time.Sleep(100 * time.Millisecond) // room for a wrong second call to show
		assert.Equal(t, seen, gone.wait(t, 2), "no OnDisconnect ran twice")
	})
}

func TestSuiteSocket(t *testing.T) { runSuite(t, socketMode()) }

func TestSuiteServerlessMemory(t *testing.T) {
	runSuite(t, serverlessMode("serverless-memory", func(*testing.T) serverless.ChannelStore { return serverless.NewMemoryStore() }))
}

func TestSuiteServerlessRedis(t *testing.T) {
	runSuite(t, serverlessMode("serverless-redis", func(t *testing.T) serverless.ChannelStore { return suiteRedisStore(t) }))
}

// TestGoneConnection: a connection the store still has but the gateway no
// longer knows (its $disconnect never came) is found by a publish: the
// Management API answers 410, the record is deleted and its close
// lifecycle runs, once.
func TestGoneConnection(t *testing.T) {
	gone := newDisconnects()
	dial, env := serverlessMode("serverless-memory", func(*testing.T) serverless.ChannelStore { return serverless.NewMemoryStore() }).start(t, gone)
	ghost := wsroute.ChannelState{ID: "ghost=", Channel: "/chat", URL: "/chat", Connected: true,
		Session: json.RawMessage(`{"id":"casper"}`), Topics: []string{"room"}}
	require.NoError(t, env.store.Put(t.Context(), ghost, time.Hour))
	a := open(t, dial, "/chat")
	a.call(`{"action":"login","user":"ann"}`)
	assert.Equal(t, `{"action":"say"}`, a.call(`{"action":"say","text":"anyone?"}`))
	seen := gone.wait(t, 1)
	assert.Equal(t, map[string][]string{"ghost=": {"casper"}}, seen)
	_, ok, err := env.store.Get(t.Context(), "ghost=")
	require.NoError(t, err)
	assert.False(t, ok, "the record is gone")
}

// suiteRedisStore is a RedisStore on a fresh prefix of the test Redis.
func suiteRedisStore(t *testing.T) serverless.ChannelStore {
	return newRedisStore(t).RedisStore
}
