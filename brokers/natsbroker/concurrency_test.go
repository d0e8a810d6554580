package natsbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
	"github.com/wsroute/wsroute/internal/brokertest"
)

// The Router serializes broker calls per topic only: Subscribe and
// Unsubscribe of different topics run concurrently, Unsubscribe runs in the
// background (so possibly after Detach), and Subscribe's context is the
// channel's, cancelled when it closes. These tests hold the adapter to that.

// recorder collects the envelopes reaching an attached Broker.
type recorder struct {
	mu      sync.Mutex
	got     map[string][]string // topic → the data of each envelope, in order
	arrived chan struct{}       // signalled after each envelope
}

func newRecorder() *recorder {
	return &recorder{got: make(map[string][]string), arrived: make(chan struct{}, 1)}
}

func (r *recorder) deliver(e wsroute.Envelope) {
	r.mu.Lock()
	r.got[e.Topic] = append(r.got[e.Topic], string(e.Data))
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// count returns how many envelopes carrying data reached topic.
func (r *recorder) count(topic, data string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.got[topic] {
		if d == data {
			n++
		}
	}
	return n
}

// reset forgets what arrived.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.got)
}

// waitFor waits, at most wait, for an envelope carrying data on topic.
func (r *recorder) waitFor(topic, data string, wait time.Duration) bool {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for r.count(topic, data) == 0 {
		select {
		case <-r.arrived:
		case <-deadline.C:
			return false
		}
	}
	return true
}

// publishOn publishes data (JSON) on topic from b, attached as node.
func publishOn(t testing.TB, b *natsbroker.Broker, node, topic, data string) {
	t.Helper()
	require.NoError(t, b.Publish(context.Background(), wsroute.Envelope{Node: node, Topic: topic, Data: json.RawMessage(data)}))
}

// pair attaches sub, made with subOpts (the shared NATS unless URL or Conn
// is set), and pub, on the shared NATS, as nodes "sub" and "pub" of one
// prefix, and detaches them when the test ends.
func pair(t *testing.T, subOpts natsbroker.Options) (sub, pub *natsbroker.Broker, rec *recorder) {
	t.Helper()
	if subOpts.Prefix == "" {
		subOpts.Prefix = prefix()
	}
	if subOpts.URL == "" && subOpts.Conn == nil {
		subOpts.URL = natsURL(t)
	}
	var err error
	sub, err = natsbroker.New(subOpts)
	require.NoError(t, err)
	pub, err = natsbroker.New(natsbroker.Options{URL: natsURL(t), Prefix: subOpts.Prefix})
	require.NoError(t, err)
	rec = newRecorder()
	sub.Attach("sub", rec.deliver)
	pub.Attach("pub", func(wsroute.Envelope) {})
	t.Cleanup(func() {
		assert.NoError(t, sub.Detach("sub"))
		assert.NoError(t, pub.Detach("pub"))
	})
	waitStatus(t.Context(), t, sub.Conn(), nats.CONNECTED)
	waitStatus(t.Context(), t, pub.Conn(), nats.CONNECTED)
	return sub, pub, rec
}

