// Package storetest holds the contract tests of serverless.ChannelStore:
// what every store (memory, Redis, a later DynamoDB one) passes, run by
// each implementation's own tests with [Run].
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, storetest.Config{
//			New: func(t *testing.T) serverless.ChannelStore { return newStoreOnAFreshNamespace(t) },
//		})
//	}
//
// It uses only what the interface promises, so any implementation can run
// it; Config says how to make a store and what the suite may assume of it
// (a fake clock, a second "instance" on the same data, how to see what
// the store still holds).
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/serverless"
)

// Config is what Run needs of an implementation. New is required.
type Config struct {
	// New returns an empty store on a namespace no other test uses (a
	// fresh Redis key prefix, a fresh table); whatever it needs is released
	// when t ends. The suite calls it once per subtest.
	New func(t *testing.T) serverless.ChannelStore
	// Peer, if set, returns another store on the data of s, as a second
	// function instance would have it (a second client of the same Redis
	// and prefix). The concurrency tests drive s and its peer at once;
	// without Peer they share s.
	Peer func(t *testing.T, s serverless.ChannelStore) serverless.ChannelStore
	// Synctest says the store reads time only through package time and
	// starts no goroutine that outlives a call (like MemoryStore): the
	// expiry tests then make their store with New inside a testing/synctest
	// bubble and wait on its fake clock. Otherwise they wait for real:
	// records expire after ShortTTL, polled for at most 5 s.
	Synctest bool
	// Leftovers, if set, describes what s, a store New returned, still
	// holds (the Redis keys of its namespace, say): after every connection
	// was deleted or expired it must return nothing, so an index that keeps
	// empty topics, or expired records, fails.
	Leftovers func(t *testing.T, s serverless.ChannelStore) []string
}

// ShortTTL is the ttl of the records the expiry tests let expire.
const ShortTTL = 200 * time.Millisecond

// longTTL outlives every test.
const longTTL = time.Hour

// maxWait bounds every wait for an expiry.
const maxWait = 5 * time.Second

// Run runs the contract tests of serverless.ChannelStore, each a parallel
// subtest of t on a store of its own.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.New == nil {
		t.Fatal("storetest: Config.New is required")
	}
	tests := []struct {
		name string
		run  func(t *testing.T, cfg Config)
	}{
		{"RoundTrip", testRoundTrip},
		{"Invalid", testInvalid},
		{"ReplaceKeepsIndex", testReplaceKeepsIndex},
		{"Delete", testDelete},
		{"Update", testUpdate},
		{"TouchAbsent", testTouchAbsent},
		{"TopicNames", testTopicNames},
		{"ManySubscribers", testManySubscribers},
		{"CancelledContext", testCancelledContext},
		{"Expiry", testExpiry},
		{"TouchKeepsAlive", testTouchKeepsAlive},
		{"ExpiryPerConnection", testExpiryPerConnection},
		{"PutAfterExpiry", testPutAfterExpiry},
		{"ConcurrentDistinctIDs", testConcurrentDistinctIDs},
		{"ConcurrentSameIDs", testConcurrentSameIDs},
		{"ConcurrentDeletes", testConcurrentDeletes},
		{"UpdateRacesDelete", testUpdateRacesDelete},
		{"UpdateNoLostUpdate", testUpdateNoLostUpdate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, cfg)
		})
	}
}

// fullState returns a ChannelState with every field set.
func fullState(id string, topics ...string) wsroute.ChannelState {
	return wsroute.ChannelState{
		ID:         id,
		Channel:    "rooms",
		URL:        "/rooms/lobby?x=1&y=%C3%A9",
		Header:     http.Header{"Authorization": {"Bearer t0k"}, "X-Multi": {"a", "b"}},
		RemoteAddr: "203.0.113.7:51234",
		Session:    json.RawMessage(`{"user":"ada","roles":["admin"],"n":12345678901234567890}`),
		// With a monotonic reading, which the store drops.
		SessionExpires: time.Now().Add(90 * time.Minute),
		Connected:      true,
		Topics:         topics,
	}
}

// requireState fails t unless got is want as it comes back from a store.
func requireState(t *testing.T, want, got wsroute.ChannelState) {
	t.Helper()
	assert.True(t, want.SessionExpires.Equal(got.SessionExpires), "SessionExpires: want %v, got %v", want.SessionExpires, got.SessionExpires)
	assert.Equal(t, got.SessionExpires.Round(0), got.SessionExpires, "SessionExpires keeps a monotonic clock reading")
	if len(want.Session) == 0 {
		assert.Empty(t, got.Session, "Session")
	} else {
		assert.JSONEq(t, string(want.Session), string(got.Session), "Session")
	}
	norm := func(st wsroute.ChannelState) wsroute.ChannelState {
		st.SessionExpires, st.Session = time.Time{}, nil
		if len(st.Header) == 0 {
			st.Header = nil
		}
		if len(st.Topics) == 0 {
			st.Topics = nil
		}
		return st
	}
	require.Equal(t, norm(want), norm(got))
}

