package natsbroker

import (
	"maps"
	"slices"
)

// Topics returns the topics b holds a NATS subscription for, sorted.
func (b *Broker) Topics() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.subs))
}

// Owned reports whether b made its connection.
func (b *Broker) Owned() bool { return b.owned }

// ErrDetached is the error of calls after Detach.
var ErrDetached = errDetached
