package serverless

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsroute/wsroute"
)

// RedisStoreOptions configure a [RedisStore]. Exactly one of Client and
// Addr is set.
type RedisStoreOptions struct {
	// Client is a client of the caller's (a *redis.Client, or a
	// *redis.ClusterClient: see RedisStore about Cluster). The store uses
	// it and leaves it open on Close.
	Client redis.UniversalClient
	// Addr is the host:port of a Redis the store makes its own client of,
	// closed by Close.
	Addr string
	// Prefix starts every key of the store; default "wsroute:". The
	// deployments (or tests) that share a Redis use distinct prefixes.
	Prefix string
}

// RedisStore is a [ChannelStore] in Redis, shared by every function
// instance of a deployment. It needs Redis 5 or later (Lua scripts with
// effects replication).
//
// # Data layout
//
// With P the Prefix:
//
//   - P+"c:"+id, a hash per connection: field "s" holds the JSON of its
//     ChannelState; one field "t:"+topic (empty value) per topic it is
//     indexed under. The hash carries the connection's TTL, so the record
//     and its membership expire together, in one step.
//   - P+"t:"+topic, a set per topic: the ids of its subscribers. It is an
//     index that may hold more than the truth, never less: an id is a
//     subscriber of topic exactly when it is in the set and its hash
//     (alive) has the field "t:"+topic. Subscribers checks both and
//     removes, with SREM, the ids that fail (lazy cleanup of expired
//     connections).
//
// # Atomicity
//
// Put, Update, Delete and Touch are each one Lua script, which Redis runs
// without interleaving any other command: a script reads the connection's
// old membership from its hash, removes the id from the topic sets it
// leaves, rewrites the hash and adds the id to the sets of its topics, all
// at once. Two instances that Put and Delete the same id concurrently are
// thus serialized: afterwards the id either has one whole record whose
// topic sets hold it, or no record and no entry in the sets of the topics
// it had. Update compares the record with the state the caller read
// inside its script, and Touch checks that the record exists inside its
// own, so neither resurrects a connection a Delete removed, and Update
// never overwrites a concurrent Update. Get is
// one HGET. Subscribers reads a topic set with SMEMBERS, then checks the
// ids in batches of 1000, one script per batch (so that a huge topic does
// not stall Redis); a check and the SREM of a dead id are one step, so a
// concurrent Put that makes the id a subscriber again cannot lose its
// entry. Stale ids can only come from expiry (a hash that expired leaves
// its entries behind) or from a Put whose earlier record expired; they are
// never returned.
//
// # Topic set expiry
//
// A topic set must not outlive its subscribers forever, nor expire before
// any of them. Each Put, Update or Touch with ttl > 0 extends the TTL of
// the sets of the connection's topics to at least ttl (never shortening
// it), so a set lives as long as its longest-lived subscriber, and
// disappears on its own once all of them stopped being refreshed; a
// connection stored with ttl ≤ 0 makes its topic sets persistent. Redis
// also deletes a set as soon as its last member is removed (Delete, Put,
// lazy cleanup). The one case that leaves garbage: a set made persistent
// by a connection without expiry keeps no TTL after that connection is
// deleted, so ids of its other members that expire stay in it until a
// Subscribers of that topic, or a Delete or Put of theirs, removes them.
// Deployments that always store with a ttl > 0 have no such sets.
//
// # Cluster
//
// The scripts touch keys they compute from the hash (the topic sets of a
// connection, the hashes of a topic's subscribers), which Redis Cluster
// allows only when they live in one slot: with a ClusterClient, give a
// Prefix with a hash tag, like "{wsroute}:", which puts the whole store in
// the slot of "wsroute" (on one shard).
type RedisStore struct {
	client  redis.UniversalClient
	own     bool   // Close closes client
	records string // Prefix + "c:"
	topics  string // Prefix + "t:"
}

var _ ChannelStore = (*RedisStore)(nil)

