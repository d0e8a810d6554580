package serverless_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/leakcheck"
	"github.com/wsroute/wsroute/internal/servicetest"
	"github.com/wsroute/wsroute/serverless"
	"github.com/wsroute/wsroute/serverless/storetest"
)

// TestMain fails the run if a go-redis goroutine is still alive after
// every test closed its stores and clients.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		left := leakcheck.Matching(10*time.Second, func(stack string) bool {
			return strings.Contains(stack, "github.com/redis/go-redis/v9")
		})
		if left != nil {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// redisAddr is the shared test Redis.
func redisAddr() string { return servicetest.RedisAddr() }

// needRedis returns a client of the test Redis, closed when t ends. When
// Redis does not answer it skips t, or fails it when the environment
// variable CI is set (there Redis must be running).
func needRedis(t *testing.T) *redis.Client {
	t.Helper()
	addr := redisAddr()
	servicetest.Need(t, "Redis", addr, servicetest.RedisHint)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, rdb.Ping(ctx).Err(), "Redis at %s", addr)
	return rdb
}

// uniquePrefix returns a key prefix no other test uses.
func uniquePrefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "wsroute-test:" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + hex.EncodeToString(b[:]) + ":"
}

// redisStore is a RedisStore and what the tests know of it.
type redisStore struct {
	*serverless.RedisStore
	prefix string
	rdb    *redis.Client // a client of the tests' own, on the same Redis
}

// newRedisStore returns a RedisStore on a fresh prefix of the test Redis,
// with a client of its own (opts.Addr), closed when t ends.
func newRedisStore(t *testing.T) *redisStore {
	t.Helper()
	rdb := needRedis(t)
	prefix := uniquePrefix(t)
	s, err := serverless.NewRedisStore(serverless.RedisStoreOptions{Addr: redisAddr(), Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &redisStore{RedisStore: s, prefix: prefix, rdb: rdb}
}

// keys returns the keys of the store's prefix.
func (s *redisStore) keys(t *testing.T) []string {
	t.Helper()
	var all []string
	iter := s.rdb.Scan(context.Background(), 0, s.prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		all = append(all, iter.Val())
	}
	require.NoError(t, iter.Err())
	return all
}

func TestRedisStoreContract(t *testing.T) {
	t.Parallel()
	needRedis(t)
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) serverless.ChannelStore { return newRedisStore(t) },
		// A second instance: another client (the caller's) on the prefix.
		Peer: func(t *testing.T, s serverless.ChannelStore) serverless.ChannelStore {
			peer, err := serverless.NewRedisStore(serverless.RedisStoreOptions{Client: s.(*redisStore).rdb, Prefix: s.(*redisStore).prefix})
			require.NoError(t, err)
			return peer
		},
		Leftovers: func(t *testing.T, s serverless.ChannelStore) []string { return s.(*redisStore).keys(t) },
	})
}

// pttl returns the TTL of key: -1 none, -2 no key.
func (s *redisStore) pttl(t *testing.T, key string) time.Duration {
	t.Helper()
	d, err := s.rdb.PTTL(t.Context(), s.prefix+key).Result()
	require.NoError(t, err)
	return d
}

