package wsroute

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wsroute/wsroute/internal/frame"
)

// PublishOptions tunes one Router.Publish.
type PublishOptions struct {
	// Exclude is a channel that must not receive the event, usually the
	// one whose message caused it. It may live on any node.
	Exclude *Channel
}

// hub holds this node's topic subscriptions and fans events out to them.
//
// Locks: topics are spread over hubShards shards by name, each with its own
// lock, so traffic on one topic does not wait for another's. A shard's mu
// guards its topics, their subscriber sets and refs; it is never held
// across I/O: fan-out queues the event under the read lock and writes to
// the sockets after releasing it. A channel's own topic set is guarded by
// its topicsMu, taken after a shard's mu. Broker calls, which may wait on
// the network, are serialized per topic by the topic's brokerMu, which no
// close path takes: a channel's teardown removes its subscriptions and
// leaves the broker's Unsubscribe to a background call, so a slow engine
// delays neither delivery nor any close.
type hub struct {
	r      *Router
	broker Broker
	shards [hubShards]hubShard
	closed atomic.Bool    // the broker was detached
	bg     sync.WaitGroup // background broker unsubscribes

	detach      sync.Once
	detachErr   error
	stopControl context.CancelFunc // ends the control topic's subscription, if any
}

// hubShards is the number of shards of the hub.
const hubShards = 32

// hubShard is one shard of the hub.
type hubShard struct {
	mu     sync.RWMutex
	topics map[string]*topic // by name: topics with subscribers or broker work in flight
}

// shard returns the shard of the topic name (FNV-1a).
func (h *hub) shard(name string) *hubShard {
	x := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		x = (x ^ uint32(name[i])) * 16777619
	}
	return &h.shards[x%hubShards]
}

// topic is one topic of the hub.
type topic struct {
	name string
	subs map[*Channel]struct{} // local subscribers; guarded by the shard's mu
	refs int                   // goroutines holding the entry outside the shard's mu; guarded by it

	brokerMu   sync.Mutex // serializes this topic's broker calls; held across I/O
	subscribed bool       // the node is subscribed with the broker; written under brokerMu and the shard's mu
}

func (h *hub) init(r *Router, b Broker) {
	h.r, h.broker = r, b
	for i := range h.shards {
		h.shards[i].topics = make(map[string]*topic)
	}
	b.Attach(r.node, h.deliverRemote)
}

