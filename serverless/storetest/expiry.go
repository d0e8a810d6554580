package storetest

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/serverless"
)

// inTime runs f on a store made by cfg.New, inside a synctest bubble
// when cfg.Synctest.
func inTime(t *testing.T, cfg Config, f func(t *testing.T, s serverless.ChannelStore)) {
	if cfg.Synctest {
		synctest.Test(t, func(t *testing.T) { f(t, cfg.New(t)) })
		return
	}
	f(t, cfg.New(t))
}

// eventually waits until cond holds, failing t after maxWait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(maxWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", maxWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone waits until the record of id expired.
func gone(t *testing.T, s serverless.ChannelStore, id string) {
	t.Helper()
	eventually(t, id+" expires", func() bool {
		_, ok := get(t, s, id)
		return !ok
	})
}

func testExpiry(t *testing.T, cfg Config) {
	inTime(t, cfg, func(t *testing.T, s serverless.ChannelStore) {
		put(t, s, fullState("short", "a"), ShortTTL)
		put(t, s, fullState("never", "a"), 0)
		_, ok := get(t, s, "short")
		require.True(t, ok, "expired at once")
		assert.Equal(t, []string{"never", "short"}, subscribers(t, s, "a"))

		time.Sleep(ShortTTL)
		gone(t, s, "short")
		assert.Equal(t, []string{"never"}, subscribers(t, s, "a"), "an expired connection is still a subscriber")
		_, ok, err := s.Delete(t.Context(), "short")
		require.NoError(t, err)
		assert.False(t, ok, "Delete of an expired record")
		ok, err = s.Touch(t.Context(), "short", longTTL)
		require.NoError(t, err)
		assert.False(t, ok, "Touch of an expired record")
		ok, err = s.Update(t.Context(), fullState("short", "a"), fullState("short", "b"), longTTL)
		require.NoError(t, err)
		assert.False(t, ok, "Update of an expired record")
		_, ok = get(t, s, "short")
		assert.False(t, ok, "Touch or Update brought an expired record back")

		_, ok = get(t, s, "never")
		assert.True(t, ok, "a record stored with ttl 0 expired")
		_, _, err = s.Delete(t.Context(), "never")
		require.NoError(t, err)
		requireEmpty(t, cfg, s)
	})
}

func testTouchKeepsAlive(t *testing.T, cfg Config) {
	inTime(t, cfg, func(t *testing.T, s serverless.ChannelStore) {
		ttl := 3 * ShortTTL
		put(t, s, fullState("c1", "a"), ttl)
		put(t, s, fullState("c2", "a"), ttl)
		for range 8 { // 4 ShortTTLs in all, longer than ttl
			time.Sleep(ShortTTL / 2)
			ok, err := s.Touch(t.Context(), "c1", ttl)
			require.NoError(t, err)
			require.True(t, ok, "expired while touched")
		}
		gone(t, s, "c2")
		_, ok := get(t, s, "c1")
		require.True(t, ok)
		assert.Equal(t, []string{"c1"}, subscribers(t, s, "a"), "a touched connection's subscriptions")

		// Touch with no ttl: it stays.
		ok, err := s.Touch(t.Context(), "c1", 0)
		require.NoError(t, err)
		require.True(t, ok)
		time.Sleep(2 * ttl)
		_, ok = get(t, s, "c1")
		require.True(t, ok, "expired after Touch with ttl 0")
		assert.Equal(t, []string{"c1"}, subscribers(t, s, "a"))

		// And a Put restarts the expiry as well.
		put(t, s, fullState("c1", "a"), ShortTTL)
		time.Sleep(ShortTTL)
		gone(t, s, "c1")
		assert.Empty(t, subscribers(t, s, "a"))
		requireEmpty(t, cfg, s)
	})
}

// testExpiryPerConnection: a short-lived subscriber stored after a
// long-lived one does not take the topic's other subscribers with it.
func testExpiryPerConnection(t *testing.T, cfg Config) {
	inTime(t, cfg, func(t *testing.T, s serverless.ChannelStore) {
		put(t, s, fullState("long", "a", "b"), longTTL)
		put(t, s, fullState("short", "a", "c"), ShortTTL)
		put(t, s, fullState("short2", "b"), ShortTTL)
		ok, err := s.Touch(t.Context(), "short2", ShortTTL)
		require.NoError(t, err)
		require.True(t, ok)
		time.Sleep(ShortTTL)
		gone(t, s, "short")
		gone(t, s, "short2")
		assert.Equal(t, []string{"long"}, subscribers(t, s, "a"))
		assert.Equal(t, []string{"long"}, subscribers(t, s, "b"))
		assert.Empty(t, subscribers(t, s, "c"))
		_, ok = get(t, s, "long")
		require.True(t, ok)
		_, _, err = s.Delete(t.Context(), "long")
		require.NoError(t, err)
		requireEmpty(t, cfg, s)
	})
}

// testPutAfterExpiry: an id stored again after its record expired is a
// subscriber of its new topics only, whatever the old record left behind.
func testPutAfterExpiry(t *testing.T, cfg Config) {
	inTime(t, cfg, func(t *testing.T, s serverless.ChannelStore) {
		put(t, s, fullState("c1", "old", "both"), ShortTTL)
		time.Sleep(ShortTTL)
		gone(t, s, "c1")
		put(t, s, fullState("c1", "new", "both"), longTTL)
		assert.Empty(t, subscribers(t, s, "old"), "the expired record's topic")
		assert.Equal(t, []string{"c1"}, subscribers(t, s, "new"))
		assert.Equal(t, []string{"c1"}, subscribers(t, s, "both"))
		_, ok, err := s.Delete(t.Context(), "c1")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Empty(t, subscribers(t, s, "both"))
		requireEmpty(t, cfg, s)
	})
}
