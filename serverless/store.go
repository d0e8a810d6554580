package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wsroute/wsroute"
)

// ChannelStore keeps the state of every connection of a serverless
// deployment and the subscribers of every topic, shared by all function
// instances. Every method is safe for concurrent use, from one process or
// many: each call is atomic with respect to the others on the same
// connection id, so two instances that Put, Update and Delete the same id
// at once leave either one whole record with exactly its index entries, or
// none and no index entry at all.
//
// A record round-trips through encoding/json (as [wsroute.ChannelState]
// promises): what Get and Delete return is the JSON decoding of what was
// stored. SessionExpires comes back as the same instant without its
// monotonic clock reading, an empty Header, Session or Topics may come
// back nil, and Session comes back as equivalent (compacted) JSON. Put
// fails when st does not encode (a Session that is not valid JSON).
//
// A ttl ≤ 0 means the record never expires; it stays until Delete. A ttl
// > 0 makes the record, and the subscriptions it holds, expire ttl after
// the last Put, Update or Touch: the connections a gateway abandons (a
// $disconnect that never reached a function) disappear by themselves.
// Stores may round ttl up to their resolution (a millisecond for Redis).
//
// The contract tests of package storetest hold for every implementation.
type ChannelStore interface {
	// Put stores st under st.ID, creating or replacing the record, and
	// keeps the topic index in step: st.ID becomes a subscriber of every
	// topic in st.Topics (duplicates count once) and stops being one of the
	// topics it had and st.Topics no longer lists. The record expires
	// after ttl (see ChannelStore). An empty st.ID is an error
	// ([ErrNoID]).
	//
	// Put recreates a record that Delete removed meanwhile; to change the
	// state of a connection that may be closing concurrently, use Update.
	Put(ctx context.Context, st wsroute.ChannelState, ttl time.Duration) error
	// Update is Put only if the record of st.ID is still old, atomically
	// (a compare-and-swap): old is the state as the caller read it (from
	// Get or its last successful Update), compared with the stored record
	// by its JSON encoding. ok reports whether it stored st. It is false,
	// and nothing changes, when the record changed meanwhile (another
	// event of the connection, handled at the same time by another
	// instance, stored its state first) or is gone (a concurrent Delete,
	// $disconnect, or expiry): it never brings back a removed connection
	// and never overwrites a change the caller did not see. The caller
	// then reads the record again and applies its own change to it.
	// old.ID and st.ID must be equal.
	Update(ctx context.Context, old, st wsroute.ChannelState, ttl time.Duration) (ok bool, err error)
	// Get returns the state of connection id; ok is false when there is
	// none (never stored, deleted or expired).
	Get(ctx context.Context, id string) (st wsroute.ChannelState, ok bool, err error)
	// Delete removes connection id and all its subscriptions and returns
	// the state it had; ok is false when there was none (never stored,
	// already deleted or expired). It is idempotent: of two concurrent
	// Deletes of one id, exactly one returns ok.
	Delete(ctx context.Context, id string) (st wsroute.ChannelState, ok bool, err error)
	// Subscribers returns the ids of the connections subscribed to topic,
	// in no particular order and without duplicates. An expired connection
	// is never among them; a store may clean up index entries it finds
	// dead on the way. A topic nobody subscribes to has none (nil or
	// empty, no error).
	Subscribers(ctx context.Context, topic string) ([]string, error)
	// Touch restarts the expiry of connection id and of its subscriptions:
	// they now expire ttl from now (never, when ttl ≤ 0), as after a Put.
	// Call it when an event of the connection arrived and its state did
	// not change. ok is false, and nothing changes, when there is no
	// record (never stored, deleted or expired): Touch never creates one.
	Touch(ctx context.Context, id string, ttl time.Duration) (ok bool, err error)
}

// ErrNoID is the error of Put and Update of a ChannelState whose ID is
// empty.
var ErrNoID = errors.New("serverless: ChannelState without an ID")

// errIDMismatch is Update's error when old and st are not the same
// connection's.
var errIDMismatch = errors.New("serverless: Update of one connection's state in place of another's")

// encodePut checks a Put's state and returns its encoding, the record.
func encodePut(st wsroute.ChannelState) ([]byte, error) {
	if st.ID == "" {
		return nil, ErrNoID
	}
	return json.Marshal(st)
}

// encodeUpdate checks an Update's arguments and returns the encodings of
// old (what the record must still be) and st.
func encodeUpdate(old, st wsroute.ChannelState) (expect, data []byte, err error) {
	if data, err = encodePut(st); err != nil {
		return nil, nil, err
	}
	if old.ID != st.ID {
		return nil, nil, errIDMismatch
	}
	if expect, err = json.Marshal(old); err != nil {
		return nil, nil, err
	}
	return expect, data, nil
}
