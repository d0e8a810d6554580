package wsroute

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
)

// This file indexes open channels by a key of their session
// (Options.SessionKey) and reaches one key's channels on every node: the
// channels of one user, to kick them after a password change or to notify
// all their tabs.

// keyIndex holds the channels of each session key on this node.
type keyIndex struct {
	mu    sync.Mutex                       // guards byKey and every Channel's key and indexed
	byKey map[string]map[*Channel]struct{} // session key → this node's open channels
}

// controlTopic carries the operations on session keys between nodes, as an
// ordinary topic of the Broker. Topics under "$wsroute/" are reserved.
const (
	reservedPrefix = "$wsroute/"
	controlTopic   = reservedPrefix + "sessions"
)

// control is one operation on a session key, sent to every node.
type control struct {
	Op     string          `json:"op"` // "close" or "send"
	Key    string          `json:"key"`
	Code   StatusCode      `json:"code,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// ChannelsOf returns this node's open channels whose session key
// (Options.SessionKey) is key. It returns nil without a SessionKey.
func (r *Router) ChannelsOf(key string) []*Channel {
	ix := &r.keys
	ix.mu.Lock()
	defer ix.mu.Unlock()
	set := ix.byKey[key]
	if len(set) == 0 {
		return nil
	}
	cs := make([]*Channel, 0, len(set))
	for c := range set {
		cs = append(cs, c)
	}
	return cs
}

// CloseChannelsOf closes, as Channel.Close does, every channel whose session
// key is key: on this node at once, and on the other nodes through the
// Broker. It returns how many it closed on this node, and the Broker's
// error, if any.
//
//	r.CloseChannelsOf(ctx, user.ID, wsroute.StatusPolicyViolation, "credentials changed")
func (r *Router) CloseChannelsOf(ctx context.Context, key string, code StatusCode, reason string) (int, error) {
	op := control{Op: "close", Key: key, Code: code, Reason: reason}
	return r.applyControl(op), r.broadcastControl(ctx, op)
}

// SendToChannelsOf sends the JSON encoding of v, as Channel.Send does, to
// every channel whose session key is key, on this node and on the other
// nodes through the Broker. It returns how many channels of this node it
// was queued for, and the encoding's or the Broker's error.
func (r *Router) SendToChannelsOf(ctx context.Context, key string, v any) (int, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("wsroute: send to %q: %w", key, err)
	}
	op := control{Op: "send", Key: key, Data: data}
	return r.applyControl(op), r.broadcastControl(ctx, op)
}

// applyControl carries out op on this node's channels of op.Key.
func (r *Router) applyControl(op control) int {
	n := 0
	for _, c := range r.ChannelsOf(op.Key) {
		switch op.Op {
		case "close":
			c.Close(op.Code, op.Reason)
			n++
		case "send":
			if c.push(outFrame{data: op.Data}, false) == nil {
				n++
			}
		}
	}
	return n
}

// broadcastControl sends op to the other nodes.
func (r *Router) broadcastControl(ctx context.Context, op control) error {
	if r.opts.SessionKey == nil {
		return nil
	}
	data, err := json.Marshal(op)
	if err != nil {
		return err
	}
	if err := r.hub.broker.Publish(ctx, Envelope{Node: r.node, Topic: controlTopic, Data: data}); err != nil {
		r.obs.brokerError("publish", controlTopic, err)
		return fmt.Errorf("wsroute: %s channels of %q on other nodes: %w", op.Op, op.Key, err)
	}
	return nil
}

// deliverControl applies an operation that came from another node.
func (r *Router) deliverControl(data []byte) {
	var op control
	if err := json.Unmarshal(data, &op); err != nil {
		r.log.Warn("wsroute: malformed control envelope", "err", err)
		return
	}
	r.applyControl(op)
}

// subscribeControl subscribes this node to the control topic: at once with
// the in-memory broker, which never waits, and in the background with
// others, which may wait on the network (New must not block).
func (h *hub) subscribeControl() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stopControl = cancel
	if _, ok := h.broker.(*MemoryBroker); ok {
		_ = h.broker.Subscribe(ctx, h.r.node, controlTopic)
		return
	}
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		if err := h.broker.Subscribe(ctx, h.r.node, controlTopic); err != nil && ctx.Err() == nil {
			h.r.log.Error("wsroute: subscribing to other nodes' session operations failed", "err", err)
		}
	}()
}

// checkTopic refuses the reserved topics.
func checkTopic(topic string) error {
	if strings.HasPrefix(topic, reservedPrefix) {
		return fmt.Errorf("wsroute: topic %q is reserved", topic)
	}
	return nil
}

// reindex files c under the key of its current session. Only registered
// channels are indexed (register and unregister bracket them); it is called
// after every session change.
func (r *Router) reindex(c *Channel) {
	if r.opts.SessionKey == nil {
		return
	}
	ix := &r.keys
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !c.indexed {
		return
	}
	ix.moveLocked(c, r.sessionKey(c))
}

// index starts indexing a registered channel; unindex stops, at its end.
func (r *Router) index(c *Channel, on bool) {
	if r.opts.SessionKey == nil {
		return
	}
	ix := &r.keys
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c.indexed = on
	key := ""
	if on {
		key = r.sessionKey(c)
	}
	ix.moveLocked(c, key)
}

// moveLocked files c under key ("" removes it). ix.mu must be held.
func (ix *keyIndex) moveLocked(c *Channel, key string) {
	if key == c.key {
		return
	}
	if set := ix.byKey[c.key]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(ix.byKey, c.key)
		}
	}
	c.key = key
	if key == "" {
		return
	}
	if ix.byKey == nil {
		ix.byKey = make(map[string]map[*Channel]struct{})
	}
	set := ix.byKey[key]
	if set == nil {
		set = make(map[*Channel]struct{})
		ix.byKey[key] = set
	}
	set[c] = struct{}{}
}

// sessionKey returns Options.SessionKey of c's current session (expired or
// not), "" for none; a panic in it is logged and counts as "".
func (r *Router) sessionKey(c *Channel) (key string) {
	s := c.session.Load()
	if s == nil || s.value == nil {
		return ""
	}
	defer func() {
		if p := recover(); p != nil {
			key = ""
			r.log.Error("wsroute: panic in Options.SessionKey", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	return r.opts.SessionKey(s.value)
}
