package wsroute

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The slow-consumer rule: the byte budget always; the frame bound while a
// write to the peer is in progress; four times the frame bound while the
// server's own writer has not run (a scheduling delay, not the peer's).
func TestSlowConsumerRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		queued  int  // frames of 10 bytes already queued
		writing bool // a write to the peer is in progress
		next    int  // bytes of the next frame
		want    bool
	}{
		{"empty queue takes anything", 0, true, 1 << 30, false},
		{"under the frame bound", 3, true, 10, false},
		{"at the frame bound, peer not taking frames", 4, true, 10, true},
		{"at the frame bound, writer yet to run", 4, false, 10, false},
		{"four times the bound, writer yet to run", 16, false, 10, true},
		{"past the byte budget", 2, false, 100, true},
		{"at the byte budget", 2, false, 80, false},
	}
	for _, tt := range tests {
		c := &Channel{router: &Router{}, limits: &Limits{SendQueue: 4, SendBytes: 100}}
		for range tt.queued {
			c.outQ.push(outFrame{data: make([]byte, 10)})
			c.outBytes += 10
		}
		if tt.writing {
			c.writes.start.Store(1)
		}
		assert.Equal(t, tt.want, c.overflowsLocked(tt.next), tt.name)
	}
}
