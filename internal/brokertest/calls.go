package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// The Router serializes broker calls per topic only: Subscribe and
// Unsubscribe of different topics run concurrently, Unsubscribe runs in the
// background (so possibly after Detach), and Subscribe's context is the
// channel's, cancelled when it closes. These tests hold a Broker, driven
// directly, to that.

// topicName is the topic of worker i in the tests of many topics.
func topicName(i int) string { return fmt.Sprintf("t%02d", i) }

// topicNames returns the topics of n workers, after extra.
func topicNames(n int, extra ...string) []string {
	topics := extra
	for i := range n {
		topics = append(topics, topicName(i))
	}
	return topics
}

// keepPublishing calls publish for the topic of every one of workers in
// turn, pausing after each round, until the function it returns is called;
// that function returns once publish is no longer called.
func keepPublishing(workers int, pause time.Duration, publish func(topic string)) (stop func()) {
	done := make(chan struct{})
	var publishing sync.WaitGroup
	publishing.Go(func() {
		for {
			for i := range workers {
				select {
				case <-done:
					return
				default:
				}
				publish(topicName(i))
			}
			time.Sleep(pause)
		}
	})
	return func() {
		close(done)
		publishing.Wait()
	}
}

// concurrentTopics: goroutines subscribe and unsubscribe distinct topics on
// one node at once, some Subscribes cancelled before or while they run,
// while another node publishes on every topic. Afterwards the node holds an
// engine subscription for exactly the topics whose last call was a
// Subscribe that returned nil, and a publish reaches exactly those.
func (s *suite[B]) concurrentTopics(t *testing.T) {
	t.Parallel()
	const (
		workers = 16
		rounds  = 40
	)
	sub, pub, rec, pf := s.pair(t, Options{})
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel"))

	// A pause between rounds: an engine client that buffers publishes is
	// not flooded.
	stop := keepPublishing(workers, 100*time.Microsecond, func(topic string) {
		err := pub.Publish(context.Background(), wsroute.Envelope{Node: "pub", Topic: topic, Data: json.RawMessage(`"churn"`)})
		assert.NoError(t, err)
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
					assert.NoError(t, sub.Unsubscribe(context.Background(), "sub", topicName(i)))
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
				err := sub.Subscribe(ctx, "sub", topicName(i))
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
	stop()
	t.Logf("final: %v; %d Subscribes cancelled", final, cancelled.Load())

	want := subscribed("sentinel")
	for i, ok := range final {
		if ok {
			want[topicName(i)] = 1
		}
	}
	s.expectSubscriptions(t, sub, pf, topicNames(workers, "sentinel"), want, s.cfg.Settle, "the node's engine subscriptions")

	// One publisher, one subscriber: the sentinel, published last, arrives
	// after every final publish that arrives at all.
	rec.Reset()
	for i := range workers {
		PublishOn(t, pub, "pub", topicName(i), `"final"`)
	}
	PublishOn(t, pub, "pub", "sentinel", `"end"`)
	require.True(t, rec.WaitFor("sentinel", `"end"`, 10*time.Second))
	for i, ok := range final {
		n := 0
		if ok {
			n = 1
		}
		assert.Equal(t, n, rec.Count(topicName(i), `"final"`), "final publishes received on %s (subscribed: %v)", topicName(i), ok)
	}
}

// subscribeCancelledAtOnce: a Subscribe whose context has ended fails
// without subscribing.
func (s *suite[B]) subscribeCancelledAtOnce(t *testing.T) {
	t.Parallel()
	sub, _, _, pf := s.pair(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, sub.Subscribe(ctx, "sub", "room"), context.Canceled)
	// Another Subscribe's confirmation comes after the engine went through
	// every earlier request of the node.
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "other"))
	s.expectSubscriptions(t, sub, pf, []string{"room", "other"}, subscribed("other"), 0, "the cancelled Subscribe left nothing")
}

// subscribeCancelledBeforeConfirmation: a Subscribe whose context ends
// while the engine has not confirmed either fails and leaves nothing
// subscribed, or succeeds and then a publish made after it returned
// arrives.
func (s *suite[B]) subscribeCancelledBeforeConfirmation(t *testing.T) {
	t.Parallel()
	p := NewProxy(t, s.cfg.Addr)
	sub, pub, rec, pf := s.pair(t, Options{Addr: p.Addr()})
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "sentinel")) // the connection is up

	p.Up.Hold() // the subscription request waits in the proxy
	sent := p.UpBytes()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- sub.Subscribe(ctx, "sub", "room") }()
	WaitUntil(t, "the subscription request reaches the proxy", func() bool { return p.UpBytes() > sent })
	cancel()
	err := Result(t, res)
	PublishOn(t, pub, "pub", "room", `"after"`)
	s.flush(t, pub) // the engine has the publish
	p.Up.Release()

	if err == nil {
		assert.True(t, rec.WaitFor("room", `"after"`, 5*time.Second),
			"Subscribe returned nil before the engine had the subscription: a publish made after it was lost")
		return
	}
	require.ErrorIs(t, err, context.Canceled)
	// Another Subscribe's confirmation comes after the engine went through
	// every earlier request of the connection, the undoing one included.
	require.NoError(t, sub.Subscribe(t.Context(), "sub", "other"))
	s.expectSubscriptions(t, sub, pf, []string{"room", "other", "sentinel"}, subscribed("other", "sentinel"), 0,
		"a failed Subscribe leaves no subscription")
	PublishOn(t, pub, "pub", "room", `"later"`)
	PublishOn(t, pub, "pub", "sentinel", `"end"`)
	require.True(t, rec.WaitFor("sentinel", `"end"`, 10*time.Second))
	assert.Zero(t, rec.Count("room", `"later"`))
}

