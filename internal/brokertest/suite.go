package brokertest

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/wsroute/wsroute"
)

// Options describe a Broker the suite asks an adapter for.
type Options struct {
	// Prefix is unique to one test, made of ASCII letters, digits, '-' and
	// '_'; the nodes of a test share it. The adapter makes its engine
	// namespace from it (a Redis channel prefix, a NATS subject token), so
	// that tests running at once do not see each other's publishes.
	Prefix string
	// Addr, when set, is the host:port the Broker connects to instead of
	// Config.Addr: a Proxy in front of it.
	Addr string
	// CallersConnection asks for a Broker on a connection (a client) the
	// test makes, and closes when it ends, rather than one the Broker makes
	// itself; the Broker must leave it open on Detach. It is only asked for
	// when Config.CallersConnection is set.
	CallersConnection bool
}

// Config is what Run needs of an adapter whose Broker type is B. Addr, New,
// Subscriptions and ErrDetached are required.
type Config[B wsroute.Broker] struct {
	// Addr is the engine's host:port, which the fault-injecting tests put a
	// Proxy in front of.
	Addr string
	// New returns a Broker, not yet attached, as o describes. It fails t if
	// the engine is unreachable. Whatever the Broker needs besides (a client
	// of the test's own) is released when t ends.
	New func(t testing.TB, o Options) B
	// Subscriptions returns the engine subscriptions b, attached, holds:
	// topic → how many. It is asked about topics, and may leave out those
	// with none. An adapter that knows every subscription of the node
	// reports them all, so that one left over on another topic fails too,
	// and may report a disagreement of its own bookkeeping under a key of
	// its choice (the suite wants exactly the topics it expects). prefix is
	// the Options.Prefix b was made with.
	Subscriptions func(t testing.TB, b B, prefix string, topics []string) map[string]int
	// ErrDetached is the error (as by errors.Is) Subscribe returns after
	// Detach, and when Detach overtakes it.
	ErrDetached error
	// Settle is how long the engine may still report, through
	// Subscriptions, a subscription that Unsubscribe or Detach ended and
	// no later call of the node has been ordered after: Redis drops a
	// channel when it gets to the UNSUBSCRIBE, or notices a closed
	// connection. Zero means at once.
	Settle time.Duration
	// CallersConnection says New honours Options.CallersConnection: the
	// Detach tests then run on both kinds of connection.
	CallersConnection bool
	// Connected, if set, waits until b, just attached, is connected to the
	// engine, for an adapter that connects in the background (until then
	// publishes fail, as the Broker contract asks).
	Connected func(t testing.TB, b B)
	// Flush, if set, returns once the engine has every publish b made so
	// far, for an adapter whose Publish returns before that.
	Flush func(t testing.TB, b B)
}

// Run runs the contract tests of wsroute.Broker that hold for every engine,
// each a parallel subtest of t: a Broker driven directly, the way the
// Router calls it (concurrent calls for distinct topics, cancelled
// Subscribes, calls during and after Detach), and Routers on it
// (subscription churn, a Subscribe racing the background Unsubscribe, a
// cancelled Subscribe shared by two channels, a session kicked on two
// nodes). Every test makes its Brokers with cfg.New on a fresh prefix.
//
// Besides the contract, the tests take a Subscribe that returned nil as
// a barrier: the engine has by then gone through every earlier request of
// the node, an Unsubscribe's or a cancelled Subscribe's included (true of
// one connection's commands in Redis and in NATS). What depends on the
// engine (how a given command is answered, outages of a real server)
// stays in the adapter's own tests.
func Run[B wsroute.Broker](t *testing.T, cfg Config[B]) {
	t.Helper()
	if cfg.Addr == "" || cfg.New == nil || cfg.Subscriptions == nil || cfg.ErrDetached == nil {
		t.Fatal("brokertest.Run: Config needs Addr, New, Subscriptions and ErrDetached")
	}
	s := &suite[B]{cfg}
	for _, tt := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"ConcurrentTopics", s.concurrentTopics},
		{"SubscribeCancelledAtOnce", s.subscribeCancelledAtOnce},
		{"SubscribeCancelledBeforeConfirmation", s.subscribeCancelledBeforeConfirmation},
		{"SubscribeOvertakenByDetach", s.subscribeOvertakenByDetach},
		{"CallsAfterDetach", s.callsAfterDetach},
		{"DetachDuringCalls", s.detachDuringCalls},
		{"CancelledSubscribeDoesNotConfirmAnother", s.cancelledSubscribeDoesNotConfirmAnother},
		{"RouterChurn", s.routerChurn},
		{"ResubscribeWhileUnsubscribing", s.resubscribeWhileUnsubscribing},
		{"KickAcrossNodes", s.kickAcrossNodes},
	} {
		t.Run(tt.name, tt.run)
	}
}

type suite[B wsroute.Broker] struct{ cfg Config[B] }

// prefix returns an Options.Prefix no other test uses.
func prefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	return name + "-" + hex.EncodeToString(b[:])
}

// connected waits until b, attached, is connected, if the adapter says how.
func (s *suite[B]) connected(t testing.TB, b B) {
	t.Helper()
	if s.cfg.Connected != nil {
		s.cfg.Connected(t, b)
	}
}

// flush waits until the engine has b's publishes, if the adapter says how.
func (s *suite[B]) flush(t testing.TB, b B) {
	t.Helper()
	if s.cfg.Flush != nil {
		s.cfg.Flush(t, b)
	}
}

// pair attaches sub, made with o (a fresh prefix unless set), and pub, on
// the engine itself with the same prefix, as nodes "sub" and "pub", and
// detaches them when the test ends.
func (s *suite[B]) pair(t *testing.T, o Options) (sub, pub B, rec *Recorder, pf string) {
	t.Helper()
	if o.Prefix == "" {
		o.Prefix = prefix(t)
	}
	sub = s.cfg.New(t, o)
	pub = s.cfg.New(t, Options{Prefix: o.Prefix})
	rec = NewRecorder()
	sub.Attach("sub", rec.Deliver)
	pub.Attach("pub", func(wsroute.Envelope) {})
	t.Cleanup(func() {
		assert.NoError(t, sub.Detach("sub"))
		assert.NoError(t, pub.Detach("pub"))
	})
	s.connected(t, sub)
	s.connected(t, pub)
	return sub, pub, rec, o.Prefix
}

// subscribed returns want as Subscriptions reports it: topic → 1.
func subscribed(topics ...string) map[string]int {
	m := make(map[string]int, len(topics))
	for _, topic := range topics {
		m[topic] = 1
	}
	return m
}

// expectSubscriptions asserts that the engine subscriptions of b (made on
// prefix), asked about topics, are want, waiting up to wait for them to
// become so.
func (s *suite[B]) expectSubscriptions(t testing.TB, b B, pf string, topics []string, want map[string]int, wait time.Duration, msg string) bool {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got := make(map[string]int)
		for topic, n := range s.cfg.Subscriptions(t, b, pf, topics) {
			if n != 0 {
				got[topic] = n
			}
		}
		if maps.Equal(want, got) || !time.Now().Before(deadline) {
			return assert.Equal(t, want, got, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
