package brokertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// The tests below run Routers on the Broker, with clients connected in
// memory (wsroutetest): what they exercise is how the Router calls the
// Broker, not the network between clients and a node.

type topicIn struct {
	Topic string `json:"topic"`
}

// HandleSubscriptions gives ch the public actions sub and unsub, of
// {"topic": ...}, which subscribe and unsubscribe the channel: the routes
// through which the Router-level tests of a Broker drive it.
func HandleSubscriptions(ch *wsroute.ChannelRoute) {
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, in topicIn) (*struct{}, error) {
		return nil, c.Subscribe(in.Topic)
	}, public)
	wsroute.Handle(ch, "unsub", func(_ context.Context, c *wsroute.Channel, in topicIn) (*struct{}, error) {
		c.Unsubscribe(in.Topic)
		return nil, nil
	}, public)
}

// newNode returns a Router on b whose /chat channel has the actions of
// HandleSubscriptions. It is shut down when the test ends.
func newNode(t testing.TB, b wsroute.Broker) *wsroute.Router {
	t.Helper()
	r := wsroute.New(wsroute.Options{Broker: b})
	HandleSubscriptions(r.Channel("/chat", wsroute.ChannelConfig{Public: true}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
	})
	return r
}

// dial connects a client to r's /chat channel, dropped when the test ends.
func dial(t testing.TB, r *wsroute.Router) *wsroutetest.Conn {
	t.Helper()
	return wsroutetest.MustDial(t, r, "/chat", nil)
}

// cut cuts c's connection, like a network failure, without waiting for the
// channel's end: its Subscribe may still be waiting for the engine.
func cut(c *wsroutetest.Conn) { go c.Drop() }

// within returns the next frame c receives within wait, if one does.
func within(t testing.TB, c *wsroutetest.Conn, wait time.Duration) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	f, err := c.Read(ctx)
	if err != nil && ctx.Err() == nil {
		t.Fatalf("the connection ended: %v", err)
	}
	return string(f), err == nil
}

// next returns the next frame c receives, failing t if none does within 10s.
func next(t testing.TB, c *wsroutetest.Conn) string {
	t.Helper()
	f, ok := within(t, c, 10*time.Second)
	if !ok {
		t.Fatal("no frame within 10s")
	}
	return f
}

// request sends a message asking for action on topic.
func request(t testing.TB, c *wsroutetest.Conn, action, topic string) {
	t.Helper()
	require.NoError(t, c.Send(map[string]any{"action": action, "topic": topic}))
}

// call sends a message asking for action on topic and requires the next
// frame to be its reply.
func call(t testing.TB, c *wsroutetest.Conn, action, topic string) {
	t.Helper()
	request(t, c, action, topic)
	require.Equal(t, reply(action), next(t, c))
}

// callSkipping is call letting topic events come before the reply.
func callSkipping(t testing.TB, c *wsroutetest.Conn, action, topic string) {
	t.Helper()
	request(t, c, action, topic)
	skipUntil(t, c, reply(action))
}

// reply is the frame of the reply to a successful action.
func reply(action string) string { return fmt.Sprintf(`{"action":%q}`, action) }

// skipUntil reads frames until want, failing t if another non-event frame
// or nothing comes first.
func skipUntil(t testing.TB, c *wsroutetest.Conn, want string) {
	t.Helper()
	for {
		f := next(t, c)
		if f == want {
			return
		}
		require.True(t, strings.HasPrefix(f, `{"topic":`), "frame %s while waiting for %s", f, want)
	}
}

// event is the frame of a topic event carrying a string.
func event(topic, text string) string {
	return fmt.Sprintf(`{"topic":%q,"data":%q}`, topic, text)
}

// cancelledSubscribeDoesNotConfirmAnother: a channel whose Subscribe to a
// topic is cancelled (it closed) while the engine has not confirmed must
// not let a second channel's Subscribe to the same topic return before the
// engine has the subscription.
func (s *suite[B]) cancelledSubscribeDoesNotConfirmAnother(t *testing.T) {
	t.Parallel()
	p := NewProxy(t, s.cfg.Addr)
	pf := prefix(t)
	ab, bb := s.cfg.New(t, Options{Prefix: pf, Addr: p.Addr()}), s.cfg.New(t, Options{Prefix: pf})
	a, b := newNode(t, ab), newNode(t, bb)
	s.connected(t, ab)
	s.connected(t, bb)
	c1, c2 := dial(t, a), dial(t, a)
	call(t, c1, "sub", "sentinel") // the connection is up

	p.Up.Hold()
	sent := p.UpBytes()
	request(t, c1, "sub", "room")
	WaitUntil(t, "c1's subscription request reaches the proxy", func() bool { return p.UpBytes() > sent })
	request(t, c2, "sub", "room")
	time.Sleep(50 * time.Millisecond) // c2's Subscribe waits for c1's
	cut(c1)                           // cancels c1's Subscribe

	if f, ok := within(t, c2, 300*time.Millisecond); ok { // returned while the engine may not have its subscription
		require.Equal(t, reply("sub"), f)
		require.NoError(t, b.Publish(t.Context(), "room", "after", wsroute.PublishOptions{}))
		s.flush(t, bb)
		p.Up.Release()
	} else {
		p.Up.Release()
		require.Equal(t, reply("sub"), next(t, c2))
		require.NoError(t, b.Publish(t.Context(), "room", "after", wsroute.PublishOptions{}))
	}
	assert.Equal(t, event("room", "after"), next(t, c2), "a publish made after Channel.Subscribe returned arrives")
}

