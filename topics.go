package wsroute

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// PublishOptions tunes one Router.Publish.
type PublishOptions struct {
	// Exclude is a channel that must not receive the event, usually the
	// one whose message caused it. It may live on any node.
	Exclude *Channel
}

// hub holds this node's topic subscriptions and fans events out to them.
//
// Locks: mu guards the subscriber sets and is never held across I/O; fan-out
// takes only its read lock. Broker calls, which may wait on the network, are
// serialized per topic by the topic's brokerMu, which no close path takes: a
// channel's teardown removes its subscriptions under mu and leaves the
// broker's Unsubscribe to a background call, so a slow engine delays
// neither delivery nor any close.
type hub struct {
	r      *Router
	broker Broker
	mu     sync.RWMutex      // guards topics, each topic's subs and refs, every Channel's topics field, closed
	topics map[string]*topic // by name: topics with subscribers or broker work in flight
	closed bool              // the broker was detached
	bg     sync.WaitGroup    // background broker unsubscribes

	detach      sync.Once
	detachErr   error
	stopControl context.CancelFunc // ends the control topic's subscription, if any
}

// topic is one topic of the hub.
type topic struct {
	name string
	subs map[*Channel]struct{} // local subscribers; guarded by hub.mu
	refs int                   // goroutines holding the entry outside hub.mu; guarded by hub.mu

	brokerMu   sync.Mutex // serializes this topic's broker calls; held across I/O
	subscribed bool       // the node is subscribed with the broker; written under brokerMu and hub.mu
}

func (h *hub) init(r *Router, b Broker) {
	h.r, h.broker = r, b
	h.topics = make(map[string]*topic)
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
	h := &c.router.hub
	h.mu.Lock()
	if err := c.subscribable(); err != nil {
		h.mu.Unlock()
		return err
	}
	if _, ok := c.topics[name]; ok {
		h.mu.Unlock()
		return nil
	}
	if max := c.limits.MaxTopics; max > 0 && len(c.topics) >= max {
		h.mu.Unlock()
		return ErrTooManyTopics
	}
	t := h.topics[name]
	if t == nil {
		t = &topic{name: name, subs: make(map[*Channel]struct{})}
		h.topics[name] = t
	}
	t.refs++
	subscribed := t.subscribed
	if subscribed { // the common case: no broker call, no second lock
		h.addLocked(c, t)
		h.releaseLocked(t)
		h.mu.Unlock()
		return nil
	}
	h.mu.Unlock()

	t.brokerMu.Lock()
	defer t.brokerMu.Unlock()
	var err error
	if !t.subscribed {
		err = h.broker.Subscribe(c.ctx, c.router.node, name)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.releaseLocked(t)
	if err != nil {
		return fmt.Errorf("wsroute: subscribe %q: %w", name, err)
	}
	t.subscribed = true
	if err := c.subscribable(); err != nil { // the channel ended meanwhile
		return err
	}
	h.addLocked(c, t)
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

// addLocked adds c to t's subscribers. h.mu must be held.
func (h *hub) addLocked(c *Channel, t *topic) {
	t.subs[c] = struct{}{}
	if c.topics == nil {
		c.topics = make(map[string]struct{})
	}
	c.topics[t.name] = struct{}{}
}

// releaseLocked gives back a hold on t. A topic left without subscribers
// and holds is forgotten, after a background broker Unsubscribe if the node
// is subscribed. h.mu must be held.
func (h *hub) releaseLocked(t *topic) {
	t.refs--
	if t.refs > 0 || len(t.subs) > 0 {
		return
	}
	if !t.subscribed || h.closed {
		delete(h.topics, t.name)
		return
	}
	t.refs++
	h.bg.Add(1)
	go h.unsubscribe(t)
}

// unsubscribe tells the broker this node no longer needs t, unless a
// subscriber came back meanwhile.
func (h *hub) unsubscribe(t *topic) {
	defer h.bg.Done()
	t.brokerMu.Lock()
	h.mu.Lock()
	idle := len(t.subs) == 0 && t.subscribed && !h.closed
	if idle {
		// Cleared before the broker call: a Subscribe arriving meanwhile
		// must not take the fast path, but wait for brokerMu and subscribe
		// the node again.
		t.subscribed = false
	}
	h.mu.Unlock()
	if idle {
		if err := h.broker.Unsubscribe(context.Background(), h.r.node, t.name); err != nil {
			h.r.log.Warn("wsroute: broker unsubscribe failed", "topic", t.name, "err", err)
		}
	}
	h.mu.Lock()
	t.brokerMu.Unlock()
	h.releaseLocked(t)
	h.mu.Unlock()
}

// Unsubscribe removes the channel from topic's subscribers; it is
// idempotent. No event published on this node reaches the channel after it
// returned.
func (c *Channel) Unsubscribe(topic string) { c.router.hub.remove(c, topic) }

// UnsubscribeAll removes the channel from every topic (log-out does this).
func (c *Channel) UnsubscribeAll() { c.router.hub.drop(c) }

// Subscribers returns this node's channels subscribed to topic.
func (r *Router) Subscribers(topic string) []*Channel {
	h := &r.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.topics[topic]
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
	h := &c.router.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	ts := make([]string, 0, len(c.topics))
	for t := range c.topics {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// remove takes c off topic.
func (h *hub) remove(c *Channel, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c, name)
}

// drop takes c off every topic; the close path calls it. It never waits
// for the broker.
func (h *hub) drop(c *Channel) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range c.topics {
		h.removeLocked(c, name)
	}
}

func (h *hub) removeLocked(c *Channel, name string) {
	if _, ok := c.topics[name]; !ok {
		return
	}
	delete(c.topics, name)
	t := h.topics[name]
	delete(t.subs, c)
	t.refs++
	h.releaseLocked(t)
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
	err = r.hub.broker.Publish(ctx, Envelope{Node: r.node, Topic: topic, Data: data, Exclude: exclude})
	if err != nil {
		err = fmt.Errorf("wsroute: publish %q: %w", topic, err)
	}
	r.obs.publish(PublishInfo{Topic: topic, Local: n, Err: err})
	return err
}

// deliverRemote delivers an event that arrived from another node.
func (h *hub) deliverRemote(e Envelope) {
	switch {
	case e.Node == h.r.node: // our own publish, already delivered locally
	case e.Topic == controlTopic:
		h.r.deliverControl(e.Data)
	default:
		h.deliver(e.Topic, e.Data, e.Exclude)
	}
}

// deliver queues the event frame for each local subscriber but exclude and
// returns how many it reached. Frames are queued under the read lock, so no
// event reaches a channel after its Unsubscribe returned; queueing never
// blocks and dropping a slow consumer takes no hub lock.
func (h *hub) deliver(name string, data json.RawMessage, exclude string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.topics[name]
	if t == nil || len(t.subs) == 0 {
		return 0
	}
	quoted, _ := json.Marshal(name) // a JSON string, whatever the topic holds
	b := make([]byte, 0, len(quoted)+len(data)+18)
	b = append(b, `{"topic":`...)
	b = append(b, quoted...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, '}')
	n := 0
	for c := range t.subs {
		if c.id != exclude && c.push(outFrame{data: b}, false) == nil {
			n++
		}
	}
	return n
}

// close waits for the background broker calls (unless wait is false) and
// detaches the broker, once however often Shutdown is called.
func (h *hub) close(wait bool) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	if h.stopControl != nil {
		h.stopControl()
	}
	if wait {
		h.bg.Wait()
	}
	h.detach.Do(func() { h.detachErr = h.broker.Detach(h.r.node) })
	return h.detachErr
}
