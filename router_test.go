package wsroute_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

func noop[In, Out any](context.Context, *wsroute.Channel, In) (Out, error) {
	var out Out
	return out, nil
}

func TestRegistrationMistakes(t *testing.T) {
	t.Parallel()
	type withAction struct {
		Action string `json:"action"`
	}
	type withRefByName struct{ REF int } // encoding/json matches "ref" to it, ignoring case
	type embedded struct{ withAction }
	tests := []struct {
		name  string
		setup func(r *wsroute.Router)
		want  string
	}{
		{"duplicate path", func(r *wsroute.Router) {
			r.Channel("/a", wsroute.ChannelConfig{Name: "one"})
			r.Channel("/a", wsroute.ChannelConfig{Name: "two"})
		}, `wsroute: channel "/a": pattern "/a"`},
		{"duplicate name", func(r *wsroute.Router) {
			r.Channel("/a", wsroute.ChannelConfig{Name: "x"})
			r.Channel("/b", wsroute.ChannelConfig{Name: "x"})
		}, `wsroute: channel name "x" registered twice`},
		{"pattern with method", func(r *wsroute.Router) { r.Channel("GET /a", wsroute.ChannelConfig{}) }, `wsroute: channel "GET /a": pattern "GET /a" has a method`},
		{"bad pattern", func(r *wsroute.Router) { r.Channel("/a/{x", wsroute.ChannelConfig{}) }, `wsroute: channel "/a/{x"`},
		{"empty pattern", func(r *wsroute.Router) { r.Channel("", wsroute.ChannelConfig{}) }, `empty pattern`},
		{"same route keys", func(r *wsroute.Router) { r.Channel("/a", wsroute.ChannelConfig{RouteKey: "k", RefKey: "k"}) }, `RouteKey and RefKey are both "k"`},
		{"nil handler", func(r *wsroute.Router) {
			wsroute.Handle[struct{}, struct{}](r.Channel("/a", wsroute.ChannelConfig{}), "x", nil)
		}, `wsroute: channel "/a" route "x": nil handler`},
		{"empty route name", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "", noop[struct{}, struct{}])
		}, `empty route name`},
		{"duplicate route", func(r *wsroute.Router) {
			ch := r.Channel("/a", wsroute.ChannelConfig{})
			wsroute.Handle(ch, "x", noop[struct{}, struct{}])
			wsroute.Handle(ch, "x", noop[struct{}, struct{}])
		}, `wsroute: channel "/a" route "x": registered twice`},
		{"duplicate default", func(r *wsroute.Router) {
			ch := r.Channel("/a", wsroute.ChannelConfig{})
			fn := func(context.Context, *wsroute.Channel, *wsroute.Message) error { return nil }
			wsroute.HandleDefault(ch, fn)
			wsroute.HandleDefault(ch, fn)
		}, `default handler: registered twice`},
		{"schema does not compile", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "x", noop[struct{}, struct{}],
				wsroute.RouteConfig{Schema: wsroute.SchemaString(`{"type":12}`)})
		}, `wsroute: channel "/a" route "x": schema:`},
		{"schema file missing", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "x", noop[struct{}, struct{}],
				wsroute.RouteConfig{Schema: wsroute.SchemaFile("testdata/nope.json")})
		}, `nope.json`},
		{"schema names the route key", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "x", noop[struct{}, struct{}],
				wsroute.RouteConfig{Schema: wsroute.SchemaString(`{"properties":{"action":{}}}`)})
		}, `names property "action", which is reserved`},
		{"input type has the route key", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "x", noop[withAction, struct{}])
		}, `input type wsroute_test.withAction has a field named "action"`},
		{"input type has the ref, by case", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "x", noop[withRefByName, struct{}])
		}, `has a field named "REF"`},
		{"output type embeds the route key", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "x", noop[struct{}, *embedded])
		}, `output type *wsroute_test.embedded has a field named "action"`},
		{"custom route key", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{RouteKey: "type"}), "x", noop[struct{ Type string }, struct{}])
		}, `has a field named "Type"`},
		{"two configs", func(r *wsroute.Router) {
			wsroute.Handle(r.Channel("/a", wsroute.ChannelConfig{}), "x", noop[struct{}, struct{}], wsroute.RouteConfig{}, wsroute.RouteConfig{})
		}, `more than one RouteConfig`},
		{"after serving", func(r *wsroute.Router) {
			r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			r.Channel("/late", wsroute.ChannelConfig{})
		}, `registered after the Router started serving`},
		{"nil permission", func(r *wsroute.Router) { wsroute.AllOf(nil) }, `AllOf: permission 0 is nil`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := wsroute.New(wsroute.Options{})
			msg := func() (msg string) {
				defer func() { msg, _ = recover().(string) }()
				tt.setup(r)
				return ""
			}()
			assert.Contains(t, msg, tt.want)
		})
	}
}

