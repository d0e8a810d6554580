package wsroute

import (
	"context"
	"net/http/httptest"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/internal/transport"
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

// batchGate is a trustGate that records the size of every Send.
type batchGate struct {
	*trustGate
	mu    sync.Mutex
	sizes []int
}

func (g *batchGate) Send(frames []transport.Frame) (int, error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(frames))
	g.mu.Unlock()
	return g.trustGate.Send(frames)
}

// A writer that waited for its peer writes every frame queued meanwhile in
// one go when it wakes up.
func TestWriterBatchesWhatQueuedWhileItWaited(t *testing.T) {
	t.Parallel()
	r, _ := trustRoute(Options{}, ChannelConfig{Public: true})
	server, client := transport.NewPipe()
	g := &batchGate{trustGate: newTrustGate(server)}
	c, done := trustDial(t, r, g)
	require.NoError(t, c.push(outFrame{data: []byte(`1`)}, false))
	assert.Equal(t, "1", string(<-g.writes), "the socket took nothing at once: a pool writer waits")
	for i := 2; i <= 10; i++ {
		require.NoError(t, c.push(outFrame{data: []byte(strconv.Itoa(i))}, false))
	}
	close(g.open) // the peer takes everything from now on
	for i := 1; i <= 10; i++ {
		_, data, err := client.Read(context.Background())
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), string(data), "in order")
	}
	g.mu.Lock()
	assert.Equal(t, []int{1, 9}, g.sizes, "frames 2-10 went to the connection together")
	g.mu.Unlock()
	_ = client.CloseNow()
	<-done
	require.NoError(t, r.Shutdown(context.Background()))
}

// goroutinesCreated reads the runtime's count of goroutines created so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A warm fan-out over real sockets writes to every subscriber from the
// publishing goroutine: no goroutine per subscriber (before the Wire, each
// event started a writer per subscriber, and the pool keeps only 16 idle).
// Not parallel: it counts the process's goroutine creations.
func TestFanOutStartsNoGoroutinePerSubscriber(t *testing.T) {
	const subs, events = 200, 20
	r := New(Options{})
	r.Channel("/c", ChannelConfig{Public: true, OnConnect: func(_ context.Context, c *Channel) error {
		return c.Subscribe("fan")
	}})
	srv := httptest.NewServer(r)
	defer srv.Close()
	var got sync.WaitGroup
	conns := make([]*websocket.Conn, subs)
	for i := range conns {
		conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/c", nil)
		require.NoError(t, err)
		conns[i] = conn
	}
	require.Eventually(t, func() bool { return len(r.Subscribers("fan")) == subs }, 10*time.Second, time.Millisecond)
	for _, conn := range conns {
		got.Add(1)
		go func() {
			defer got.Done()
			for range events + 1 {
				if _, _, err := conn.Read(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	require.NoError(t, r.Publish(context.Background(), "fan", "warm-up", PublishOptions{}))
	before := goroutinesCreated()
	for i := range events {
		require.NoError(t, r.Publish(context.Background(), "fan", i, PublishOptions{}))
	}
	created := goroutinesCreated() - before
	got.Wait()
	assert.Less(t, created, uint64(20), "%d goroutines created for %d deliveries", created, subs*events)
	for _, conn := range conns {
		_ = conn.CloseNow()
	}
	require.NoError(t, r.Shutdown(context.Background()))
}

// A final reply that the socket did not take at once is written before the
// close frame queued behind it (the pool writer used to send the close
// frame first, and lose the reply or, with a half-written frame, wait on
// itself).
func TestWriterFlushesHeldBytesBeforeTheCloseFrame(t *testing.T) {
	t.Parallel()
	r, _ := trustRoute(Options{}, ChannelConfig{Public: true})
	server, client := transport.NewPipe()
	g := newTrustGate(server)
	close(g.open) // writes pass once a writer waits for them
	c, done := trustDial(t, r, g)
	held, err := g.Send([]transport.Frame{{Data: []byte(`"final"`)}})
	require.NoError(t, err)
	c.mu.Lock() // as an inline writer leaves it when it hands over
	c.writing = true
	c.tasks.Add(1)
	c.held = held
	c.info = &CloseInfo{Code: 1000, Reason: "bye"}
	c.setStateLocked(stateClosing)
	c.outQ.push(outFrame{close: true})
	c.mu.Unlock()
	c.write(true)
	_, data, err := client.Read(context.Background())
	require.NoError(t, err, "the reply before the close frame")
	assert.Equal(t, `"final"`, string(data))
	_, _, err = client.Read(context.Background())
	assert.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err))
	<-done
	require.NoError(t, r.Shutdown(context.Background()))
}