// subscribersBatch is how many ids one script of Subscribers checks.
const subscribersBatch = 1000

// NewRedisStore returns a RedisStore as opts say. It does not connect:
// the first call does.
func NewRedisStore(opts RedisStoreOptions) (*RedisStore, error) {
	if (opts.Client == nil) == (opts.Addr == "") {
		return nil, errors.New("serverless: RedisStoreOptions needs exactly one of Client and Addr")
	}
	if opts.Prefix == "" {
		opts.Prefix = "wsroute:"
	}
	s := &RedisStore{client: opts.Client, records: opts.Prefix + "c:", topics: opts.Prefix + "t:"}
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{Addr: opts.Addr})
		s.own = true
	}
	return s, nil
}

// Close closes the client the store made itself (from Addr); a client
// given in the options stays open.
func (s *RedisStore) Close() error {
	if s.own {
		return s.client.Close()
	}
	return nil
}

// extendLua is the Lua function that gives a topic set key a TTL of at
// least ttl milliseconds, never shortening it; ttl ≤ 0 makes it
// persistent. A set without TTL that has other members than the caller's
// id was made persistent by a connection without expiry, and stays so.
const extendLua = `
local function extend(key, ttl)
  if ttl <= 0 then
    redis.call('PERSIST', key)
    return
  end
  local left = redis.call('PTTL', key)
  if left == -1 then
    if redis.call('SCARD', key) == 1 then redis.call('PEXPIRE', key, ttl) end
  elseif left < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
`

// putScript stores a record. KEYS[1]: the hash. ARGV: id, state JSON, ttl
// (ms, ≤ 0 never), topic set prefix, the JSON the record must still hold
// (Update) or "" (Put), the topics (no duplicates). It returns 1 when it
// stored, 0 when Update found no record or another one.
var putScript = redis.NewScript(extendLua + `
local rec, id, ttl, tp = KEYS[1], ARGV[1], tonumber(ARGV[3]), ARGV[4]
local exists = redis.call('EXISTS', rec) == 1
if ARGV[5] ~= '' and redis.call('HGET', rec, 's') ~= ARGV[5] then return 0 end
if exists then
  local keep = {}
  for i = 6, #ARGV do keep[ARGV[i]] = true end
  for _, f in ipairs(redis.call('HKEYS', rec)) do
    if string.sub(f, 1, 2) == 't:' then
      local t = string.sub(f, 3)
      if not keep[t] then redis.call('SREM', tp .. t, id) end
    end
  end
  redis.call('DEL', rec)
end
redis.call('HSET', rec, 's', ARGV[2])
for i = 6, #ARGV do redis.call('HSET', rec, 't:' .. ARGV[i], '') end
if ttl > 0 then redis.call('PEXPIRE', rec, ttl) end
for i = 6, #ARGV do
  local key = tp .. ARGV[i]
  redis.call('SADD', key, id)
  extend(key, ttl)
end
return 1
`)

// deleteScript removes a record. KEYS[1]: the hash. ARGV: id, topic set
// prefix. It returns the state JSON, or nil when there was none.
var deleteScript = redis.NewScript(`
local rec, id, tp = KEYS[1], ARGV[1], ARGV[2]
local state = redis.call('HGET', rec, 's')
if not state then return false end
for _, f in ipairs(redis.call('HKEYS', rec)) do
  if string.sub(f, 1, 2) == 't:' then redis.call('SREM', tp .. string.sub(f, 3), id) end
end
redis.call('DEL', rec)
return state
`)

// touchScript restarts a record's expiry. KEYS[1]: the hash. ARGV: ttl
// (ms, ≤ 0 never), topic set prefix. It returns 1, or 0 when there is no
// record.
var touchScript = redis.NewScript(extendLua + `
local rec, ttl, tp = KEYS[1], tonumber(ARGV[1]), ARGV[2]
if redis.call('EXISTS', rec) == 0 then return 0 end
if ttl > 0 then redis.call('PEXPIRE', rec, ttl) else redis.call('PERSIST', rec) end
for _, f in ipairs(redis.call('HKEYS', rec)) do
  if string.sub(f, 1, 2) == 't:' then extend(tp .. string.sub(f, 3), ttl) end
end
return 1
`)