// TestRedisStoreTTLs checks the TTLs of the keys: the hash carries the
// connection's, a topic set the longest of its subscribers'.
func TestRedisStoreTTLs(t *testing.T) {
	t.Parallel()
	s := newRedisStore(t)
	ctx := t.Context()
	st := func(id string, topics ...string) wsroute.ChannelState {
		return wsroute.ChannelState{ID: id, Channel: "ch", URL: "/ch", Topics: topics}
	}
	require.NoError(t, s.Put(ctx, st("c1", "a", "b"), time.Hour))
	assert.InDelta(t, time.Hour, s.pttl(t, "c:c1"), float64(time.Minute))
	assert.InDelta(t, time.Hour, s.pttl(t, "t:a"), float64(time.Minute))

	// A shorter subscriber does not shorten the topic set.
	require.NoError(t, s.Put(ctx, st("c2", "a"), time.Minute))
	assert.InDelta(t, time.Minute, s.pttl(t, "c:c2"), float64(10*time.Second))
	assert.InDelta(t, time.Hour, s.pttl(t, "t:a"), float64(time.Minute))

	// Touch extends the topic sets of the connection, not the others.
	ok, err := s.Touch(ctx, "c2", 2*time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	assert.InDelta(t, 2*time.Hour, s.pttl(t, "c:c2"), float64(time.Minute))
	assert.InDelta(t, 2*time.Hour, s.pttl(t, "t:a"), float64(time.Minute))
	assert.InDelta(t, time.Hour, s.pttl(t, "t:b"), float64(time.Minute))

	// No ttl: the hash and its topic sets persist.
	require.NoError(t, s.Put(ctx, st("c3", "b"), 0))
	assert.Equal(t, time.Duration(-1), s.pttl(t, "c:c3"))
	assert.Equal(t, time.Duration(-1), s.pttl(t, "t:b"))
	// and a later subscriber with a ttl leaves the set persistent.
	require.NoError(t, s.Put(ctx, st("c4", "b"), time.Minute))
	assert.Equal(t, time.Duration(-1), s.pttl(t, "t:b"))

	// A set whose only subscriber had no ttl takes one when it does.
	require.NoError(t, s.Put(ctx, st("c5", "solo"), 0))
	assert.Equal(t, time.Duration(-1), s.pttl(t, "t:solo"))
	require.NoError(t, s.Put(ctx, st("c5", "solo"), time.Minute))
	assert.InDelta(t, time.Minute, s.pttl(t, "t:solo"), float64(10*time.Second))
}

// TestRedisStoreForgetsAbandoned: connections that are never deleted leave
// nothing in Redis once they expired, though nobody asked about them.
func TestRedisStoreForgetsAbandoned(t *testing.T) {
	t.Parallel()
	s := newRedisStore(t)
	for i := range 20 {
		st := wsroute.ChannelState{ID: fmt.Sprint("c", i), Channel: "ch", URL: "/ch", Topics: []string{"all", fmt.Sprint("own", i)}}
		require.NoError(t, s.Put(t.Context(), st, 200*time.Millisecond))
	}
	require.NotEmpty(t, s.keys(t))
	require.Eventually(t, func() bool { return len(s.keys(t)) == 0 }, 5*time.Second, 20*time.Millisecond,
		"keys left: %v", s.keys(t))
}

// TestRedisStoreLazyCleanup: Subscribers removes from a topic set the ids
// of connections that expired.
func TestRedisStoreLazyCleanup(t *testing.T) {
	t.Parallel()
	s := newRedisStore(t)
	ctx := t.Context()
	require.NoError(t, s.Put(ctx, wsroute.ChannelState{ID: "long", Topics: []string{"a"}}, time.Hour))
	require.NoError(t, s.Put(ctx, wsroute.ChannelState{ID: "short", Topics: []string{"a"}}, 100*time.Millisecond))
	require.Eventually(t, func() bool {
		n, err := s.rdb.Exists(ctx, s.prefix+"c:short").Result()
		return err == nil && n == 0
	}, 5*time.Second, 10*time.Millisecond)
	members, err := s.rdb.SMembers(ctx, s.prefix+"t:a").Result()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"long", "short"}, members, "the expired id is in the set until a Subscribers")

	ids, err := s.Subscribers(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []string{"long"}, ids)
	members, err = s.rdb.SMembers(ctx, s.prefix+"t:a").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"long"}, members, "Subscribers left the expired id in the set")
}

func TestRedisStoreOptions(t *testing.T) {
	t.Parallel()
	_, err := serverless.NewRedisStore(serverless.RedisStoreOptions{})
	require.Error(t, err, "neither Client nor Addr")
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr()})
	defer rdb.Close()
	_, err = serverless.NewRedisStore(serverless.RedisStoreOptions{Client: rdb, Addr: redisAddr()})
	require.Error(t, err, "both Client and Addr")

	// The caller's client stays open on Close.
	rdb = needRedis(t)
	s, err := serverless.NewRedisStore(serverless.RedisStoreOptions{Client: rdb, Prefix: uniquePrefix(t)})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, rdb.Ping(t.Context()).Err())

	// The default prefix.
	s, err = serverless.NewRedisStore(serverless.RedisStoreOptions{Client: rdb})
	require.NoError(t, err)
	id := "options-test-" + uniquePrefix(t)
	require.NoError(t, s.Put(t.Context(), wsroute.ChannelState{ID: id}, time.Minute))
	n, err := rdb.Exists(t.Context(), "wsroute:c:"+id).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	_, ok, err := s.Delete(t.Context(), id)
	require.NoError(t, err)
	assert.True(t, ok)
}

// TestRedisStoreIndexInStep: Put and Delete remove the id from the sets of
// the topics it leaves at once, not only lazily in Subscribers.
func TestRedisStoreIndexInStep(t *testing.T) {
	t.Parallel()
	s := newRedisStore(t)
	ctx := t.Context()
	members := func(topic string) []string {
		m, err := s.rdb.SMembers(ctx, s.prefix+"t:"+topic).Result()
		require.NoError(t, err)
		return m
	}
	require.NoError(t, s.Put(ctx, wsroute.ChannelState{ID: "c1", Topics: []string{"a", "b"}}, time.Hour))
	require.NoError(t, s.Put(ctx, wsroute.ChannelState{ID: "c2", Topics: []string{"a"}}, time.Hour))
	require.NoError(t, s.Put(ctx, wsroute.ChannelState{ID: "c1", Topics: []string{"b", "c"}}, time.Hour))
	assert.Equal(t, []string{"c2"}, members("a"))
	assert.Equal(t, []string{"c1"}, members("b"))
	ok, err := s.Update(ctx, wsroute.ChannelState{ID: "c1", Topics: []string{"b", "c"}}, wsroute.ChannelState{ID: "c1", Topics: []string{"c"}}, time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Empty(t, members("b"))
	_, _, err = s.Delete(ctx, "c2")
	require.NoError(t, err)
	assert.Empty(t, members("a"))
	assert.ElementsMatch(t, []string{s.prefix + "c:c1", s.prefix + "t:c"}, s.keys(t))
}