// TestConcurrentTopics: goroutines subscribe and unsubscribe distinct
// topics on one node at once, some Subscribes cancelled before or while
// they run, while another node publishes on every topic. Afterwards the
// node holds a subscription for exactly the topics whose last call was a
// Subscribe that returned nil, and a publish reaches exactly those.
func TestConcurrentTopics(t *testing.T) {
	t.Parallel()
	const (
		workers = 16
		rounds  = 40
	)
	sub, pub, rec := pair(t, natsbroker.Options{})
	topic := func(i int) string { return fmt.Sprintf("t%02d", i) }
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel"))

	stop := make(chan struct{})
	var publishing sync.WaitGroup
	publishing.Go(func() {
		for {
			for i := range workers {
				select {
				case <-stop:
					return
				default:
				}
				err := pub.Publish(context.Background(), wsroute.Envelope{Node: "pub", Topic: topic(i), Data: json.RawMessage(`"churn"`)})
				assert.NoError(t, err)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})

	final := make([]bool, workers)
	var cancelled atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			subscribed := false
			for range rounds {
				if subscribed && rng.IntN(2) == 0 {
					assert.NoError(t, sub.Unsubscribe(context.Background(), "sub", topic(i)))
					subscribed = false
					continue
				}
				if subscribed {
					continue
				}
				ctx, cancel := context.WithCancel(context.Background())
				switch rng.IntN(4) {
				case 0:
					cancel() // before the call
				case 1:
					time.AfterFunc(time.Duration(rng.IntN(400))*time.Microsecond, cancel) // perhaps during it
				}
				err := sub.Subscribe(ctx, "sub", topic(i))
				cancel()
				if err != nil {
					assert.ErrorIs(t, err, context.Canceled, "the only reason a Subscribe may fail here")
					cancelled.Add(1)
					continue
				}
				subscribed = true
			}
			final[i] = subscribed
		})
	}
	wg.Wait()
	close(stop)
	publishing.Wait()
	t.Logf("final: %v; %d Subscribes cancelled", final, cancelled.Load())

	want := []string{"sentinel"}
	for i, s := range final {
		if s {
			want = append(want, topic(i))
		}
	}
	slices.Sort(want)
	assert.Equal(t, want, sub.Topics(), "the node's subscriptions")
	assert.Equal(t, len(want), sub.Conn().NumSubscriptions(), "nats.go's subscriptions")

	// One publisher, one subscriber connection: the sentinel, published
	// last, arrives after every final publish that arrives at all.
	rec.reset()
	for i := range workers {
		publishOn(t, pub, "pub", topic(i), `"final"`)
	}
	publishOn(t, pub, "pub", "sentinel", `"end"`)
	require.True(t, rec.waitFor("sentinel", `"end"`, wait))
	for i, s := range final {
		n := 0
		if s {
			n = 1
		}
		assert.Equal(t, n, rec.count(topic(i), `"final"`), "final publishes received on %s (subscribed: %v)", topic(i), s)
	}
}

// TestSubscribeCancelledBeforeConfirmation: a Subscribe whose context ends
// while NATS has not confirmed either fails and leaves nothing subscribed,
// or succeeds and then a publish made after it returned arrives.
func TestSubscribeCancelledBeforeConfirmation(t *testing.T) {
	t.Parallel()
	p := brokertest.NewProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
	sub, pub, rec := pair(t, natsbroker.Options{URL: "nats://" + p.Addr()})
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel"))

	p.Up.Hold() // the SUB and the PING wait in the proxy
	sent := p.UpBytes()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- sub.Subscribe(ctx, "sub", "room") }()
	brokertest.WaitUntil(t, "the SUB reaches the proxy", func() bool { return p.UpBytes() > sent })
	cancel()
	err := brokertest.Result(t, res)
	publishOn(t, pub, "pub", "room", `"after"`)
	require.NoError(t, pub.Conn().Flush()) // the server has the publish
	p.Up.Release()

	if err == nil {
		assert.True(t, rec.waitFor("room", `"after"`, 5*time.Second),
			"Subscribe returned nil before NATS had the subscription: a publish made after it was lost")
		return
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{"sentinel"}, sub.Topics(), "a failed Subscribe leaves no subscription")
	// Another Subscribe's confirmation comes after the server went through
	// every earlier message of the connection, the undoing UNSUB included.
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "other"))
	publishOn(t, pub, "pub", "room", `"later"`)
	publishOn(t, pub, "pub", "sentinel", `"end"`)
	require.True(t, rec.waitFor("sentinel", `"end"`, wait))
	assert.Zero(t, rec.count("room", `"later"`))
}

// TestSubscribeCancelledAtOnce: a Subscribe whose context has ended fails
// without subscribing.
func TestSubscribeCancelledAtOnce(t *testing.T) {
	t.Parallel()
	sub, _, _ := pair(t, natsbroker.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, sub.Subscribe(ctx, "sub", "room"), context.Canceled)
	assert.Empty(t, sub.Topics())
	assert.Zero(t, sub.Conn().NumSubscriptions())
}