// connections are the kinds of connection the Detach tests run on.
func (s *suite[B]) connections() []bool {
	if s.cfg.CallersConnection {
		return []bool{false, true}
	}
	return []bool{false}
}

// subscribeOvertakenByDetach: a Subscribe still waiting for the engine when
// Detach runs (its request held back, or the engine's answer) reports an
// error at once: the node is subscribed to nothing.
func (s *suite[B]) subscribeOvertakenByDetach(t *testing.T) {
	t.Parallel()
	for _, held := range []string{"request", "answer"} {
		for _, own := range s.connections() {
			t.Run(fmt.Sprintf("%s held, caller's connection: %v", held, own), func(t *testing.T) {
				t.Parallel()
				p := NewProxy(t, s.cfg.Addr)
				gate := &p.Up
				if held == "answer" {
					gate = &p.Down
				}
				pf := prefix(t)
				b := s.cfg.New(t, Options{Prefix: pf, Addr: p.Addr(), CallersConnection: own})
				b.Attach("n", func(wsroute.Envelope) {})
				s.connected(t, b)
				require.NoError(t, b.Subscribe(t.Context(), "n", "sentinel")) // the connection is up
				gate.Hold()
				defer gate.Release()
				sent := p.UpBytes()
				res := make(chan error, 1)
				go func() { res <- b.Subscribe(t.Context(), "n", "room") }()
				WaitUntil(t, "the subscription request reaches the proxy", func() bool { return p.UpBytes() > sent })
				require.NoError(t, b.Detach("n"))
				start := time.Now()
				assert.ErrorIs(t, Result(t, res), s.cfg.ErrDetached)
				assert.Less(t, time.Since(start), time.Second, "Detach wakes the waiting Subscribe")
				gate.Release()
				s.expectSubscriptions(t, b, pf, []string{"room", "sentinel"}, subscribed(), s.cfg.Settle, "Detach ended every subscription")
			})
		}
	}
}

// callsAfterDetach: after Detach, Subscribe and Publish fail, Unsubscribe
// does nothing, and none of them connects to the engine again.
func (s *suite[B]) callsAfterDetach(t *testing.T) {
	t.Parallel()
	for _, own := range s.connections() {
		t.Run(fmt.Sprint("caller's connection: ", own), func(t *testing.T) {
			t.Parallel()
			p := NewProxy(t, s.cfg.Addr)
			pf := prefix(t)
			b := s.cfg.New(t, Options{Prefix: pf, Addr: p.Addr(), CallersConnection: own})
			b.Attach("n", func(wsroute.Envelope) {})
			s.connected(t, b)
			ctx := t.Context()
			require.NoError(t, b.Subscribe(ctx, "n", "room"))
			require.NoError(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}))
			require.NoError(t, b.Detach("n"))
			if !own {
				WaitUntil(t, "Detach closed the Broker's connections", func() bool { return p.Open() == 0 })
			}
			accepted := p.Accepted()

			assert.ErrorIs(t, b.Subscribe(ctx, "n", "room"), s.cfg.ErrDetached)
			assert.ErrorIs(t, b.Subscribe(ctx, "n", "new"), s.cfg.ErrDetached)
			assert.NoError(t, b.Unsubscribe(ctx, "n", "room"), "nothing is subscribed any more")
			assert.ErrorIs(t, b.Publish(ctx, wsroute.Envelope{Node: "n", Topic: "room", Data: []byte(`1`)}), wsroute.ErrBrokerUnavailable)
			assert.NoError(t, b.Detach("n"))
			assert.ErrorIs(t, b.Subscribe(ctx, "other", "room"), s.cfg.ErrDetached)
			s.expectSubscriptions(t, b, pf, []string{"room", "new"}, subscribed(), s.cfg.Settle, "Detach ended every subscription")
			time.Sleep(50 * time.Millisecond)
			assert.Equal(t, accepted, p.Accepted(), "no call after Detach connects to the engine")
			if !own {
				assert.Zero(t, p.Open())
			}
		})
	}
}

// detachDuringCalls: Detach while goroutines subscribe and unsubscribe
// distinct topics: nothing panics or hangs, every Subscribe begun after
// Detach returned fails, and nothing stays subscribed.
func (s *suite[B]) detachDuringCalls(t *testing.T) {
	t.Parallel()
	const workers = 16
	pf := prefix(t)
	b := s.cfg.New(t, Options{Prefix: pf})
	b.Attach("n", func(wsroute.Envelope) {})
	s.connected(t, b)
	var detached atomic.Bool
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for {
				after := detached.Load()
				start := time.Now()
				err := b.Subscribe(context.Background(), "n", topicName(i))
				assert.Less(t, time.Since(start), time.Second, "Subscribe returned in time")
				if after {
					assert.ErrorIs(t, err, s.cfg.ErrDetached, "Subscribe after Detach")
					return
				}
				if err == nil {
					assert.NoError(t, b.Unsubscribe(context.Background(), "n", topicName(i)))
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, b.Detach("n"))
	detached.Store(true)
	wg.Wait()
	s.expectSubscriptions(t, b, pf, topicNames(workers), subscribed(), s.cfg.Settle, "Detach ended every subscription")
}