// Subscribe adds the channel to topic's subscribers; it is idempotent. Topic
// events arrive as {"topic":"<topic>","data":<payload>}. When this node has
// no other subscriber to topic, Subscribe waits for the broker to confirm
// its subscription, so that a publish made on any node after it returned
// reaches the channel; it returns the broker's error if that fails.
//
// It returns ErrNotOpen while the channel is opening (subscribe in
// OnConnect instead), ErrClosed once it is closing, and ErrTooManyTopics
// beyond Limits.MaxTopics.
func (c *Channel) Subscribe(name string) error {
	if err := checkTopic(name); err != nil {
		return err
	}
	if c.detached {
		return c.subscribeDetached(name)
	}
	h := &c.router.hub
	sh := h.shard(name)
	sh.mu.Lock()
	if err := c.subscribable(); err != nil {
		sh.mu.Unlock()
		return err
	}
	c.topicsMu.Lock()
	_, already := c.topics[name]
	n := len(c.topics)
	c.topicsMu.Unlock()
	if already {
		sh.mu.Unlock()
		return nil
	}
	if max := c.limits.MaxTopics; max > 0 && n >= max {
		sh.mu.Unlock()
		return ErrTooManyTopics
	}
	t := sh.topics[name]
	if t == nil {
		t = &topic{name: name, subs: make(map[*Channel]struct{})}
		sh.topics[name] = t
	}
	t.refs++
	subscribed := t.subscribed
	if subscribed { // the common case: no broker call, no second lock
		h.addLocked(c, t)
		h.releaseLocked(sh, t)
		sh.mu.Unlock()
		c.router.obs.subscribed(c, name)
		return nil
	}
	sh.mu.Unlock()

	added := false
	defer func() { // after the locks below are released
		if added {
			c.router.obs.subscribed(c, name)
		}
	}()
	t.brokerMu.Lock()
	defer t.brokerMu.Unlock()
	var err error
	if !t.subscribed {
		err = h.broker.Subscribe(c.ctx, c.router.node, name)
		c.router.obs.brokerError("subscribe", name, err)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	defer h.releaseLocked(sh, t)
	if err != nil {
		return fmt.Errorf("wsroute: subscribe %q: %w", name, err)
	}
	t.subscribed = true
	if err := c.subscribable(); err != nil { // the channel ended meanwhile
		return err
	}
	h.addLocked(c, t)
	added = true
	return nil
}

// subscribable says whether the channel may subscribe now.
func (c *Channel) subscribable() error {
	switch c.state.Load() {
	case stateOpen:
		return nil
	case stateOpening:
		return ErrNotOpen
	}
	return ErrClosed
}

// addLocked adds c to t's subscribers. The shard's mu must be held.
func (h *hub) addLocked(c *Channel, t *topic) {
	t.subs[c] = struct{}{}
	c.topicsMu.Lock()
	if c.topics == nil {
		c.topics = make(map[string]struct{})
	}
	c.topics[t.name] = struct{}{}
	c.topicsMu.Unlock()
}

// releaseLocked gives back a hold on t. A topic left without subscribers
// and holds is forgotten, after a background broker Unsubscribe if the node
// is subscribed. sh.mu must be held.
func (h *hub) releaseLocked(sh *hubShard, t *topic) {
	t.refs--
	if t.refs > 0 || len(t.subs) > 0 {
		return
	}
	if !t.subscribed || h.closed.Load() {
		delete(sh.topics, t.name)
		return
	}
	t.refs++
	h.bg.Add(1)
	go h.unsubscribe(sh, t)
}

// unsubscribe tells the broker this node no longer needs t, unless a
// subscriber came back meanwhile.
func (h *hub) unsubscribe(sh *hubShard, t *topic) {
	defer h.bg.Done()
	t.brokerMu.Lock()
	sh.mu.Lock()
	idle := len(t.subs) == 0 && t.subscribed && !h.closed.Load()
	if idle {
		// Cleared before the broker call: a Subscribe arriving meanwhile
		// must not take the fast path, but wait for brokerMu and subscribe
		// the node again.
		t.subscribed = false
	}
	sh.mu.Unlock()
	if idle {
		if err := h.broker.Unsubscribe(context.Background(), h.r.node, t.name); err != nil {
			h.r.log.Warn("wsroute: broker unsubscribe failed", "topic", t.name, "err", err)
			h.r.obs.brokerError("unsubscribe", t.name, err)
		}
	}
	sh.mu.Lock()
	t.brokerMu.Unlock()
	h.releaseLocked(sh, t)
	sh.mu.Unlock()
}

// Unsubscribe removes the channel from topic's subscribers; it is
// idempotent. No event published on this node reaches the channel after it
// returned.
func (c *Channel) Unsubscribe(topic string) { c.router.hub.remove(c, topic) }

// UnsubscribeAll removes the channel from every topic (log-out does this).
func (c *Channel) UnsubscribeAll() { c.router.hub.drop(c) }

// Subscribers returns this node's channels subscribed to topic.
func (r *Router) Subscribers(topic string) []*Channel {
	sh := r.hub.shard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	t := sh.topics[topic]
	if t == nil {
		return nil
	}
	cs := make([]*Channel, 0, len(t.subs))
	for c := range t.subs {
		cs = append(cs, c)
	}
	return cs
}

// Topics returns the channel's topics, sorted.
func (c *Channel) Topics() []string {
	c.topicsMu.Lock()
	ts := make([]string, 0, len(c.topics))
	for t := range c.topics {
		ts = append(ts, t)
	}
	c.topicsMu.Unlock()
	slices.Sort(ts)
	return ts
}

// remove takes c off topic.
func (h *hub) remove(c *Channel, name string) {
	if c.detached {
		c.unsubscribeDetached(name)
		return
	}
	sh := h.shard(name)
	sh.mu.Lock()
	removed := h.removeLocked(sh, c, name)
	sh.mu.Unlock()
	if removed {
		h.r.obs.unsubscribed(c, name)
	}
}

// drop takes c off every topic; the close path calls it. It never waits
// for the broker.
func (h *hub) drop(c *Channel) {
	if c.suspended { // its subscriptions live on in the store
		return
	}
	c.topicsMu.Lock()
	names := make([]string, 0, len(c.topics))
	for name := range c.topics {
		names = append(names, name)
	}
	c.topicsMu.Unlock()
	for _, name := range names {
		h.remove(c, name)
	}
}

// removeLocked takes c off the topic name of shard sh and reports whether
// it was subscribed. sh.mu must be held.
func (h *hub) removeLocked(sh *hubShard, c *Channel, name string) bool {
	c.topicsMu.Lock()
	_, ok := c.topics[name]
	delete(c.topics, name)
	c.topicsMu.Unlock()
	if !ok {
		return false
	}
	t := sh.topics[name]
	delete(t.subs, c)
	t.refs++
	h.releaseLocked(sh, t)
	return true
}

// Publish sends payload as the event {"topic":topic,"data":payload} to every
// channel subscribed to topic, on this node and, through the Broker, on the
// others. The frame is encoded once. Delivery never blocks: a subscriber
// whose send queue is full is dropped as a slow consumer. Local subscribers
// always get the event; a broker error is returned after that.
func (r *Router) Publish(ctx context.Context, topic string, payload any, opts PublishOptions) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("wsroute: publish %q: encode payload: %w", topic, err)
	}
	exclude := ""
	if opts.Exclude != nil {
		exclude = opts.Exclude.id
	}
	n := r.hub.deliver(topic, data, exclude)
	e := Envelope{Node: r.node, Topic: topic, Data: data, Exclude: exclude, Headers: r.obs.inject(ctx)}
	err = r.hub.broker.Publish(ctx, e)
	if err != nil {
		r.obs.brokerError("publish", topic, err)
		err = fmt.Errorf("wsroute: publish %q: %w", topic, err)
	}
	r.obs.publish(ctx, PublishInfo{Topic: topic, Bytes: len(data), Local: n, Err: err})
	return err
}