// routerChurn: clients of one node subscribe and unsubscribe distinct
// topics at once, some closing while their subscription is in flight,
// while another node publishes on every topic; the Router makes the
// Broker's calls for different topics concurrently, its Unsubscribes in the
// background. Afterwards the node holds an engine subscription for exactly
// the topics with a live subscriber, and each of those subscribers gets the
// next publish.
//
// Each round waits only until its channel is gone: the next one may
// subscribe the topic while the Router's background Unsubscribe of it is
// still on its way (see resubscribeWhileUnsubscribing).
func (s *suite[B]) routerChurn(t *testing.T) {
	t.Parallel()
	const (
		workers = 12
		rounds  = 12
	)
	pf := prefix(t)
	cb, pb := s.cfg.New(t, Options{Prefix: pf}), s.cfg.New(t, Options{Prefix: pf})
	churn, publisher := newNode(t, cb), newNode(t, pb)
	s.connected(t, cb)
	s.connected(t, pb)

	stop := keepPublishing(workers, 2*time.Millisecond, func(topic string) {
		assert.NoError(t, publisher.Publish(context.Background(), topic, "churn", wsroute.PublishOptions{}))
	})

	live := make([]*wsroutetest.Conn, workers) // the subscriber left at the end, if any
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for range rounds {
				c := dial(t, churn)
				id := c.Channel().ID()
				switch rng.IntN(3) {
				case 0: // closes while its Subscribe may be in flight
					request(t, c, "sub", topicName(i))
					time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
					cut(c)
				case 1: // subscribes, unsubscribes
					callSkipping(t, c, "sub", topicName(i))
					callSkipping(t, c, "unsub", topicName(i))
					cut(c)
				case 2: // subscribes and leaves by closing
					callSkipping(t, c, "sub", topicName(i))
					cut(c)
				}
				WaitUntil(t, "the channel is gone", func() bool {
					_, open := churn.Lookup(id)
					return !open
				})
			}
			if rng.IntN(2) == 0 {
				c := dial(t, churn)
				callSkipping(t, c, "sub", topicName(i))
				live[i] = c
			}
		})
	}
	wg.Wait()
	stop()

	want := subscribed()
	for i, c := range live {
		if c != nil {
			want[topicName(i)] = 1
		}
	}
	s.expectSubscriptions(t, cb, pf, topicNames(workers), want, 10*time.Second, // the background Unsubscribes
		"the node's engine subscriptions")
	for i := range live {
		require.NoError(t, publisher.Publish(t.Context(), topicName(i), "final", wsroute.PublishOptions{}))
	}
	for i, c := range live {
		if c != nil {
			skipUntil(t, c, event(topicName(i), "final"))
		}
	}
}

// slowUnsubscribe is a Broker whose Unsubscribe waits until released.
type slowUnsubscribe struct {
	wsroute.Broker
	entered chan string   // receives the topic of each Unsubscribe begun
	release chan struct{} // closed to let them through
}

func (s *slowUnsubscribe) Unsubscribe(ctx context.Context, node, topic string) error {
	s.entered <- topic
	<-s.release
	return s.Broker.Unsubscribe(ctx, node, topic)
}

// resubscribeWhileUnsubscribing: a channel subscribing to a topic while the
// Router's background Unsubscribe of it (its last subscriber left) is on
// its way to the engine must end up subscribed with the engine.
//
// It failed every time while hub.unsubscribe (topics.go) cleared
// topic.subscribed only after Broker.Unsubscribe returned: a Subscribe in
// between took the fast path and was left without an engine subscription.
func (s *suite[B]) resubscribeWhileUnsubscribing(t *testing.T) {
	t.Parallel()
	pf := prefix(t)
	inner := s.cfg.New(t, Options{Prefix: pf})
	slow := &slowUnsubscribe{Broker: inner, entered: make(chan string, 1), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(slow.release) }) }
	a := newNode(t, slow)
	t.Cleanup(release) // before the node's Shutdown, which waits for the Unsubscribe
	bb := s.cfg.New(t, Options{Prefix: pf})
	b := newNode(t, bb)
	s.connected(t, inner)
	s.connected(t, bb)
	c1, c2 := dial(t, a), dial(t, a)
	call(t, c1, "sub", "room")
	call(t, c1, "unsub", "room")
	select {
	case topic := <-slow.entered:
		require.Equal(t, "room", topic, "the background Unsubscribe has begun")
	case <-time.After(10 * time.Second):
		t.Fatal("the Router did not unsubscribe the topic its last subscriber left")
	}

	request(t, c2, "sub", "room")
	if f, ok := within(t, c2, 300*time.Millisecond); ok { // returned at once: it must still end up subscribed
		require.Equal(t, reply("sub"), f)
		release()
	} else { // waits for the Unsubscribe, then subscribes
		release()
		require.Equal(t, reply("sub"), next(t, c2))
	}
	time.Sleep(100 * time.Millisecond) // the Unsubscribe's effect, if any, has reached the engine
	s.expectSubscriptions(t, inner, pf, []string{"room"}, subscribed("room"), 0, "the node is subscribed with the engine")
	require.NoError(t, b.Publish(t.Context(), "room", "after", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "after"), next(t, c2))
}
