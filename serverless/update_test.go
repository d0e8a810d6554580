package serverless_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/serverless"
)

// API Gateway does not serialize the messages of one connection: two may
// run at once on two function instances. These tests hold one message
// (the "slow" one) inside its handler, after it read the connection's
// record, while another message of the same connection runs to the end on
// the other instance; then they let the slow one finish. Whatever each
// changed must survive: a blind write-back of the slow one's state would
// undo the other's subscription or log-out.

type updUser struct {
	Name string `json:"name"`
}

type updIn struct {
	Topic string `json:"topic,omitempty"`
	User  string `json:"user,omitempty"`
}

// updApp registers routes that change the state; every route with
// "slow" in its name first reports on entered, then waits for release.
func updApp(r *wsroute.Router, entered chan<- struct{}, release <-chan struct{}) {
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
	wait := func() {
		entered <- struct{}{}
		<-release
	}
	type change func(c *wsroute.Channel, in updIn) error
	subscribe := func(c *wsroute.Channel, in updIn) error { return c.Subscribe(in.Topic) }
	unsubscribe := func(c *wsroute.Channel, in updIn) error { c.Unsubscribe(in.Topic); return nil }
	login := func(c *wsroute.Channel, in updIn) error { c.SetSession(updUser{Name: in.User}); return nil }
	logout := func(c *wsroute.Channel, _ updIn) error { c.ClearSession(); return nil }
	nothing := func(*wsroute.Channel, updIn) error { return nil }
	for name, f := range map[string]change{"sub": subscribe, "unsub": unsubscribe, "login": login, "logout": logout, "nothing": nothing} {
		for _, slow := range []bool{false, true} {
			route := name
			if slow {
				route = "slow" + name
			}
			wsroute.Handle(ch, route, func(_ context.Context, c *wsroute.Channel, in updIn) (*struct{}, error) {
				if slow {
					wait()
				}
				return nil, f(c, in)
			}, wsroute.RouteConfig{Public: true})
		}
	}
}

// nullPoster accepts every post.
type nullPoster struct{}

func (nullPoster) Post(context.Context, string, []byte) error { return nil }
func (nullPoster) Delete(context.Context, string) error       { return nil }