func TestHTTPAnswers(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{Authenticator: tokenAuth,
		AcceptOptions: nil})
	r.Channel("/private", wsroute.ChannelConfig{})
	r.Channel("/alice", wsroute.ChannelConfig{Permissions: func(_ context.Context, c *wsroute.Channel, _ *wsroute.Message) error {
		if u, _ := wsroute.SessionAs[user](c); u.ID != "alice" {
			return errors.New("not alice")
		}
		return nil
	}})
	r.Channel("/rooms/{room}", wsroute.ChannelConfig{Public: true})
	r.Channel("/refuses", wsroute.ChannelConfig{Public: true, Authenticator: wsroute.AuthenticatorFunc(func(context.Context, *wsroute.Channel) error {
		return wsroute.NewError(wsroute.CodeUnavailable, "maintenance")
	})})
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		target string
		header http.Header
		status int
		code   string
	}{
		{"no channel", "GET", "/nope", upgrade, 404, "not_found"},
		{"no channel below a pattern", "GET", "/rooms/a/b", upgrade, 404, "not_found"},
		{"plain GET", "GET", "/rooms/a", nil, 426, "bad_request"},
		{"plain POST", "POST", "/rooms/a", nil, 426, "bad_request"},
		{"upgrade by POST", "POST", "/rooms/a", upgrade, 400, "bad_request"},
		{"wrong version", "GET", "/rooms/a", with(upgrade, "Sec-WebSocket-Version", "8"), 400, "bad_request"},
		{"no key", "GET", "/rooms/a", with(upgrade, "Sec-WebSocket-Key", ""), 400, "bad_request"},
		{"bad key", "GET", "/rooms/a", with(upgrade, "Sec-WebSocket-Key", "short"), 400, "bad_request"},
		{"cross-site origin", "GET", "/rooms/a", with(upgrade, "Origin", "https://evil.example"), 403, "forbidden"},
		{"no session", "GET", "/private", upgrade, 401, "unauthenticated"},
		{"bad token", "GET", "/private?token=nope", upgrade, 401, "unauthenticated"},
		{"permission refused", "GET", "/alice?token=bob-token", upgrade, 403, "forbidden"},
		{"authenticator refuses", "GET", "/refuses", upgrade, 503, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.target, nil)
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			assert.Equal(t, tt.status, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Equal(t, tt.code, decode(t, rec.Body.String())["error"].(map[string]any)["code"])
			if tt.status == 426 {
				assert.Equal(t, "websocket", rec.Header().Get("Upgrade"))
			}
		})
	}
	t.Run("in memory too", func(t *testing.T) {
		_, err := wsroutetest.Dial(t.Context(), r, "/alice", &wsroutetest.DialOptions{Header: http.Header{"Authorization": {"Bearer bob-token"}}})
		var he *wsroutetest.HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 403, he.StatusCode)
		assert.Equal(t, "forbidden", he.Code)
	})
	t.Run("opens", func(t *testing.T) {
		c := wsroutetest.MustDial(t, r, "/alice", &wsroutetest.DialOptions{Header: http.Header{"Authorization": {"bearer alice-token"}}})
		u, ok := wsroute.SessionAs[user](c.Channel())
		assert.True(t, ok)
		assert.Equal(t, "alice", u.ID)
	})
}