// filterScript keeps the ids that are subscribers of a topic and removes
// the others from its set. KEYS[1]: the topic set. ARGV: record key
// prefix, the topic's hash field, the ids. It returns those kept.
var filterScript = redis.NewScript(`
local live = {}
for i = 3, #ARGV do
  if redis.call('HEXISTS', ARGV[1] .. ARGV[i], ARGV[2]) == 1 then
    live[#live + 1] = ARGV[i]
  else
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return live
`)

// Put implements [ChannelStore].
func (s *RedisStore) Put(ctx context.Context, st wsroute.ChannelState, ttl time.Duration) error {
	data, err := encodePut(st)
	if err != nil {
		return err
	}
	_, err = s.put(ctx, st, data, ttl, nil)
	return err
}

// Update implements [ChannelStore].
func (s *RedisStore) Update(ctx context.Context, old, st wsroute.ChannelState, ttl time.Duration) (bool, error) {
	expect, data, err := encodeUpdate(old, st)
	if err != nil {
		return false, err
	}
	return s.put(ctx, st, data, ttl, expect)
}

// put stores st (encoded as data); with expect non-nil only if the record
// exists and is expect.
func (s *RedisStore) put(ctx context.Context, st wsroute.ChannelState, data []byte, ttl time.Duration, expect []byte) (bool, error) {
	topics := dedup(st.Topics)
	args := make([]any, 0, 5+len(topics))
	args = append(args, st.ID, data, millis(ttl), s.topics, expect)
	for _, t := range topics {
		args = append(args, t)
	}
	n, err := putScript.Run(ctx, s.client, []string{s.records + st.ID}, args...).Int()
	return n == 1, err
}

// Get implements [ChannelStore].
func (s *RedisStore) Get(ctx context.Context, id string) (wsroute.ChannelState, bool, error) {
	data, err := s.client.HGet(ctx, s.records+id, "s").Bytes()
	if errors.Is(err, redis.Nil) {
		return wsroute.ChannelState{}, false, nil
	}
	if err != nil {
		return wsroute.ChannelState{}, false, err
	}
	return decodeState(data)
}

// Delete implements [ChannelStore].
func (s *RedisStore) Delete(ctx context.Context, id string) (wsroute.ChannelState, bool, error) {
	data, err := deleteScript.Run(ctx, s.client, []string{s.records + id}, id, s.topics).Text()
	if errors.Is(err, redis.Nil) {
		return wsroute.ChannelState{}, false, nil
	}
	if err != nil {
		return wsroute.ChannelState{}, false, err
	}
	return decodeState([]byte(data))
}

// Subscribers implements [ChannelStore].
func (s *RedisStore) Subscribers(ctx context.Context, topic string) ([]string, error) {
	key := s.topics + topic
	ids, err := s.client.SMembers(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	live := make([]string, 0, len(ids))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), subscribersBatch)]
		ids = ids[len(batch):]
		args := make([]any, 0, 2+len(batch))
		args = append(args, s.records, "t:"+topic)
		for _, id := range batch {
			args = append(args, id)
		}
		kept, err := filterScript.Run(ctx, s.client, []string{key}, args...).StringSlice()
		if err != nil {
			return nil, err
		}
		live = append(live, kept...)
	}
	return live, nil
}

// Touch implements [ChannelStore].
func (s *RedisStore) Touch(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	n, err := touchScript.Run(ctx, s.client, []string{s.records + id}, millis(ttl), s.topics).Int()
	return n == 1, err
}

// millis is ttl in whole milliseconds, rounded up; 0 for no expiry.
func millis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}
