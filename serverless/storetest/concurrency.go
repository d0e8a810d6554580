package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/serverless"
)

// pool is the topics the concurrency tests subscribe to.
var pool = []string{"p0", "p1", "p2", "p3", "p4"}

// instances returns two stores on the same data: s and its peer.
func instances(t *testing.T, cfg Config) [2]serverless.ChannelStore {
	s := cfg.New(t)
	peer := s
	if cfg.Peer != nil {
		peer = cfg.Peer(t, s)
	}
	return [2]serverless.ChannelStore{s, peer}
}

// randomTopics returns a random subset of pool, in random order, maybe
// with a duplicate.
func randomTopics(r *rand.Rand) []string {
	var topics []string
	for _, p := range pool {
		if r.IntN(2) == 0 {
			topics = append(topics, p)
		}
	}
	r.Shuffle(len(topics), func(i, j int) { topics[i], topics[j] = topics[j], topics[i] })
	if len(topics) > 0 && r.IntN(4) == 0 {
		topics = append(topics, topics[0])
	}
	return topics
}

// newRand returns a generator whose seed the test logs.
func newRand(t *testing.T, g int) *rand.Rand {
	seed := uint64(time.Now().UnixNano()) + uint64(g)
	t.Logf("instance %d: seed %d", g, seed)
	return rand.New(rand.NewPCG(seed, uint64(g)))
}

// step does one random operation on id and returns what id has
// afterwards as far as this goroutine can tell, given what it had (ok:
// a record, with topics). It is exact when no one else changes id.
func step(t *testing.T, s serverless.ChannelStore, r *rand.Rand, id string, had []string) (topics []string, ok bool, err error) {
	ctx := t.Context()
	switch r.IntN(5) {
	case 0, 1:
		topics = randomTopics(r)
		return topics, true, s.Put(ctx, wsroute.ChannelState{ID: id, Channel: "ch", URL: "/ch", Topics: topics}, longTTL)
	case 2: // read, then compare-and-swap: fails only when the record is gone or changed meanwhile
		old, found, err := s.Get(ctx, id)
		if err != nil || !found {
			return nil, false, err
		}
		topics = randomTopics(r)
		ok, err = s.Update(ctx, old, wsroute.ChannelState{ID: id, Channel: "ch", URL: "/ch", Topics: topics}, longTTL)
		if !ok {
			topics = old.Topics
		}
		return topics, true, err
	case 3:
		ok, err = s.Touch(ctx, id, longTTL)
		return had, ok, err
	default:
		_, _, err = s.Delete(ctx, id)
		return nil, false, err
	}
}

// requireConsistent fails t unless the index of s agrees with its
// records: for every topic of pool, the subscribers are exactly the ids
// (of ids) whose record lists it.
func requireConsistent(t *testing.T, s serverless.ChannelStore, ids []string) {
	t.Helper()
	want := make(map[string][]string)
	for _, id := range ids {
		st, ok := get(t, s, id)
		if !ok {
			continue
		}
		for _, topic := range st.Topics {
			if !slices.Contains(want[topic], id) {
				want[topic] = append(want[topic], id)
			}
		}
	}
	for _, topic := range pool {
		slices.Sort(want[topic])
		assert.Equal(t, want[topic], subscribers(t, s, topic), "subscribers of %s", topic)
	}
}

// deleteAll deletes ids through the peer and requires the store empty
// afterwards.
func deleteAll(t *testing.T, cfg Config, stores [2]serverless.ChannelStore, ids []string) {
	t.Helper()
	for _, id := range ids {
		_, _, err := stores[1].Delete(t.Context(), id)
		require.NoError(t, err)
	}
	for _, topic := range pool {
		assert.Empty(t, subscribers(t, stores[0], topic), "a subscriber without a record, of %s", topic)
	}
	requireEmpty(t, cfg, stores[0])
}