// TestSubscribeOvertakenByDetach: a Subscribe still waiting for NATS when
// Detach runs reports an error, at once: the node is subscribed to nothing.
func TestSubscribeOvertakenByDetach(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprint("caller's connection: ", own), func(t *testing.T) {
			t.Parallel()
			p := brokertest.NewProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
			opts := natsbroker.Options{Prefix: prefix(), URL: "nats://" + p.Addr()}
			if own {
				opts.Conn = connect(t, opts.URL)
			}
			b, err := natsbroker.New(opts)
			require.NoError(t, err)
			b.Attach("n", func(wsroute.Envelope) {})
			waitStatus(t.Context(), t, b.Conn(), nats.CONNECTED)
			p.Up.Hold()
			sent := p.UpBytes()
			res := make(chan error, 1)
			go func() { res <- b.Subscribe(t.Context(), "n", "room") }()
			brokertest.WaitUntil(t, "the SUB reaches the proxy", func() bool { return p.UpBytes() > sent })
			require.NoError(t, b.Detach("n"))
			start := time.Now()
			assert.ErrorIs(t, brokertest.Result(t, res), wsroute.ErrBrokerUnavailable)
			assert.Less(t, time.Since(start), time.Second, "Detach wakes the waiting Subscribe")
			assert.Empty(t, b.Topics())
			p.Up.Release()
		})
	}
}

// TestCallsAfterDetach: after Detach, Subscribe and Publish fail,
// Unsubscribe does nothing, and none of them connects to NATS again.
func TestCallsAfterDetach(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprint("caller's connection: ", own), func(t *testing.T) {
			t.Parallel()
			p := brokertest.NewProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
			opts := natsbroker.Options{Prefix: prefix(), URL: "nats://" + p.Addr()}
			if own {
				opts.Conn = connect(t, opts.URL)
			}
			b, err := natsbroker.New(opts)
			require.NoError(t, err)
			b.Attach("n", func(wsroute.Envelope) {})
			waitStatus(t.Context(), t, b.Conn(), nats.CONNECTED)
			ctx := t.Context()
			require.NoError(t, b.Subscribe(ctx, "n", "room"))
			require.NoError(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}))
			require.NoError(t, b.Detach("n"))
			if !own {
				brokertest.WaitUntil(t, "Detach closed the Broker's connection", func() bool { return p.Open() == 0 })
			}
			accepted := p.Accepted()

			assert.ErrorIs(t, b.Subscribe(ctx, "n", "room"), wsroute.ErrBrokerUnavailable)
			assert.ErrorIs(t, b.Subscribe(ctx, "n", "new"), wsroute.ErrBrokerUnavailable)
			assert.NoError(t, b.Unsubscribe(ctx, "n", "room"), "nothing is subscribed any more")
			assert.ErrorIs(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}), wsroute.ErrBrokerUnavailable)
			assert.NoError(t, b.Detach("n"))
			assert.Empty(t, b.Topics())
			assert.Zero(t, b.Conn().NumSubscriptions())
			time.Sleep(50 * time.Millisecond)
			assert.Equal(t, accepted, p.Accepted(), "no call after Detach connects to NATS")
			if !own {
				assert.Zero(t, p.Open())
			}
		})
	}
}