func TestChannelRequestData(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{})
	r.Channel("/rooms/{room}/{rest...}", wsroute.ChannelConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/rooms/kitchen/a/b?x=1", &wsroutetest.DialOptions{
		Header:     http.Header{"X-Test": {"yes"}, "Cookie": {"sid=abc"}},
		RemoteAddr: "198.51.100.7:4242",
	})
	ch := c.Channel()
	assert.Equal(t, "kitchen", ch.PathValue("room"))
	assert.Equal(t, "a/b", ch.PathValue("rest"))
	assert.Equal(t, "1", ch.Query().Get("x"))
	assert.Equal(t, "yes", ch.Header().Get("X-Test"))
	ck, err := ch.Cookie("sid")
	require.NoError(t, err)
	assert.Equal(t, "abc", ck.Value)
	assert.Equal(t, "198.51.100.7:4242", ch.RemoteAddr())
	assert.Equal(t, "/rooms/{room}/{rest...}", ch.Name())
	got, ok := r.Lookup(ch.ID())
	assert.True(t, ok)
	assert.Same(t, ch, got)
	assert.Equal(t, 1, r.Len())
}

func TestMaxChannels(t *testing.T) {
	t.Parallel()
	r := newRouter(t, wsroute.Options{MaxChannels: 1})
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
	var he *wsroutetest.HandshakeError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusServiceUnavailable, he.StatusCode)
	assert.Equal(t, "unavailable", he.Code)
	c.Drop()
	wsroutetest.MustDial(t, r, "/c", nil) // the slot is free again
}

func TestOpenOrder(t *testing.T) {
	t.Parallel()
	var order []string
	mw := func(name string) wsroute.Middleware {
		return func(next wsroute.Handler) wsroute.Handler {
			return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
				order = append(order, name+">"+map[bool]string{true: "open", false: m.Route()}[m.IsOpen()])
				err := next.Handle(ctx, c, m)
				order = append(order, "<"+name)
				return err
			})
		}
	}
	r := newRouter(t, wsroute.Options{Middleware: []wsroute.Middleware{mw("router")}})
	ch := r.Channel("/c", wsroute.ChannelConfig{
		Middleware: []wsroute.Middleware{mw("channel")},
		Authenticator: wsroute.AuthenticatorFunc(func(_ context.Context, c *wsroute.Channel) error {
			order = append(order, "auth")
			c.SetSession(user{ID: "u"})
			return nil
		}),
		Permissions: func(_ context.Context, c *wsroute.Channel, m *wsroute.Message) error {
			order = append(order, "permissions")
			assert.True(t, m.IsOpen())
			return nil
		},
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			order = append(order, "connect")
			return nil
		},
	})
	wsroute.Handle(ch, "x", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
		order = append(order, "handler")
		return nil, nil
	}, wsroute.RouteConfig{
		Middleware: []wsroute.Middleware{mw("route")},
		Permissions: func(context.Context, *wsroute.Channel, *wsroute.Message) error {
			order = append(order, "route permissions")
			return nil
		},
	})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	exchange(t, c, `{"action":"x"}`)
	assert.Equal(t, []string{
		"router>open", "channel>open", "auth", "permissions", "<channel", "<router", "connect",
		"router>x", "channel>x", "route>x", "route permissions", "handler", "<route", "<channel", "<router",
	}, order)
}

func TestOnConnectFailure(t *testing.T) {
	t.Parallel()
	disconnected := 0
	logs := &logBuffer{}
	r := newRouter(t, wsroute.Options{Logger: logs.logger()})
	r.Channel("/c", wsroute.ChannelConfig{Public: true,
		OnConnect: func(ctx context.Context, c *wsroute.Channel) error {
			_ = c.Send(ctx, "sorry")
			return errors.New("no database")
		},
		OnDisconnect: func(context.Context, *wsroute.Channel, wsroute.CloseInfo) { disconnected++ },
	})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	err := c.Wait(t.Context())
	assert.Equal(t, 1011, int(websocketStatus(err)))
	got, _ := c.Read(t.Context())
	assert.Equal(t, `"sorry"`, string(got), "frames queued before the close are delivered")
	assert.Zero(t, disconnected, "OnDisconnect only follows a successful OnConnect")
	assert.Contains(t, logs.String(), "no database")
}
