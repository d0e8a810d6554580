package main

import (
	"slices"
	"sync"
)

// historySize is how many messages each room keeps for "history".
const historySize = 50

// chatMessage is one thing said in a room, as it appears on the wire.
type chatMessage struct {
	Seq  int    `json:"seq"` // 1, 2, ... within the room's life
	User string `json:"user"`
	Text string `json:"text"`
}

// room is the state of one chat room. Its fields are guarded by the hall's
// mutex; only hall methods touch them.
type room struct {
	name    string
	topic   string         // the Router topic its members are subscribed to
	owner   string         // the first user to open it; may kick
	members map[string]int // user → that user's open channels in the room
	history []chatMessage  // the last historySize messages, oldest first
	seq     int            // the last message's Seq
}

// welcome is what a channel learns when it joins: sent as {"welcome":{...}}.
type welcome struct {
	Room    string   `json:"room"`
	User    string   `json:"user"`
	Owner   string   `json:"owner"`
	Members []string `json:"members"` // sorted, the joiner included
}

// hall holds the rooms of this process. A room exists while at least one
// channel is in it: the first user to open an empty room creates it and
// owns it (until it empties), and the room's history goes with it when the
// last one leaves, so memory is bounded by the open channels. It is safe for
// concurrent use; every room's state is guarded by the one mutex, which is
// never held across a send or a publish.
type hall struct {
	mu    sync.Mutex       // guards rooms and every room's fields
	rooms map[string]*room // by name
}

// newHall returns a hall without rooms.
func newHall() *hall { return &hall{rooms: make(map[string]*room)} }

// join adds one channel of user to the room name, creating the room (owned
// by user) if it is empty. first reports whether it is the user's only
// channel there, that is whether the others should hear that user joined.
func (h *hall) join(name, user string) (r *room, w welcome, first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r = h.rooms[name]
	if r == nil {
		r = &room{name: name, topic: topicOf(name), owner: user, members: make(map[string]int)}
		h.rooms[name] = r
	}
	r.members[user]++
	w = welcome{Room: name, User: user, Owner: r.owner, Members: r.memberList()}
	return r, w, r.members[user] == 1
}

// leave removes one channel of user from r, and r from the hall when it
// empties. last reports whether it was the user's last channel there.
func (h *hall) leave(r *room, user string) (last bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.members[user] == 0 {
		return false
	}
	r.members[user]--
	if r.members[user] > 0 {
		return false
	}
	delete(r.members, user)
	if len(r.members) == 0 && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
	return true
}

// post records what user said in r and returns it with its sequence number.
func (h *hall) post(r *room, user, text string) chatMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.seq++
	m := chatMessage{Seq: r.seq, User: user, Text: text}
	if len(r.history) == historySize {
		r.history = slices.Delete(r.history, 0, 1)
	}
	r.history = append(r.history, m)
	return m
}

// recent returns a copy of r's last n messages (all it keeps if n is 0),
// oldest first; never nil, so that it encodes as [].
func (h *hall) recent(r *room, n int) []chatMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	from := 0
	if n > 0 && n < len(r.history) {
		from = len(r.history) - n
	}
	return append([]chatMessage{}, r.history[from:]...)
}

// ownerOf returns r's owner.
func (h *hall) ownerOf(r *room) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return r.owner
}

// has reports whether user has a channel in r.
func (h *hall) has(r *room, user string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return r.members[user] > 0
}

// memberList returns r's users, sorted. h.mu must be held.
func (r *room) memberList() []string {
	users := make([]string, 0, len(r.members))
	for u := range r.members {
		users = append(users, u)
	}
	slices.Sort(users)
	return users
}

// topicOf returns the Router topic of the room name.
func topicOf(name string) string { return "room:" + name }