func TestConcurrentMessagesOfOneConnection(t *testing.T) {
	stores := map[string]func(t *testing.T) serverless.ChannelStore{
		"memory": func(*testing.T) serverless.ChannelStore { return serverless.NewMemoryStore() },
		"redis":  suiteRedisStore,
	}
	type step struct{ action, topic, user string }
	cases := []struct {
		name       string
		before     []step // handled first, one by one
		slow, fast step   // slow holds after reading the record while fast runs
		topics     []string
		user       string // "" no session
	}{
		{name: "slow changes nothing, fast subscribes",
			slow: step{action: "slownothing"}, fast: step{action: "sub", topic: "a"},
			topics: []string{"a"}},
		{name: "both subscribe",
			slow: step{action: "slowsub", topic: "b"}, fast: step{action: "sub", topic: "a"},
			topics: []string{"a", "b"}},
		{name: "slow unsubscribes, fast subscribes",
			before: []step{{action: "sub", topic: "x"}},
			slow:   step{action: "slowunsub", topic: "x"}, fast: step{action: "sub", topic: "a"},
			topics: []string{"a"}},
		{name: "slow subscribes, fast logs in",
			slow: step{action: "slowsub", topic: "b"}, fast: step{action: "login", user: "ann"},
			topics: []string{"b"}, user: "ann"},
		{name: "slow subscribes, fast logs out: the log-out stays",
			before: []step{{action: "login", user: "ann"}},
			slow:   step{action: "slowsub", topic: "b"}, fast: step{action: "logout"},
			topics: []string{"b"}},
		{name: "slow logs in, fast subscribes",
			slow: step{action: "slowlogin", user: "bob"}, fast: step{action: "sub", topic: "a"},
			topics: []string{"a"}, user: "bob"},
		{name: "both log in: the later write wins",
			slow: step{action: "slowlogin", user: "bob"}, fast: step{action: "login", user: "ann"},
			user: "bob"},
	}
	for storeName, newStore := range stores {
		t.Run(storeName, func(t *testing.T) {
			store := newStore(t)
			entered, release := make(chan struct{}), make(chan struct{})
			var instances [2]*serverless.Handler
			for i := range instances {
				r := wsroute.New(wsroute.Options{})
				updApp(r, entered, release)
				t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
				h, err := serverless.NewHandler(serverless.Options{Router: r, Store: store, Poster: nullPoster{},
					Path: func(events.APIGatewayWebsocketProxyRequest) string { return "/c" }})
				require.NoError(t, err)
				instances[i] = h
			}
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					id := "conn-" + string(rune('a'+i))
					event := func(typ string, body []byte) events.APIGatewayWebsocketProxyRequest {
						return events.APIGatewayWebsocketProxyRequest{Body: string(body), RequestContext: events.APIGatewayWebsocketProxyRequestContext{
							ConnectionID: id, EventType: typ}}
					}
					handle := func(h *serverless.Handler, typ string, s step) {
						body := []byte(`{"action":"` + s.action + `","topic":"` + s.topic + `","user":"` + s.user + `"}`)
						resp, err := h.Handle(context.Background(), event(typ, body))
						assert.NoError(t, err)
						assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", s.action)
					}
					handle(instances[0], "CONNECT", step{})
					for _, s := range tc.before {
						handle(instances[0], "MESSAGE", s)
					}
					var wg sync.WaitGroup
					wg.Go(func() { handle(instances[0], "MESSAGE", tc.slow) })
					<-entered // the slow message has read the record
					handle(instances[1], "MESSAGE", tc.fast)
					release <- struct{}{}
					wg.Wait()

					st, ok, err := store.Get(context.Background(), id)
					require.NoError(t, err)
					require.True(t, ok)
					assert.Equal(t, tc.topics, st.Topics, "topics")
					var user string
					if st.Session != nil {
						var u updUser
						require.NoError(t, json.Unmarshal(st.Session, &u))
						user = u.Name
					}
					assert.Equal(t, tc.user, user, "session")
					for _, topic := range []string{"a", "b", "x"} {
						ids, err := store.Subscribers(context.Background(), topic)
						require.NoError(t, err)
						if slices.Contains(tc.topics, topic) {
							assert.Equal(t, []string{id}, ids, "subscribers of %s", topic)
						} else {
							assert.NotContains(t, ids, id, "subscribers of %s", topic)
						}
					}
					handle(instances[1], "DISCONNECT", step{})
				})
			}
		})
	}
}

// countingStore counts the writes of a message.
type countingStore struct {
	serverless.ChannelStore
	mu             sync.Mutex
	updates, touch int
}

func (s *countingStore) Update(ctx context.Context, old, st wsroute.ChannelState, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	s.updates++
	s.mu.Unlock()
	return s.ChannelStore.Update(ctx, old, st, ttl)
}

func (s *countingStore) Touch(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	s.touch++
	s.mu.Unlock()
	return s.ChannelStore.Touch(ctx, id, ttl)
}

// TestUnchangedStateOnlyTouches: a message that leaves the state as it
// was (a session and topics included) restarts the record's expiry
// instead of rewriting it; one that changes it rewrites it.
func TestUnchangedStateOnlyTouches(t *testing.T) {
	store := &countingStore{ChannelStore: serverless.NewMemoryStore()}
	r := wsroute.New(wsroute.Options{})
	updApp(r, nil, nil)
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	h, err := serverless.NewHandler(serverless.Options{Router: r, Store: store, Poster: nullPoster{},
		Path: func(events.APIGatewayWebsocketProxyRequest) string { return "/c" }})
	require.NoError(t, err)
	send := func(typ, body string) {
		resp, err := h.Handle(context.Background(), events.APIGatewayWebsocketProxyRequest{Body: body,
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{ConnectionID: "c1", EventType: typ}})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	send("CONNECT", "")
	send("MESSAGE", `{"action":"login","user":"ann"}`)
	send("MESSAGE", `{"action":"sub","topic":"a"}`)
	send("MESSAGE", `{"action":"sub","topic":"b"}`)
	assert.Equal(t, 3, store.updates, "changes are written")
	assert.Equal(t, 0, store.touch)
	send("MESSAGE", `{"action":"nothing"}`)
	send("MESSAGE", `{"action":"sub","topic":"a"}`)    // already subscribed
	send("MESSAGE", `{"action":"login","user":"ann"}`) // the same session again
	assert.Equal(t, 3, store.updates, "a message that changed nothing rewrote the record")
	assert.Equal(t, 3, store.touch)
	send("DISCONNECT", "")
}