// get returns the state of id, failing t on an error.
func get(t *testing.T, s serverless.ChannelStore, id string) (wsroute.ChannelState, bool) {
	t.Helper()
	st, ok, err := s.Get(t.Context(), id)
	require.NoError(t, err)
	return st, ok
}

// put stores st with ttl, failing t on an error.
func put(t *testing.T, s serverless.ChannelStore, st wsroute.ChannelState, ttl time.Duration) {
	t.Helper()
	require.NoError(t, s.Put(t.Context(), st, ttl))
}

// subscribers returns the subscribers of topic, sorted, failing t on an
// error or a duplicate.
func subscribers(t *testing.T, s serverless.ChannelStore, topic string) []string {
	t.Helper()
	ids, err := s.Subscribers(t.Context(), topic)
	require.NoError(t, err)
	slices.Sort(ids)
	require.Equal(t, slices.Compact(slices.Clone(ids)), ids, "duplicates among the subscribers of %q", topic)
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// requireEmpty fails t if cfg.Leftovers says s still holds something.
func requireEmpty(t *testing.T, cfg Config, s serverless.ChannelStore) {
	t.Helper()
	if cfg.Leftovers != nil {
		require.Empty(t, cfg.Leftovers(t, s), "the store holds these after every connection was deleted")
	}
}

func testRoundTrip(t *testing.T, cfg Config) {
	s := cfg.New(t)
	_, ok := get(t, s, "never")
	require.False(t, ok, "Get of an id never stored")

	orig := fullState("c1", "a", "b")
	want := fullState("c1", "a", "b")
	want.SessionExpires = orig.SessionExpires
	put(t, s, want, longTTL)
	got, ok := get(t, s, "c1")
	require.True(t, ok)
	requireState(t, orig, got)

	// The store keeps its own copy: changing what was passed or returned
	// changes nothing stored.
	want.Header.Set("Authorization", "changed")
	want.Topics[0] = "changed"
	got.Header.Set("X-Multi", "changed")
	got.Topics[1] = "changed"
	again, ok := get(t, s, "c1")
	require.True(t, ok)
	requireState(t, orig, again)

	// A minimal state: zero fields stay zero.
	bare := wsroute.ChannelState{ID: "c2", Channel: "ch", URL: "/ch"}
	put(t, s, bare, 0)
	got, ok = get(t, s, "c2")
	require.True(t, ok)
	requireState(t, bare, got)
	assert.True(t, got.SessionExpires.IsZero())
	assert.False(t, got.Connected)

	// Session JSON with spaces and HTML-ish characters comes back equivalent.
	spaced := bare
	spaced.ID, spaced.Session = "c3", json.RawMessage(" { \"a\" : [1, 2] , \"h\": \"<b>&</b>\" } ")
	put(t, s, spaced, 0)
	got, ok = get(t, s, "c3")
	require.True(t, ok)
	requireState(t, spaced, got)
}

func testInvalid(t *testing.T, cfg Config) {
	s := cfg.New(t)
	err := s.Put(t.Context(), wsroute.ChannelState{Channel: "x", Topics: []string{"a"}}, 0)
	require.ErrorIs(t, err, serverless.ErrNoID)
	_, err = s.Update(t.Context(), wsroute.ChannelState{Channel: "x"}, wsroute.ChannelState{Channel: "x"}, 0)
	require.ErrorIs(t, err, serverless.ErrNoID)
	put(t, s, fullState("c0", "a"), 0)
	_, err = s.Update(t.Context(), fullState("c0", "a"), fullState("other", "a"), 0)
	require.Error(t, err, "Update of one id in place of another")
	_, _, err = s.Delete(t.Context(), "c0")
	require.NoError(t, err)

	bad := fullState("bad", "a")
	bad.Session = json.RawMessage(`{"not json`)
	require.Error(t, s.Put(t.Context(), bad, 0), "a Session that is not JSON")
	_, ok := get(t, s, "bad")
	require.False(t, ok, "a failed Put stored something")
	require.Empty(t, subscribers(t, s, "a"))
	requireEmpty(t, cfg, s)
}

func testReplaceKeepsIndex(t *testing.T, cfg Config) {
	s := cfg.New(t)
	put(t, s, fullState("c1", "a", "b"), longTTL)
	put(t, s, fullState("c2", "b"), longTTL)
	assert.Equal(t, []string{"c1"}, subscribers(t, s, "a"))
	assert.Equal(t, []string{"c1", "c2"}, subscribers(t, s, "b"))

	next := fullState("c1", "b", "c")
	put(t, s, next, longTTL)
	got, ok := get(t, s, "c1")
	require.True(t, ok)
	requireState(t, next, got)
	assert.Empty(t, subscribers(t, s, "a"), "c1 left a")
	assert.Equal(t, []string{"c1", "c2"}, subscribers(t, s, "b"))
	assert.Equal(t, []string{"c1"}, subscribers(t, s, "c"))

	// Duplicates count once.
	put(t, s, fullState("c1", "c", "c", "d", "c"), longTTL)
	assert.Equal(t, []string{"c1"}, subscribers(t, s, "c"))
	assert.Equal(t, []string{"c1"}, subscribers(t, s, "d"))
	assert.Equal(t, []string{"c2"}, subscribers(t, s, "b"))

	// No topics: no subscription left; another ttl, including none.
	put(t, s, fullState("c1"), 0)
	for _, topic := range []string{"a", "b", "c", "d"} {
		assert.NotContains(t, subscribers(t, s, topic), "c1", topic)
	}
	_, ok = get(t, s, "c1")
	require.True(t, ok)
	assert.Empty(t, subscribers(t, s, "never-used"))
}

func testDelete(t *testing.T, cfg Config) {
	s := cfg.New(t)
	want := fullState("c1", "a", "b")
	put(t, s, want, longTTL)
	put(t, s, fullState("c2", "b"), longTTL)

	got, ok, err := s.Delete(t.Context(), "c1")
	require.NoError(t, err)
	require.True(t, ok)
	requireState(t, want, got)

	_, ok = get(t, s, "c1")
	assert.False(t, ok, "Get after Delete")
	assert.Empty(t, subscribers(t, s, "a"))
	assert.Equal(t, []string{"c2"}, subscribers(t, s, "b"))

	for range 2 { // idempotent
		_, ok, err = s.Delete(t.Context(), "c1")
		require.NoError(t, err)
		assert.False(t, ok, "a second Delete")
	}
	_, ok, err = s.Delete(t.Context(), "never")
	require.NoError(t, err)
	assert.False(t, ok, "Delete of an id never stored")

	// A deleted id can be stored again, from scratch.
	put(t, s, fullState("c1", "c"), longTTL)
	assert.Empty(t, subscribers(t, s, "a"))
	assert.Equal(t, []string{"c1"}, subscribers(t, s, "c"))

	for _, id := range []string{"c1", "c2"} {
		_, ok, err = s.Delete(t.Context(), id)
		require.NoError(t, err)
		require.True(t, ok, id)
	}
	requireEmpty(t, cfg, s)
}

func testUpdate(t *testing.T, cfg Config) {
	s := cfg.New(t)
	ok, err := s.Update(t.Context(), fullState("c1", "a"), fullState("c1", "a"), longTTL)
	require.NoError(t, err)
	assert.False(t, ok, "Update of an id never stored")
	_, ok = get(t, s, "c1")
	assert.False(t, ok, "Update created a record")
	assert.Empty(t, subscribers(t, s, "a"), "Update created a subscription")

	put(t, s, fullState("c1", "a"), longTTL)
	old, ok := get(t, s, "c1") // the state as read, as a message handler has it
	require.True(t, ok)
	next := fullState("c1", "b")
	next.Session = json.RawMessage(`{"user":"grace"}`)
	ok, err = s.Update(t.Context(), old, next, longTTL)
	require.NoError(t, err)
	require.True(t, ok)
	got, ok := get(t, s, "c1")
	require.True(t, ok)
	requireState(t, next, got)
	assert.Empty(t, subscribers(t, s, "a"))
	assert.Equal(t, []string{"c1"}, subscribers(t, s, "b"))

	// A second writer that read the record before that Update: refused,
	// nothing changes.
	stale := fullState("c1", "c")
	ok, err = s.Update(t.Context(), old, stale, longTTL)
	require.NoError(t, err)
	assert.False(t, ok, "Update from a state that is no longer the record's")
	got, ok = get(t, s, "c1")
	require.True(t, ok)
	requireState(t, next, got)
	assert.Empty(t, subscribers(t, s, "c"), "a refused Update changed the index")
	// From the state it reads now, it succeeds.
	ok, err = s.Update(t.Context(), got, stale, longTTL)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, []string{"c1"}, subscribers(t, s, "c"))
	next = stale

	_, _, err = s.Delete(t.Context(), "c1")
	require.NoError(t, err)
	ok, err = s.Update(t.Context(), next, next, longTTL)
	require.NoError(t, err)
	assert.False(t, ok, "Update after Delete")
	_, ok = get(t, s, "c1")
	assert.False(t, ok, "Update brought a deleted record back")
	assert.Empty(t, subscribers(t, s, "b"))
	requireEmpty(t, cfg, s)
}

