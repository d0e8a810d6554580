package brokertest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// Recorder collects the envelopes reaching an attached Broker: pass its
// Deliver to Attach.
type Recorder struct {
	mu      sync.Mutex
	got     map[string][]string // topic → the data of each envelope, in order
	arrived chan struct{}       // signalled after each envelope
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{got: make(map[string][]string), arrived: make(chan struct{}, 1)}
}

// Deliver records e.
func (r *Recorder) Deliver(e wsroute.Envelope) {
	r.mu.Lock()
	r.got[e.Topic] = append(r.got[e.Topic], string(e.Data))
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

// Count returns how many envelopes carrying data reached topic.
func (r *Recorder) Count(topic, data string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.got[topic] {
		if d == data {
			n++
		}
	}
	return n
}

// Reset forgets what arrived.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.got)
}

// WaitFor waits, at most wait, for an envelope carrying data on topic.
func (r *Recorder) WaitFor(topic, data string, wait time.Duration) bool {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for r.Count(topic, data) == 0 {
		select {
		case <-r.arrived:
		case <-deadline.C:
			return false
		}
	}
	return true
}

// PublishOn publishes data (JSON) on topic from b, attached as node.
func PublishOn(t testing.TB, b wsroute.Broker, node, topic, data string) {
	t.Helper()
	require.NoError(t, b.Publish(context.Background(), wsroute.Envelope{Node: node, Topic: topic, Data: json.RawMessage(data)}))
}
