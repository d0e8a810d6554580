package wsroute

import (
	"context"
	"encoding/json"
	"sync"
)

// Envelope is a publish as it travels between nodes.
type Envelope struct {
	Node    string          `json:"node"`              // the publishing node's id; a node ignores its own
	Topic   string          `json:"topic"`             // the topic
	Data    json.RawMessage `json:"data"`              // the payload's JSON
	Exclude string          `json:"exclude,omitempty"` // id of a channel not to deliver to
}

// Broker carries publishes between the nodes (Routers) of a deployment. The
// Router delivers to its own subscribers itself; the broker only carries each
// publish to the other nodes that have subscribers for its topic, at most
// once.
//
// A Router calls Attach once, when it is created, with its node id and the
// function that delivers envelopes arriving from other nodes; Subscribe when
// its first local subscriber to a topic arrives and Unsubscribe when the last
// leaves; Publish for each Router.Publish; Detach when it shuts down.
type Broker interface {
	Attach(node string, deliver func(Envelope))
	Subscribe(ctx context.Context, node, topic string) error
	Unsubscribe(ctx context.Context, node, topic string) error
	Publish(ctx context.Context, e Envelope) error
	Detach(node string) error
}

// MemoryBroker is a Broker within one process: the default of a Router, and
// a way to connect several Routers of one process (tests, say). Delivery is
// synchronous and never blocks.
type MemoryBroker struct {
	mu    sync.RWMutex // guards nodes
	nodes map[string]*memoryNode
}

type memoryNode struct {
	deliver func(Envelope)
	topics  map[string]bool
}

// NewMemoryBroker returns an empty MemoryBroker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{nodes: make(map[string]*memoryNode)}
}

// Attach implements Broker.
func (b *MemoryBroker) Attach(node string, deliver func(Envelope)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nodes[node] = &memoryNode{deliver: deliver, topics: make(map[string]bool)}
}

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(_ context.Context, node, topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.nodes[node]; n != nil {
		n.topics[topic] = true
	}
	return nil
}

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(_ context.Context, node, topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.nodes[node]; n != nil {
		delete(n.topics, topic)
	}
	return nil
}

// Publish implements Broker: it delivers e to every other attached node
// subscribed to e.Topic.
func (b *MemoryBroker) Publish(_ context.Context, e Envelope) error {
	b.mu.RLock()
	var targets []func(Envelope)
	for id, n := range b.nodes {
		if id != e.Node && n.topics[e.Topic] {
			targets = append(targets, n.deliver)
		}
	}
	b.mu.RUnlock()
	for _, deliver := range targets {
		deliver(e)
	}
	return nil
}

// Detach implements Broker.
func (b *MemoryBroker) Detach(node string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.nodes, node)
	return nil
}