func testTouchAbsent(t *testing.T, cfg Config) {
	s := cfg.New(t)
	ok, err := s.Touch(t.Context(), "never", longTTL)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok = get(t, s, "never")
	assert.False(t, ok, "Touch created a record")

	put(t, s, fullState("c1", "a"), longTTL)
	ok, err = s.Touch(t.Context(), "c1", longTTL)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = s.Touch(t.Context(), "c1", 0)
	require.NoError(t, err)
	assert.True(t, ok)
	_, _, err = s.Delete(t.Context(), "c1")
	require.NoError(t, err)
	ok, err = s.Touch(t.Context(), "c1", longTTL)
	require.NoError(t, err)
	assert.False(t, ok, "Touch after Delete")
	_, ok = get(t, s, "c1")
	assert.False(t, ok, "Touch brought a deleted record back")
	requireEmpty(t, cfg, s)
}

// testTopicNames uses topic and id names that a key scheme could confuse.
func testTopicNames(t *testing.T, cfg Config) {
	s := cfg.New(t)
	topics := []string{"", "s", "t:", "t:x", "a:b", "a b", "été/🙂", "*", "{tag}", "c:c1", "x\x00y", "\n"}
	ids := []string{"c1", "c:1", "t:1", "s", "Zm9vYmFy=", "id with space", "é"}
	for i, id := range ids {
		put(t, s, fullState(id, topics[i%len(topics):]...), longTTL)
	}
	for j, topic := range topics {
		var want []string
		for i, id := range ids {
			if j >= i%len(topics) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		assert.Equal(t, want, subscribers(t, s, topic), "topic %q", topic)
	}
	for _, id := range ids {
		st, ok := get(t, s, id)
		require.True(t, ok, id)
		assert.Equal(t, id, st.ID)
		_, ok, err := s.Delete(t.Context(), id)
		require.NoError(t, err)
		require.True(t, ok, id)
	}
	for _, topic := range topics {
		assert.Empty(t, subscribers(t, s, topic), "topic %q", topic)
	}
	requireEmpty(t, cfg, s)
}

func testManySubscribers(t *testing.T, cfg Config) {
	s := cfg.New(t)
	const n = 2500
	var all, even []string
	for i := range n {
		id := fmt.Sprintf("conn-%04d", i)
		topics := []string{"big"}
		if i%2 == 0 {
			topics = append(topics, "even")
			even = append(even, id)
		}
		all = append(all, id)
		st := wsroute.ChannelState{ID: id, Channel: "ch", URL: "/ch", Topics: topics}
		put(t, s, st, longTTL)
	}
	assert.Equal(t, all, subscribers(t, s, "big"))
	assert.Equal(t, even, subscribers(t, s, "even"))

	for _, id := range even {
		_, ok, err := s.Delete(t.Context(), id)
		require.NoError(t, err)
		require.True(t, ok)
	}
	odd := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(even, id) })
	assert.Equal(t, odd, subscribers(t, s, "big"))
	assert.Empty(t, subscribers(t, s, "even"))
	for _, id := range odd {
		_, _, err := s.Delete(t.Context(), id)
		require.NoError(t, err)
	}
	assert.Empty(t, subscribers(t, s, "big"))
	requireEmpty(t, cfg, s)
}

func testCancelledContext(t *testing.T, cfg Config) {
	s := cfg.New(t)
	put(t, s, fullState("c1", "a"), longTTL)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, s.Put(ctx, fullState("c2", "a"), longTTL), context.Canceled, "Put")
	_, err := s.Update(ctx, fullState("c1", "a"), fullState("c1", "b"), longTTL)
	require.ErrorIs(t, err, context.Canceled, "Update")
	_, _, err = s.Get(ctx, "c1")
	require.ErrorIs(t, err, context.Canceled, "Get")
	_, _, err = s.Delete(ctx, "c1")
	require.ErrorIs(t, err, context.Canceled, "Delete")
	_, err = s.Subscribers(ctx, "a")
	require.ErrorIs(t, err, context.Canceled, "Subscribers")
	_, err = s.Touch(ctx, "c1", longTTL)
	require.ErrorIs(t, err, context.Canceled, "Touch")

	st, ok := get(t, s, "c1")
	require.True(t, ok, "a cancelled Delete deleted")
	assert.Equal(t, []string{"a"}, st.Topics, "a cancelled Update updated")
	_, ok = get(t, s, "c2")
	assert.False(t, ok, "a cancelled Put stored")
}
