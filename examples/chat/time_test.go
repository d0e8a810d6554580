package main

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// The tests of this file depend on time; they run in synctest bubbles, on
// a fake clock that moves only when every goroutine waits.

// TestSayRateLimit: a connection may say three things at once, then one a
// second; a refusal says when to retry, is not broadcast, and spends
// nothing of history's or another connection's allowance.
func TestSayRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a := newTestApp(t)
		alice := join(t, a, "alice-token", "lobby")
		bob := join(t, a, "bob-token", "lobby")
		next(t, alice) // bob joined

		for i, text := range []string{"one", "two", "three"} {
			assert.Contains(t, call(t, alice, `{"action":"say","text":"`+text+`"}`), `"seq":`+string(rune('1'+i)))
		}
		e := requireError(t, call(t, alice, `{"action":"say","ref":4,"text":"four"}`), "say", "rate_limited")
		assert.Equal(t, int64(1000), e.Error.RetryAfterMs, "one token a second, none left")

		got, err := bob.Received(t.Context())
		require.NoError(t, err)
		assert.Len(t, got, 3, "the refused message was not sent: %s", got)
		for range 10 {
			assert.Contains(t, call(t, alice, `{"action":"history","limit":1}`), `"text":"three"`, "history has no limit of its own")
		}
		assert.Contains(t, call(t, bob, `{"action":"say","text":"bob's"}`), `"seq":4`, "each connection has its own bucket")
		next(t, alice) // bob's message

		time.Sleep(time.Duration(e.Error.RetryAfterMs) * time.Millisecond)
		assert.Contains(t, call(t, alice, `{"action":"say","text":"four"}`), `"seq":5`, "allowed again after retryAfterMs")
		requireError(t, call(t, alice, `{"action":"say","text":"five"}`), "say", "rate_limited")
	})
}

// TestSessionExpiry: carol's token lasts 30 s: then her channel closes with
// 4401 (session expired) and the room hears that she left; the others stay.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a := newTestApp(t)
		bob := join(t, a, "bob-token", "lobby")
		carol := join(t, a, "carol-token", "lobby")
		assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"carol"}`), next(t, bob))

		time.Sleep(29 * time.Second)
		synctest.Wait()
		assert.Contains(t, call(t, carol, `{"action":"say","text":"still here"}`), `"user":"carol"`)
		next(t, bob) // carol's message

		time.Sleep(time.Second)
		err := carol.Wait(t.Context())
		assert.Equal(t, wsroute.StatusSessionExpired, wsroute.CloseStatus(err), "%v", err)
		assert.JSONEq(t, ev("lobby", `{"event":"left","user":"carol"}`), next(t, bob))
		assert.Equal(t, 1, a.router.Len())
		assert.Contains(t, call(t, bob, `{"action":"history"}`), `"text":"still here"`)
	})
}

// TestShutdown: a server shutting down closes its channels with 1001 and
// announces nothing — its users did not leave; they will reconnect,
// perhaps to another node — while a user who really leaves is announced on
// every node. Two Routers share a broker, as two servers would.
func TestShutdown(t *testing.T) {
	t.Parallel()
	broker := wsroute.NewMemoryBroker()
	one := newTestAppWith(t, broker)
	two := newTestAppWith(t, broker)
	bob := join(t, two, "bob-token", "lobby")
	alice := join(t, one, "alice-token", "lobby")
	assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"alice"}`), next(t, bob))
	carol := join(t, one, "carol-token", "lobby")
	assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"carol"}`), next(t, bob))
	assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"carol"}`), next(t, alice))

	require.NoError(t, carol.Close(wsroute.StatusGoingAway, "")) // a browser leaving the page
	assert.JSONEq(t, ev("lobby", `{"event":"left","user":"carol"}`), next(t, bob))
	assert.JSONEq(t, ev("lobby", `{"event":"left","user":"carol"}`), next(t, alice))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, one.router.Shutdown(ctx)) // returns after every OnDisconnect
	err := alice.Wait(ctx)
	assert.Equal(t, wsroute.StatusGoingAway, wsroute.CloseStatus(err), "%v", err)
	nothing(t, bob)
}