// testConcurrentDistinctIDs: two instances each change their own
// connections at once; each knows the outcome of its own.
func testConcurrentDistinctIDs(t *testing.T, cfg Config) {
	stores := instances(t, cfg)
	const perInstance, steps = 20, 300
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		expect = make(map[string][]string) // id → topics; absent: no record
		all    []string
	)
	for g, s := range stores {
		r := newRand(t, g)
		ids := make([]string, perInstance)
		for i := range ids {
			ids[i] = fmt.Sprintf("i%d-%d", g, i)
		}
		all = append(all, ids...)
		wg.Go(func() {
			mine := make(map[string][]string)
			for range steps {
				id := ids[r.IntN(len(ids))]
				topics, ok, err := step(t, s, r, id, mine[id])
				if !assert.NoError(t, err) {
					return
				}
				if ok {
					mine[id] = topics
				} else {
					delete(mine, id)
				}
			}
			mu.Lock()
			maps.Copy(expect, mine)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, id := range all {
		st, ok := get(t, stores[0], id)
		topics, exists := expect[id]
		require.Equal(t, exists, ok, "record of %s", id)
		if ok {
			assert.Equal(t, topics, st.Topics, "topics of %s", id)
		}
	}
	requireConsistent(t, stores[1], all)
	deleteAll(t, cfg, stores, all)
}

// testConcurrentSameIDs: two instances change the same connections at
// once; whatever the interleaving, the index agrees with the records.
func testConcurrentSameIDs(t *testing.T, cfg Config) {
	stores := instances(t, cfg)
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("shared-%d", i)
	}
	var wg sync.WaitGroup
	for g, s := range stores {
		r := newRand(t, g)
		wg.Go(func() {
			for range 400 {
				if _, _, err := step(t, s, r, ids[r.IntN(len(ids))], nil); !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	requireConsistent(t, stores[0], ids)
	requireConsistent(t, stores[1], ids)
	deleteAll(t, cfg, stores, ids)
}

// race runs f and g at once, as two instances would, and waits for both.
func race(f, g func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { <-start; f() })
	wg.Go(func() { <-start; g() })
	close(start)
	wg.Wait()
}

// testConcurrentDeletes: of two Deletes of one id at once, exactly one
// gets its state.
func testConcurrentDeletes(t *testing.T, cfg Config) {
	stores := instances(t, cfg)
	for i := range 50 {
		id := fmt.Sprintf("c%d", i)
		put(t, stores[0], fullState(id, "a"), longTTL)
		var ok [2]bool
		var err [2]error
		race(func() { _, ok[0], err[0] = stores[0].Delete(t.Context(), id) },
			func() { _, ok[1], err[1] = stores[1].Delete(t.Context(), id) })
		require.NoError(t, err[0])
		require.NoError(t, err[1])
		require.True(t, ok[0] != ok[1], "round %d: Delete oks %v", i, ok)
	}
	assert.Empty(t, subscribers(t, stores[0], "a"))
	requireEmpty(t, cfg, stores[0])
}

// testUpdateRacesDelete: an Update or Touch that races a Delete
// ($disconnect) never brings the connection back.
func testUpdateRacesDelete(t *testing.T, cfg Config) {
	stores := instances(t, cfg)
	for i := range 60 {
		id := fmt.Sprintf("c%d", i)
		put(t, stores[0], fullState(id, "a"), longTTL)
		var errs [2]error
		other := func() {
			if i%2 == 0 {
				_, errs[0] = stores[0].Update(t.Context(), fullState(id, "a"), fullState(id, "b"), longTTL)
			} else {
				_, errs[0] = stores[0].Touch(t.Context(), id, longTTL)
			}
		}
		del := func() { _, _, errs[1] = stores[1].Delete(t.Context(), id) }
		if i%4 < 2 {
			race(other, del)
		} else {
			race(del, other)
		}
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		_, ok := get(t, stores[0], id)
		require.False(t, ok, "round %d: the deleted connection is back", i)
	}
	assert.Empty(t, subscribers(t, stores[0], "a"))
	assert.Empty(t, subscribers(t, stores[0], "b"))
	requireEmpty(t, cfg, stores[0])
}

// testUpdateNoLostUpdate: instances that each read a connection's record
// and write it back with one more topic, all at once, retrying when
// Update reports a change meanwhile, end with every topic in the record:
// no write undid another (as a blind write-back would).
func testUpdateNoLostUpdate(t *testing.T, cfg Config) {
	stores := instances(t, cfg)
	const id, writers = "shared", 12
	put(t, stores[0], wsroute.ChannelState{ID: id, Channel: "ch", URL: "/ch"}, longTTL)
	var wg, read sync.WaitGroup
	conflicts := make([]int, writers)
	read.Add(writers)
	for w := range writers {
		s := stores[w%2]
		wg.Go(func() {
			topic := fmt.Sprintf("w%02d", w)
			for try := range 1000 {
				old, ok, err := s.Get(t.Context(), id)
				if try == 0 {
					// Every writer reads before any writes: all but one of
					// the first Updates must see the record changed.
					read.Done()
					read.Wait()
				}
				if !assert.NoError(t, err) || !assert.True(t, ok) {
					return
				}
				next := old
				next.Topics = append(slices.Clone(old.Topics), topic)
				slices.Sort(next.Topics)
				stored, err := s.Update(t.Context(), old, next, longTTL)
				if !assert.NoError(t, err) || stored {
					return
				}
				conflicts[w]++
			}
			t.Errorf("writer %d: no Update succeeded in 1000 tries", w)
		})
	}
	wg.Wait()
	st, ok := get(t, stores[1], id)
	require.True(t, ok)
	want := make([]string, writers)
	for w := range want {
		want[w] = fmt.Sprintf("w%02d", w)
		assert.Equal(t, []string{id}, subscribers(t, stores[0], want[w]), "subscribers of %s", want[w])
	}
	require.Equal(t, want, st.Topics, "a write undid another")
	total := 0
	for _, n := range conflicts {
		total += n
	}
	assert.GreaterOrEqual(t, total, writers-1, "the writers did not overlap: nothing was tested")
	t.Logf("conflicts (retries) per writer: %v", conflicts)
	_, _, err := stores[1].Delete(t.Context(), id)
	require.NoError(t, err)
	requireEmpty(t, cfg, stores[0])
}
