package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/leakcheck"
	"github.com/wsroute/wsroute/internal/servicetest"
	"github.com/wsroute/wsroute/serverless"
)

// The -mode apigw-local wiring in process: the same mux as the binary (the
// page, and per stage the emulator and its Management API), on a loopback
// httptest.Server, driven by real coder/websocket clients.

// slStore is a ChannelStore under test and how to see what it still holds.
type slStore struct {
	serverless.ChannelStore
	left func(t *testing.T) int // records and index entries left
}

// needRedis returns a client of the test Redis (WSROUTE_REDIS_ADDR or
// 127.0.0.1:6379), closed when t ends. Without one it skips t, or fails it
// when CI is set.
func needRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	addr := servicetest.RedisAddr()
	servicetest.Need(t, "Redis", addr, servicetest.RedisHint)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, addr
}

// redisKeys returns the keys under prefix.
func redisKeys(t *testing.T, rdb *redis.Client, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	return keys
}

// testPrefix is a Redis key prefix of this test alone.
func testPrefix(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "todos-sl-test:" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + hex.EncodeToString(b[:]) + ":"
}

// slStores are the stores the serverless tests run on.
var slStores = []struct {
	name string
	new  func(t *testing.T) slStore
}{
	{"memory", func(*testing.T) slStore {
		s := serverless.NewMemoryStore()
		return slStore{s, func(*testing.T) int { return s.Len() }}
	}},
	{"redis", func(t *testing.T) slStore {
		rdb, addr := needRedis(t)
		prefix := testPrefix(t)
		s, err := newChannelStoreChecked(t, addr, prefix)
		require.NoError(t, err)
		return slStore{s, func(t *testing.T) int { return len(redisKeys(t, rdb, prefix)) }}
	}},
}

// newChannelStoreChecked is newChannelStore("redis", …), closed when t ends.
func newChannelStoreChecked(t *testing.T, addr, prefix string) (serverless.ChannelStore, error) {
	s, closeStore, err := newChannelStore("redis", addr, prefix)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { assert.NoError(t, closeStore()) })
	return s, nil
}

// startAPIGW serves the -mode apigw-local app on store at a loopback
// httptest.Server and returns its ws:// base URL. When the test ends it
// shuts down as the binary does: emulators (their $disconnect runs), HTTP
// server, Router.
func startAPIGW(t *testing.T, store serverless.ChannelStore) (*apigwApp, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	a, h, err := newAPIGWApp(slog.New(slog.DiscardHandler), nil, store, "http://"+srv.Listener.Addr().String())
	require.NoError(t, err)
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, a.closeEmulators(ctx))
		srv.Close()
		assert.NoError(t, a.router.Shutdown(ctx))
	})
	return a, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// eventually waits up to 5 s for cond, polling.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting: " + msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAPIGWSession: a session over the emulated API Gateway, on the memory
// store and on Redis: log in, create, the other client's event, complete by
// the owner only, log out; a stale record (a connection of a process that
// died) is dropped at the first publish that finds it gone; the admin
// stage refuses bob and answers alice; and once the clients close, the
// store is empty.
func TestAPIGWSession(t *testing.T) {
	for _, st := range slStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.new(t)
			a, ws := startAPIGW(t, store)
			ctx := timeout(t)

			// No {"connected":true} push: API Gateway takes no post before
			// $connect returns. The first frame is the reply to auth.
			alice := dial(t, ctx, ws+"/todos", nil)
			bob := dial(t, ctx, ws+"/todos", nil)
			assert.JSONEq(t, `{"action":"auth","ref":1,"userId":"alice"}`, roundTrip(t, ctx, alice, `{"action":"auth","ref":1,"token":"alice-token"}`))
			assert.JSONEq(t, `{"action":"auth","userId":"bob"}`, roundTrip(t, ctx, bob, `{"action":"auth","token":"bob-token"}`))
			requireError(t, roundTrip(t, ctx, bob, `{"action":"auth","token":"eve-token"}`), "auth", "unauthenticated")
			for _, c := range []*websocket.Conn{alice, bob} {
				assert.JSONEq(t, `{"action":"subscribe","subscribed":"todos"}`, roundTrip(t, ctx, c, `{"action":"subscribe","topic":"todos"}`))
			}

			// A connection of a process that died: its record stays, subscribed,
			// until the first publish finds it gone (410) and drops it.
			require.NoError(t, store.Put(ctx, wsroute.ChannelState{ID: "gone-connection", Channel: "todos", URL: "/todos",
				Connected: true, Topics: []string{topicTodos}}, time.Hour))

			milk := `{"id":"1","title":"milk","done":false,"owner":"alice"}`
			assert.JSONEq(t, `{"action":"create","ref":2,"todo":`+milk+`}`, roundTrip(t, ctx, alice, `{"action":"create","ref":2,"title":"milk"}`))
			assert.JSONEq(t, `{"topic":"todos","data":{"event":"created","todo":`+milk+`}}`, read(t, ctx, bob))
			_, found, err := store.Get(ctx, "gone-connection")
			require.NoError(t, err)
			assert.False(t, found, "the stale record is dropped by the publish that found it gone")

			requireError(t, roundTrip(t, ctx, bob, `{"action":"complete","id":"1"}`), "complete", "forbidden")
			done := `{"id":"1","title":"milk","done":true,"owner":"alice"}`
			assert.JSONEq(t, `{"action":"complete","todo":`+done+`}`, roundTrip(t, ctx, alice, `{"action":"complete","id":"1"}`))
			assert.JSONEq(t, `{"topic":"todos","data":{"event":"completed","todo":`+done+`}}`, read(t, ctx, bob))

			// Log out: the session and the subscription are gone from the store.
			assert.JSONEq(t, `{"action":"logout"}`, roundTrip(t, ctx, alice, `{"action":"logout"}`))
			requireError(t, roundTrip(t, ctx, alice, `{"action":"list"}`), "list", "unauthenticated")
			subs, err := store.Subscribers(ctx, topicTodos)
			require.NoError(t, err)
			assert.Len(t, subs, 1, "bob only")
			assert.JSONEq(t, `{"action":"create","todo":{"id":"2","title":"eggs","done":false,"owner":"bob"}}`,
				roundTrip(t, ctx, bob, `{"action":"create","title":"eggs"}`))
			assert.JSONEq(t, `{"action":"auth","userId":"alice"}`, roundTrip(t, ctx, alice, `{"action":"auth","token":"alice-token"}`),
				"alice, logged out, got no event; her next frame is this reply")

			// The admin stage: the opening's status refuses the upgrade.
			_, resp, err := websocket.Dial(ctx, ws+"/admin?token=bob-token", nil)
			require.Error(t, err)
			require.NotNil(t, resp)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			admin := dial(t, ctx, ws+"/admin?token=alice-token", nil)
			assert.JSONEq(t, `{"action":"stats","connections":1}`, roundTrip(t, ctx, admin, `{"action":"stats"}`),
				"serverless, the Router holds only the channel of the event")

			for _, c := range []*websocket.Conn{alice, bob, admin} {
				require.NoError(t, c.Close(websocket.StatusNormalClosure, "bye"))
			}
			eventually(t, func() bool { return store.left(t) == 0 }, "the $disconnects delete every record")
			assert.Equal(t, 0, a.router.Len())
		})
	}
	assert.Empty(t, leakcheck.Leaked(2*time.Second), "goroutines left")
}
