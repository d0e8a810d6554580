package wsroute

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Envelope is a publish as it travels between nodes.
type Envelope struct {
	Node    string          `json:"node"`              // the publishing node's id; a node ignores its own
	Topic   string          `json:"topic"`             // the topic
	Data    json.RawMessage `json:"data"`              // the payload's JSON
	Exclude string          `json:"exclude,omitempty"` // id of a channel not to deliver to
	// Headers carry what travels with the event but is not part of it: the
	// publisher's trace context (W3C traceparent and tracestate) when an
	// Observer's InjectEnvelope writes it. nil when empty.
	Headers map[string]string `json:"headers,omitempty"`
}

// Broker carries publishes between the nodes (Routers) of a deployment, over
// an engine such as Redis Pub/Sub or NATS (adapters: modules
// github.com/wsroute/wsroute/brokers/redisbroker and .../natsbroker).
//
// What a Broker promises:
//
//   - At-most-once fan-out: each Publish reaches every other node that has
//     subscribers for the topic at most once; nothing is stored or retried.
//   - Per-topic order from one publisher: envelopes one node publishes on a
//     topic, one after the other, are delivered to every other node in that
//     order (deliver is called sequentially for a topic).
//   - No delivery to a node without subscribers, where the engine allows it:
//     the Router calls Subscribe when its first local subscriber to a topic
//     arrives and Unsubscribe when the last one leaves, and the broker
//     subscribes the node with the engine accordingly. Calls for one topic
//     are serialized; calls for different topics may run concurrently, and
//     Unsubscribe may come a little after the last local subscriber left
//     (it is made in the background, so a slow engine never holds up a
//     channel's close).
//   - Its own publishes are not delivered twice: the Router delivers locally
//     itself, and drops envelopes carrying its own node id when the engine
//     echoes them back (deliver may be called with them; a broker may also
//     filter them).
//   - Exclusion across nodes: Envelope.Exclude names a channel id, unique
//     across nodes; only the node holding that channel skips it.
//   - Publish fails fast when the engine is unreachable, with an error
//     wrapping ErrBrokerUnavailable; it never buffers silently. A failure
//     caused by the caller's own ctx wraps ctx.Err() instead. Subscribe and
//     Unsubscribe should not fail for a passing outage: a broker records the
//     wanted topics and restores its subscriptions after reconnecting, by
//     itself. When the engine is reachable, Subscribe returns once the
//     engine has confirmed the subscription, so that a publish made on
//     another node after Channel.Subscribe returned reaches this node.
//     Subscribe's ctx is the subscribing channel's: when it ends first,
//     Subscribe withdraws what it began and returns the context's error.
//     nil means subscribed, an error means not.
//   - After Detach, Subscribe and Publish fail and Unsubscribe does
//     nothing (the Router may still unsubscribe in the background when a
//     Shutdown's context ended early); none of them reconnects.
//
// A Router calls Attach once, from New, with its node id and the function
// that delivers envelopes arriving from other nodes (it never blocks: it
// queues frames for channels); Subscribe, Unsubscribe and Publish as above;
// Detach from Shutdown, after which the broker releases what it holds for
// that node (an adapter made for one Router closes its connections and
// stops its goroutines).
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

// EnvelopeCodec turns envelopes into an engine's messages and back. Broker
// adapters take one in their options; JSONCodec is their default. A codec
// must be safe for concurrent use.
type EnvelopeCodec interface {
	Encode(e Envelope) ([]byte, error)
	Decode(b []byte) (Envelope, error)
}

// JSONCodec encodes envelopes as JSON objects:
// {"v":1,"node":..,"topic":..,"data":..,"exclude":..,"headers":{..}}. Its
// zero value is ready to use; it is the broker adapters' default codec.
//
// "v" is the version of the encoding. Members a node does not know are
// ignored, so a new member that older nodes may skip (as "headers" was)
// keeps the version: nodes of different releases share one broker during a
// rolling upgrade. A change older nodes could misread raises it, and a node
// refuses envelopes of a version above its own (the adapters log and drop
// them) rather than deliver them wrong. An envelope without "v" comes from
// a node older than the version member and reads as version 1.
type JSONCodec struct{}

// EnvelopeVersion is the version of JSONCodec's encoding.
const EnvelopeVersion = 1

var _ EnvelopeCodec = JSONCodec{}

// jsonEnvelope is the encoding of an Envelope.
type jsonEnvelope struct {
	V int `json:"v"`
	Envelope
}

// Encode implements EnvelopeCodec.
func (JSONCodec) Encode(e Envelope) ([]byte, error) {
	return json.Marshal(jsonEnvelope{V: EnvelopeVersion, Envelope: e})
}

// Decode implements EnvelopeCodec.
func (JSONCodec) Decode(b []byte) (Envelope, error) {
	var je jsonEnvelope
	if err := json.Unmarshal(b, &je); err != nil {
		return Envelope{}, err
	}
	if je.V > EnvelopeVersion {
		return Envelope{}, fmt.Errorf("wsroute: envelope version %d is newer than this node's (%d)", je.V, EnvelopeVersion)
	}
	return je.Envelope, nil
}
