package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/wsroute/wsroute"
)

// MemoryStore is a [ChannelStore] in the memory of one process: for tests,
// the local API Gateway emulator and single-instance runs. Instances of a
// real deployment cannot share it; use [RedisStore].
//
// It keeps each record as its JSON encoding, so it returns exactly what a
// store that serializes would (see ChannelStore). Expiry reads the clock
// of package time (tests drive it with testing/synctest) and starts no
// goroutine: an expired record counts as absent at once, and is freed by
// the next call that meets it, or by a sweep of every expired record that
// runs once per Puts as many as half the records (amortized O(1) per
// Put), so abandoned connections do not pile up.
type MemoryStore struct {
	mu      sync.Mutex
	records map[string]*memRecord
	topics  map[string]map[string]struct{} // topic → ids
	puts    int                            // Puts and Updates since the last sweep
}

type memRecord struct {
	data    []byte    // the JSON of the ChannelState
	topics  []string  // the topics it is indexed under, no duplicates
	expires time.Time // zero: never
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{records: make(map[string]*memRecord), topics: make(map[string]map[string]struct{})}
}

var _ ChannelStore = (*MemoryStore)(nil)

// Put implements [ChannelStore].
func (s *MemoryStore) Put(ctx context.Context, st wsroute.ChannelState, ttl time.Duration) error {
	data, err := encodePut(st)
	if err != nil {
		return err
	}
	_, err = s.put(ctx, st, data, ttl, nil)
	return err
}

// Update implements [ChannelStore].
func (s *MemoryStore) Update(ctx context.Context, old, st wsroute.ChannelState, ttl time.Duration) (bool, error) {
	expect, data, err := encodeUpdate(old, st)
	if err != nil {
		return false, err
	}
	return s.put(ctx, st, data, ttl, expect)
}

// put stores st (encoded as data); with expect non-nil only if the record
// exists and is expect.
func (s *MemoryStore) put(ctx context.Context, st wsroute.ChannelState, data []byte, ttl time.Duration, expect []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	topics := dedup(st.Topics)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(now)
	old := s.live(st.ID, now)
	if expect != nil && (old == nil || !bytes.Equal(old.data, expect)) {
		return false, nil
	}
	if old != nil {
		s.unindex(st.ID, old.topics)
	}
	s.records[st.ID] = &memRecord{data: data, topics: topics, expires: expiry(now, ttl)}
	for _, t := range topics {
		ids := s.topics[t]
		if ids == nil {
			ids = make(map[string]struct{})
			s.topics[t] = ids
		}
		ids[st.ID] = struct{}{}
	}
	return true, nil
}

// Get implements [ChannelStore].
func (s *MemoryStore) Get(ctx context.Context, id string) (wsroute.ChannelState, bool, error) {
	if err := ctx.Err(); err != nil {
		return wsroute.ChannelState{}, false, err
	}
	s.mu.Lock()
	r := s.live(id, time.Now())
	s.mu.Unlock()
	if r == nil {
		return wsroute.ChannelState{}, false, nil
	}
	return decodeState(r.data)
}

// Delete implements [ChannelStore].
func (s *MemoryStore) Delete(ctx context.Context, id string) (wsroute.ChannelState, bool, error) {
	if err := ctx.Err(); err != nil {
		return wsroute.ChannelState{}, false, err
	}
	s.mu.Lock()
	r := s.live(id, time.Now())
	if r != nil {
		s.remove(id, r)
	}
	s.mu.Unlock()
	if r == nil {
		return wsroute.ChannelState{}, false, nil
	}
	return decodeState(r.data)
}

// Subscribers implements [ChannelStore].
func (s *MemoryStore) Subscribers(ctx context.Context, topic string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.topics[topic]))
	for id := range s.topics[topic] {
		ids = append(ids, id)
	}
	live := ids[:0]
	for _, id := range ids {
		if s.live(id, now) != nil { // frees id when expired, changing s.topics[topic]
			live = append(live, id)
		}
	}
	return live, nil
}

// Touch implements [ChannelStore].
func (s *MemoryStore) Touch(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.live(id, now)
	if r == nil {
		return false, nil
	}
	r.expires = expiry(now, ttl)
	return true, nil
}

// Len returns how many records the store holds, expired ones not yet
// freed included: tests see with it that abandoned connections go away.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// live returns the record of id unless it is absent or expired at now,
// freeing it when expired. s.mu is held.
func (s *MemoryStore) live(id string, now time.Time) *memRecord {
	r := s.records[id]
	if r == nil {
		return nil
	}
	if !r.expires.IsZero() && !now.Before(r.expires) {
		s.remove(id, r)
		return nil
	}
	return r
}

// remove frees the record r of id and its index entries. s.mu is held.
func (s *MemoryStore) remove(id string, r *memRecord) {
	delete(s.records, id)
	s.unindex(id, r.topics)
}

// unindex removes id from the subscribers of topics. s.mu is held.
func (s *MemoryStore) unindex(id string, topics []string) {
	for _, t := range topics {
		ids := s.topics[t]
		delete(ids, id)
		if len(ids) == 0 {
			delete(s.topics, t)
		}
	}
}

// tick counts a Put and sweeps every expired record once there have been
// more Puts than half the records since the last sweep (half: the records
// may grow with every Put too). s.mu is held.
func (s *MemoryStore) tick(now time.Time) {
	s.puts++
	if s.puts <= len(s.records)/2 {
		return // a sweep costs O(records): at most two record visits per Put
	}
	s.puts = 0
	for id := range s.records {
		s.live(id, now)
	}
}

// expiry returns when a record stored at now with ttl expires; zero for
// never.
func expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

// dedup returns topics without duplicates, in their order.
func dedup(topics []string) []string {
	seen := make(map[string]struct{}, len(topics))
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if _, ok := seen[t]; !ok {
			seen[t] = struct{}{}
			out = append(out, t)
		}
	}
	return out
}

// decodeState decodes a stored record.
func decodeState(data []byte) (wsroute.ChannelState, bool, error) {
	var st wsroute.ChannelState
	if err := json.Unmarshal(data, &st); err != nil {
		return wsroute.ChannelState{}, false, err
	}
	return st, true, nil
}
