package redisbroker_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
	"github.com/wsroute/wsroute/internal/leakcheck"
	"github.com/wsroute/wsroute/wsroutetest"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// redisServer is a redis-server subprocess of one test.
type redisServer struct {
	cmd  *exec.Cmd
	once sync.Once
}

// startRedis runs redis-server on addr's port, waits until it answers, and
// kills it when the test ends if it is still running.
func startRedis(t *testing.T, addr string) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (%v); the outage test runs its own. Install Redis (it also provides the shared one: %s)", err, startHint)
	}
	_, port, _ := net.SplitHostPort(addr)
	s := &redisServer{cmd: exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")}
	require.NoError(t, s.cmd.Start())
	t.Cleanup(s.kill)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for c.Ping(ctx).Err() != nil {
		select {
		case <-ctx.Done():
			t.Fatalf("redis-server on %s did not answer within 10s", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s
}

// kill stops the server at once, like a crash.
func (s *redisServer) kill() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
}

func TestOutageAndRecovery(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	srv := startRedis(t, addr)
	opts := redisbroker.Options{Addr: addr, Prefix: uniquePrefix(t)}
	na, nb := newNode(t, newBroker(t, opts)), newNode(t, newBroker(t, opts))
	a, local, leaving := na.dial(t), nb.dial(t), na.dial(t)
	a.sub(t, "room")
	local.sub(t, "room")
	leaving.sub(t, "gone")
	require.NoError(t, nb.r.Publish(t.Context(), "room", "before", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "before"), a.next(t))
	assert.Equal(t, event("room", "before"), local.next(t))

	srv.kill()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := nb.r.Publish(ctx, "room", "during", wsroute.PublishOptions{})
	require.ErrorIs(t, err, wsroute.ErrBrokerUnavailable, "Publish fails fast, before its 5s deadline")
	t.Logf("Publish during the outage: %v", err)
	assert.Equal(t, event("room", "during"), local.next(t), "the publishing node's subscribers still get it")
	a2 := na.dial(t)
	a2.sub(t, "room2")       // made while Redis is down: succeeds, made on reconnection
	leaving.unsub(t, "gone") // not restored on reconnection

	startRedis(t, addr)
	ctx, cancel = context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var gotRoom, gotRoom2 bool
	for !gotRoom || !gotRoom2 {
		select {
		case <-tick.C:
			_ = nb.r.Publish(ctx, "room", "after", wsroute.PublishOptions{})
			_ = nb.r.Publish(ctx, "room2", "after", wsroute.PublishOptions{})
		case f := <-a.frames:
			require.Equal(t, event("room", "after"), f, "nothing published during the outage arrives late")
			gotRoom = true
		case f := <-a2.frames:
			require.Equal(t, event("room2", "after"), f)
			gotRoom2 = true
		case <-ctx.Done():
			t.Fatalf("node A did not receive again within 15s of Redis restarting (room: %v, room2: %v)", gotRoom, gotRoom2)
		}
	}
	// Node A resubscribed, with one SUBSCRIBE, before receiving: its Redis
	// subscriptions are the topics that have local subscribers now.
	subs, err := newRedisClient(t, addr).PubSubNumSub(ctx, opts.Prefix+"room2", opts.Prefix+"gone").Result()
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{opts.Prefix + "room2": 1, opts.Prefix + "gone": 0}, subs)
}

func TestShutdownReleasesTheBroker(t *testing.T) {
	// Not parallel: it counts goroutines of the whole process.
	for _, tt := range []struct {
		name  string
		owned bool
	}{
		{"client made by the Broker", true},
		{"caller's client", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Earlier tests' goroutines end within moments of their Shutdown.
			if left := waitGoroutines(10*time.Second, anyRedis); left != nil {
				t.Fatalf("goroutines of earlier tests still running:\n%s", strings.Join(left, "\n\n"))
			}
			opts := redisbroker.Options{Addr: redisAddr(), Prefix: uniquePrefix(t)}
			if !tt.owned {
				opts.Client = newRedisClient(t, redisAddr())
			}
			b := newBroker(t, opts)
			r := wsroute.New(wsroute.Options{Broker: b})
			t.Cleanup(func() { _ = r.Shutdown(context.Background()) }) // if the test fails before its own
			r.Channel("/", wsroute.ChannelConfig{Public: true})
			c := wsroutetest.MustDial(t, r, "/", nil)
			require.NoError(t, c.Channel().Subscribe("t"))
			require.NoError(t, r.Publish(t.Context(), "t", 1, wsroute.PublishOptions{}))
			require.NotEmpty(t, leakcheck.Matching(0, subscriptions), "the Broker reads its subscription")

			require.NoError(t, r.Shutdown(t.Context()))
			gone := subscriptions
			if tt.owned {
				gone = anyRedis // the client's own goroutines too
			}
			if left := waitGoroutines(5*time.Second, gone); left != nil {
				t.Fatalf("goroutines left after Shutdown:\n%s", strings.Join(left, "\n\n"))
			}
			err := redisbroker.ClientOf(b).Ping(t.Context()).Err()
			if tt.owned {
				assert.ErrorIs(t, err, redis.ErrClosed, "the Broker's own client is closed")
			} else {
				assert.NoError(t, err, "the caller's client stays open")
			}
			assert.ErrorIs(t, r.Publish(t.Context(), "t", 2, wsroute.PublishOptions{}), wsroute.ErrBrokerUnavailable)
		})
	}
}

// taggedCodec is JSON behind a "v1|" tag, counting its calls.
type taggedCodec struct{ encoded, decoded atomic.Int64 }

func (c *taggedCodec) Encode(e wsroute.Envelope) ([]byte, error) {
	c.encoded.Add(1)
	b, err := wsroute.JSONCodec{}.Encode(e)
	return append([]byte("v1|"), b...), err
}

func (c *taggedCodec) Decode(b []byte) (wsroute.Envelope, error) {
	rest, ok := bytes.CutPrefix(b, []byte("v1|"))
	if !ok {
		return wsroute.Envelope{}, errors.New("untagged message")
	}
	c.decoded.Add(1)
	return wsroute.JSONCodec{}.Decode(rest)
}

func TestCustomCodec(t *testing.T) {
	t.Parallel()
	codec := &taggedCodec{}
	prefix := uniquePrefix(t)
	nodes := cluster(t, 2, redisbroker.Options{Prefix: prefix, Codec: codec})
	rdb := newRedisClient(t, redisAddr())
	raw := rdb.Subscribe(t.Context(), prefix+"room")
	t.Cleanup(func() { _ = raw.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := raw.Receive(ctx) // the subscription's confirmation
	require.NoError(t, err)

	a := nodes[0].dial(t)
	a.sub(t, "room")
	require.NoError(t, rdb.Publish(ctx, prefix+"room", "not tagged").Err())
	require.NoError(t, nodes[1].r.Publish(ctx, "room", "hi", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "hi"), a.next(t), "an undecodable message is dropped, the next delivered")
	assert.EqualValues(t, 1, codec.encoded.Load())
	assert.EqualValues(t, 1, codec.decoded.Load())

	_, err = raw.ReceiveMessage(ctx) // "not tagged"
	require.NoError(t, err)
	msg, err := raw.ReceiveMessage(ctx)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(msg.Payload, `v1|{"v":1,"node":`), "on the wire: %s", msg.Payload)
}