// deliverRemote delivers an event that arrived from another node.
func (h *hub) deliverRemote(e Envelope) {
	switch {
	case e.Node == h.r.node: // our own publish, already delivered locally
	case e.Topic == controlTopic:
		h.r.deliverControl(e.Data)
	default:
		n := h.deliver(e.Topic, e.Data, e.Exclude)
		h.r.obs.deliver(DeliverInfo{Topic: e.Topic, Node: e.Node, Headers: e.Headers, Bytes: len(e.Data), Local: n})
	}
}

// deliver queues the event frame for each local subscriber but exclude and
// returns how many it reached. Frames are queued under the shard's read
// lock, so no event reaches a channel after its Unsubscribe returned;
// queueing never blocks, and dropping a slow consumer takes no hub lock.
// The subscribers that had no writer running get their frame written after
// the lock is released, by this goroutine, without waiting for any peer
// (see push): a warm fan-out starts no goroutine.
func (h *hub) deliver(name string, data json.RawMessage, exclude string) int {
	sh := h.shard(name)
	sh.mu.RLock()
	t := sh.topics[name]
	if t == nil || len(t.subs) == 0 {
		sh.mu.RUnlock()
		return 0
	}
	b := EventFrame(name, data)
	n := 0
	writers := writerLists.Get().(*[]*Channel)
	for c := range t.subs {
		if c.id == exclude {
			continue
		}
		start, err := c.enqueue(outFrame{data: b}, false)
		if err == nil {
			n++
		}
		if start {
			*writers = append(*writers, c)
		}
	}
	sh.mu.RUnlock()
	for i, c := range *writers {
		c.write(false)
		(*writers)[i] = nil
	}
	*writers = (*writers)[:0]
	writerLists.Put(writers)
	return n
}

// writerLists recycles deliver's lists of channels to write to.
var writerLists = sync.Pool{New: func() any { return new([]*Channel) }}

// close waits for the background broker calls (unless wait is false) and
// detaches the broker, once however often Shutdown is called.
func (h *hub) close(wait bool) error {
	h.closed.Store(true)
	// A barrier: a release that saw closed unset (under its shard's lock)
	// has added its background unsubscribe to bg by now.
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		//lint:ignore SA2001 the critical section is empty on purpose: a barrier
		sh.mu.Unlock()
	}
	if h.stopControl != nil {
		h.stopControl()
	}
	if wait {
		h.bg.Wait()
	}
	h.detach.Do(func() { h.detachErr = h.broker.Detach(h.r.node) })
	return h.detachErr
}

// subscribeDetached subscribes a detached channel: its subscriptions are
// part of its ChannelState, which the serverless adapter indexes by topic;
// the hub of this process does not hold it.
func (c *Channel) subscribeDetached(name string) error {
	if err := c.subscribable(); err != nil {
		return err
	}
	c.topicsMu.Lock()
	_, already := c.topics[name]
	if !already {
		if max := c.limits.MaxTopics; max > 0 && len(c.topics) >= max {
			c.topicsMu.Unlock()
			return ErrTooManyTopics
		}
		if c.topics == nil {
			c.topics = make(map[string]struct{})
		}
		c.topics[name] = struct{}{}
	}
	c.topicsMu.Unlock()
	if !already {
		c.router.obs.subscribed(c, name)
	}
	return nil
}

// unsubscribeDetached is subscribeDetached's undo.
func (c *Channel) unsubscribeDetached(name string) {
	c.topicsMu.Lock()
	_, ok := c.topics[name]
	delete(c.topics, name)
	c.topicsMu.Unlock()
	if ok {
		c.router.obs.unsubscribed(c, name)
	}
}

// EventFrame returns the frame of a topic event, {"topic":topic,"data":data},
// as Router.Publish sends it: for an adapter that delivers events itself
// (the serverless adapter posts it to each subscriber's connection).
func EventFrame(topic string, data json.RawMessage) []byte {
	b := make([]byte, 0, len(topic)+len(data)+20)
	b = append(b, `{"topic":`...)
	b = frame.AppendString(b, topic) // a JSON string, whatever the topic holds
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}