// TestDetachDuringCalls: Detach while goroutines subscribe and unsubscribe
// distinct topics: nothing panics or hangs, and every Subscribe begun after
// Detach returned fails.
func TestDetachDuringCalls(t *testing.T) {
	t.Parallel()
	const workers = 16
	b, err := natsbroker.New(natsbroker.Options{URL: natsURL(t), Prefix: prefix()})
	require.NoError(t, err)
	b.Attach("n", func(wsroute.Envelope) {})
	var detached atomic.Bool
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			topic := fmt.Sprint("t", i)
			for {
				after := detached.Load()
				start := time.Now()
				err := b.Subscribe(context.Background(), "n", topic)
				assert.Less(t, time.Since(start), time.Second, "Subscribe returned in time")
				if after {
					assert.ErrorIs(t, err, wsroute.ErrBrokerUnavailable, "Subscribe after Detach")
					return
				}
				if err == nil {
					assert.NoError(t, b.Unsubscribe(context.Background(), "n", topic))
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, b.Detach("n"))
	detached.Store(true)
	wg.Wait()
	assert.Empty(t, b.Topics())
}

// TestCancelledSubscribeDoesNotConfirmAnother: a channel whose Subscribe to
// a topic is cancelled (it closed) while NATS has not confirmed must not
// let a second channel's Subscribe to the same topic return before NATS
// has the subscription.
func TestCancelledSubscribeDoesNotConfirmAnother(t *testing.T) {
	t.Parallel()
	p := brokertest.NewProxy(t, strings.TrimPrefix(natsURL(t), "nats://"))
	pf := prefix()
	a := newNode(t, natsbroker.Options{URL: "nats://" + p.Addr(), Prefix: pf})
	b := newNode(t, natsbroker.Options{Prefix: pf})
	waitStatus(t.Context(), t, a.b.Conn(), nats.CONNECTED)
	c1, c2 := a.dial(t), a.dial(t)

	p.Up.Hold()
	sent := p.UpBytes()
	c1.send(`{"action":"sub","topic":"room"}`)
	brokertest.WaitUntil(t, "c1's SUB reaches the proxy", func() bool { return p.UpBytes() > sent })
	c2.send(`{"action":"sub","topic":"room"}`)
	time.Sleep(50 * time.Millisecond) // c2's Subscribe waits for c1's
	_ = c1.c.CloseNow()               // cancels c1's Subscribe

	select {
	case reply := <-c2.frames: // returned while NATS may not have its subscription
		require.JSONEq(t, `{"action":"sub"}`, reply)
		b.publish(t, "room", "after", wsroute.PublishOptions{})
		require.NoError(t, b.b.Conn().Flush())
		p.Up.Release()
	case <-time.After(300 * time.Millisecond):
		p.Up.Release()
		require.JSONEq(t, `{"action":"sub"}`, c2.next())
		b.publish(t, "room", "after", wsroute.PublishOptions{})
	}
	c2.expect("room", "after")
}

// topicFrame is the frame of an event carrying a string, as the Router
// writes it.
func topicFrame(topic, text string) string {
	return fmt.Sprintf(`{"topic":%q,"data":%q}`, topic, text)
}

// callSkipping sends an action and reads frames until its reply, skipping
// topic events.
func (cl *client) callSkipping(action string, fields map[string]any) {
	cl.t.Helper()
	m := map[string]any{"action": action}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(cl.t, err)
	cl.send(string(b))
	for {
		f := cl.next()
		if strings.HasPrefix(f, `{"topic":`) {
			continue
		}
		require.JSONEq(cl.t, fmt.Sprintf(`{"action":%q}`, action), f)
		return
	}
}

// skipUntil reads frames until want, failing if another non-event frame or
// nothing comes first.
func (cl *client) skipUntil(want string) {
	cl.t.Helper()
	for {
		f := cl.next()
		if f == want {
			return
		}
		require.True(cl.t, strings.HasPrefix(f, `{"topic":`), "frame %s while waiting for %s", f, want)
	}
}

// TestRouterChurn: clients of one node subscribe and unsubscribe distinct
// topics at once, some closing while their subscription is in flight,
// while another node publishes on every topic; the Router makes the
// Broker's calls for different topics concurrently, its Unsubscribes in the
// background. Afterwards the node holds a subscription for exactly the
// topics with a live subscriber, and each of those subscribers gets the
// next publish.
//
// Each round waits only until its channel is gone: the next one may
// subscribe the topic while the Router's background Unsubscribe of it is
// still on its way (see TestResubscribeWhileUnsubscribing).
func TestRouterChurn(t *testing.T) {
	t.Parallel()
	const (
		workers = 12
		rounds  = 12
	)
	pf := prefix()
	churn, publisher := newNode(t, natsbroker.Options{Prefix: pf}), newNode(t, natsbroker.Options{Prefix: pf})
	topic := func(i int) string { return fmt.Sprintf("t%02d", i) }

	stop := make(chan struct{})
	var publishing sync.WaitGroup
	publishing.Go(func() {
		for {
			for i := range workers {
				select {
				case <-stop:
					return
				default:
				}
				assert.NoError(t, publisher.r.Publish(context.Background(), topic(i), "churn", wsroute.PublishOptions{}))
			}
			time.Sleep(2 * time.Millisecond)
		}
	})

	live := make([]*client, workers) // the subscriber left at the end, if any
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			sub := map[string]any{"topic": topic(i)}
			for range rounds {
				c := churn.dial(t)
				id := c.id()
				switch rng.IntN(3) {
				case 0: // closes while its Subscribe may be in flight
					c.send(fmt.Sprintf(`{"action":"sub","topic":%q}`, topic(i)))
					time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
					_ = c.c.CloseNow()
				case 1: // subscribes, unsubscribes
					c.callSkipping("sub", sub)
					c.callSkipping("unsub", sub)
					_ = c.c.CloseNow()
				case 2: // subscribes and leaves by closing
					c.callSkipping("sub", sub)
					_ = c.c.CloseNow()
				}
				brokertest.WaitUntil(t, "the channel is gone", func() bool {
					_, open := churn.r.Lookup(id)
					return !open
				})
			}
			if rng.IntN(2) == 0 {
				c := churn.dial(t)
				c.callSkipping("sub", sub)
				live[i] = c
			}
		})
	}
	wg.Wait()
	close(stop)
	publishing.Wait()

	var want []string
	for i, c := range live {
		if c != nil {
			want = append(want, topic(i))
		}
	}
	assert.Eventually(t, func() bool { return slices.Equal(want, churn.b.Topics()) }, wait, 10*time.Millisecond,
		"the node's subscriptions: want %v", want)
	for i := range live {
		publisher.publish(t, topic(i), "final", wsroute.PublishOptions{})
	}
	for i, c := range live {
		if c != nil {
			c.skipUntil(topicFrame(topic(i), "final"))
		}
	}
}

