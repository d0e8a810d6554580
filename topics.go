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
// Fan-out takes only mu's read lock; the broker's Subscribe and Unsubscribe,
// which may wait on the network, are called outside mu, serialized by subMu,
// so a slow engine never stalls delivery.
type hub struct {
	r      *Router
	broker Broker
	subMu  sync.Mutex                       // serializes subscription changes and the broker calls they make
	mu     sync.RWMutex                     // guards topics and every Channel's topics field
	topics map[string]map[*Channel]struct{} // topic → local subscribers

	detach    sync.Once
	detachErr error
}

func (h *hub) init(r *Router, b Broker) {
	h.r, h.broker = r, b
	h.topics = make(map[string]map[*Channel]struct{})
	b.Attach(r.node, h.deliverRemote)
}

// Subscribe adds the channel to topic's subscribers; it is idempotent. Topic
// events arrive as {"topic":"<topic>","data":<payload>}. It returns ErrClosed
// once the channel is closing, and the broker's error when this node's first
// subscription to topic could not be made with it.
func (c *Channel) Subscribe(topic string) error {
	h := &c.router.hub
	h.subMu.Lock()
	defer h.subMu.Unlock()
	h.mu.RLock()
	_, already := c.topics[topic]
	first := h.topics[topic] == nil
	h.mu.RUnlock()
	if c.state.Load() == stateClosed {
		return ErrClosed
	}
	if already {
		return nil
	}
	if max := c.route.limits.MaxTopics; max > 0 && len(c.Topics()) >= max {
		return ErrTooManyTopics
	}
	if first {
		if err := h.broker.Subscribe(c.ctx, c.router.node, topic); err != nil {
			return fmt.Errorf("wsroute: subscribe %q: %w", topic, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.state.Load() == stateClosed { // closed while the broker subscribed
		if first {
			h.unsubscribeBroker(topic)
		}
		return ErrClosed
	}
	subs := h.topics[topic]
	if subs == nil {
		subs = make(map[*Channel]struct{})
		h.topics[topic] = subs
	}
	subs[c] = struct{}{}
	if c.topics == nil {
		c.topics = make(map[string]struct{})
	}
	c.topics[topic] = struct{}{}
	return nil
}

// Unsubscribe removes the channel from topic's subscribers; it is idempotent.
func (c *Channel) Unsubscribe(topic string) { c.router.hub.remove(c, topic) }

// UnsubscribeAll removes the channel from every topic (log-out does this).
func (c *Channel) UnsubscribeAll() { c.router.hub.remove(c) }

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

// remove takes c off the given topics (all of its topics when none are
// given) and unsubscribes the node from the engine for topics left without
// local subscribers.
func (h *hub) remove(c *Channel, topics ...string) {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	var emptied []string
	h.mu.Lock()
	if len(topics) == 0 {
		for t := range c.topics {
			topics = append(topics, t)
		}
	}
	for _, t := range topics {
		if _, ok := c.topics[t]; !ok {
			continue
		}
		delete(c.topics, t)
		subs := h.topics[t]
		delete(subs, c)
		if len(subs) == 0 {
			delete(h.topics, t)
			emptied = append(emptied, t)
		}
	}
	h.mu.Unlock()
	for _, t := range emptied {
		h.unsubscribeBroker(t)
	}
}

// unsubscribeBroker tells the broker this node no longer needs topic. subMu
// must be held.
func (h *hub) unsubscribeBroker(topic string) {
	if err := h.broker.Unsubscribe(context.Background(), h.r.node, topic); err != nil {
		h.r.log.Warn("wsroute: broker unsubscribe failed", "topic", topic, "err", err)
	}
}

// Publish sends payload as the event {"topic":topic,"data":payload} to every
// channel subscribed to topic, on this node and, through the Broker, on the
// others. The frame is encoded once. Delivery never blocks: a subscriber
// whose send queue is full is dropped as a slow consumer. Local subscribers
// always get the event; a broker error is returned after that.
func (r *Router) Publish(ctx context.Context, topic string, payload any, opts PublishOptions) error {
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
	if e.Node == h.r.node {
		return // our own publish, already delivered locally
	}
	h.deliver(e.Topic, e.Data, e.Exclude)
}

// deliver queues the event frame for each local subscriber but exclude and
// returns how many it reached. Frames are queued under the read lock, so no
// event reaches a channel after its Unsubscribe returned; queueing never
// blocks and dropping a slow consumer takes no hub lock.
func (h *hub) deliver(topic string, data json.RawMessage, exclude string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	subs := h.topics[topic]
	if len(subs) == 0 {
		return 0
	}
	quoted, _ := json.Marshal(topic) // a JSON string, whatever the topic holds
	b := make([]byte, 0, len(quoted)+len(data)+18)
	b = append(b, `{"topic":`...)
	b = append(b, quoted...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, '}')
	n := 0
	for c := range subs {
		if c.id != exclude && c.enqueue(b) == nil {
			n++
		}
	}
	return n
}

// close detaches the broker, once however often Shutdown is called.
func (h *hub) close() error {
	h.detach.Do(func() { h.detachErr = h.broker.Detach(h.r.node) })
	return h.detachErr
}