// slowUnsubscribe is a Broker whose Unsubscribe waits until released.
type slowUnsubscribe struct {
	*natsbroker.Broker
	entered chan string   // receives the topic of each Unsubscribe begun
	release chan struct{} // closed to let them through
}

func (s *slowUnsubscribe) Unsubscribe(ctx context.Context, node, topic string) error {
	s.entered <- topic
	<-s.release
	return s.Broker.Unsubscribe(ctx, node, topic)
}

// TestResubscribeWhileUnsubscribing: a channel subscribing to a topic while
// the Router's background Unsubscribe of it (its last subscriber left) is
// on its way to the Broker must end up subscribed with NATS.
//
// It failed every time while hub.unsubscribe (topics.go) cleared
// topic.subscribed only after Broker.Unsubscribe returned: a Subscribe in
// between took the fast path and was left without an engine subscription.
func TestResubscribeWhileUnsubscribing(t *testing.T) {
	t.Parallel()
	pf := prefix()
	nb, err := natsbroker.New(natsbroker.Options{URL: natsURL(t), Prefix: pf})
	require.NoError(t, err)
	slow := &slowUnsubscribe{Broker: nb, entered: make(chan string, 1), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(slow.release) }) }
	a := serve(t, slow)
	t.Cleanup(release) // before the node's Shutdown, which waits for the Unsubscribe
	b := newNode(t, natsbroker.Options{Prefix: pf})
	c1, c2 := a.dial(t), a.dial(t)
	c1.sub("room")
	c1.unsub("room")
	require.Equal(t, "room", <-slow.entered, "the background Unsubscribe has begun")

	c2.send(`{"action":"sub","topic":"room"}`)
	select {
	case f := <-c2.frames: // returned at once: it must still end up subscribed
		require.JSONEq(t, `{"action":"sub"}`, f)
		release()
	case <-time.After(300 * time.Millisecond): // waits for the Unsubscribe, then subscribes
		release()
		require.JSONEq(t, `{"action":"sub"}`, c2.next())
	}
	time.Sleep(100 * time.Millisecond) // the Unsubscribe, if still to come, has run
	assert.Contains(t, nb.Topics(), "room", "the node is subscribed with NATS")
	b.publish(t, "room", "after", wsroute.PublishOptions{})
	c2.expect("room", "after")
}
