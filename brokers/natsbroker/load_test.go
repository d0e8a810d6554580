package natsbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
	"github.com/wsroute/wsroute/wsroutetest"
)

const (
	loadPerNode = 500  // subscribers on each of the two nodes
	loadLatency = 200  // publishes of the latency phase, one at a time
	loadThrough = 2000 // publishes of the throughput phase
	loadWindow  = 32   // publishes in flight in the throughput phase
)

// loadPayload is what each publish carries: its index and when it was sent.
type loadPayload struct {
	I int   `json:"i"`
	T int64 `json:"t"`
}

// fanout is one run: two Routers on a broker kind, 1,000 subscribers.
type fanout struct {
	pub     *wsroute.Router
	readers sync.WaitGroup
	stop    context.CancelFunc
	counts  []atomic.Int32 // per publish index: deliveries so far
	done    chan int       // publish indices delivered to every subscriber
	mu      sync.Mutex
	lat     []int64 // delivery latencies (ns) of the current phase
}

func newFanout(t *testing.T, brokers [2]wsroute.Broker) *fanout {
	f := &fanout{counts: make([]atomic.Int32, loadLatency+loadThrough), done: make(chan int, loadLatency+loadThrough)}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	for i, b := range brokers {
		r := wsroute.New(wsroute.Options{Broker: b})
		r.Channel("/", wsroute.ChannelConfig{Public: true})
		t.Cleanup(func() {
			sctx, scancel := context.WithTimeout(context.Background(), wait)
			defer scancel()
			require.NoError(t, r.Shutdown(sctx))
		})
		if i == 0 {
			f.pub = r
		}
		for range loadPerNode {
			c := wsroutetest.MustDial(t, r, "/", nil)
			require.NoError(t, c.Channel().Subscribe("load"))
			f.readers.Add(1)
			go f.read(ctx, c)
		}
	}
	t.Cleanup(f.close)
	return f
}

func (f *fanout) close() {
	f.stop()
	f.readers.Wait()
}

// read records the latency of every event c receives.
func (f *fanout) read(ctx context.Context, c *wsroutetest.Conn) {
	defer f.readers.Done()
	lat := make([]int64, 0, loadLatency+loadThrough)
	defer func() {
		f.mu.Lock()
		f.lat = append(f.lat, lat...)
		f.mu.Unlock()
	}()
	for {
		b, err := c.Read(ctx)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		var e struct{ Data loadPayload }
		if json.Unmarshal(b, &e) != nil {
			continue
		}
		lat = append(lat, now-e.Data.T)
		if f.counts[e.Data.I].Add(1) == 2*loadPerNode {
			f.done <- e.Data.I
		}
	}
}

func (f *fanout) publish(t *testing.T, i int) {
	require.NoError(t, f.pub.Publish(t.Context(), "load", loadPayload{I: i, T: time.Now().UnixNano()}, wsroute.PublishOptions{}))
}

// complete waits for the next publish delivered to every subscriber.
func (f *fanout) complete(ctx context.Context, t *testing.T) {
	select {
	case <-f.done:
	case <-ctx.Done():
		t.Fatal("fan-out did not complete in time (lost deliveries?)")
	}
}

// run measures one publish at a time, then publishes with loadWindow in
// flight; it returns the latencies of each phase and the throughput.
func (f *fanout) run(t *testing.T) (lat1, lat2 []int64, perSec float64) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range loadLatency {
		f.publish(t, i)
		f.complete(ctx, t)
	}
	start := time.Now()
	inflight := 0
	for i := loadLatency; i < loadLatency+loadThrough; i++ {
		if inflight == loadWindow {
			f.complete(ctx, t)
			inflight--
		}
		f.publish(t, i)
		inflight++
	}
	for ; inflight > 0; inflight-- {
		f.complete(ctx, t)
	}
	elapsed := time.Since(start)
	f.close()
	n := loadLatency * 2 * loadPerNode
	require.Len(t, f.lat, n+loadThrough*2*loadPerNode)
	// Readers append their own latencies in order: split them by phase.
	var a, b []int64
	for r := range 2 * loadPerNode {
		per := f.lat[r*(loadLatency+loadThrough) : (r+1)*(loadLatency+loadThrough)]
		a, b = append(a, per[:loadLatency]...), append(b, per[loadLatency:]...)
	}
	return a, b, float64(loadThrough*2*loadPerNode) / elapsed.Seconds()
}

func pct(lat []int64, p float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return time.Duration(s[int(float64(len(s)-1)*p)])
}

// TestFanoutLoad compares the in-memory broker and NATS: one publisher on
// node A, 500 subscribers on A and 500 on B. Run it with
//
//	WSROUTE_LOAD=1 go test -run TestFanoutLoad -v
func TestFanoutLoad(t *testing.T) {
	if os.Getenv("WSROUTE_LOAD") == "" {
		t.Skip("set WSROUTE_LOAD=1 to run the load test")
	}
	u, p := natsURL(t), prefix()
	nb := func() wsroute.Broker {
		b, err := natsbroker.New(natsbroker.Options{URL: u, Prefix: p})
		require.NoError(t, err)
		return b
	}
	mem := wsroute.NewMemoryBroker()
	kinds := []struct {
		name    string
		brokers func() [2]wsroute.Broker
	}{
		{"memory", func() [2]wsroute.Broker { return [2]wsroute.Broker{mem, mem} }},
		{"nats", func() [2]wsroute.Broker { return [2]wsroute.Broker{nb(), nb()} }},
	}
	var report []string
	for _, k := range kinds {
		f := newFanout(t, k.brokers())
		lat1, lat2, perSec := f.run(t)
		report = append(report, fmt.Sprintf("%-7s one at a time: p50 %8v p99 %8v | %d in flight: p50 %8v p99 %8v | %9.0f deliveries/s",
			k.name, pct(lat1, .5).Round(time.Microsecond), pct(lat1, .99).Round(time.Microsecond),
			loadWindow, pct(lat2, .5).Round(time.Microsecond), pct(lat2, .99).Round(time.Microsecond), perSec))
	}
	report = append(report, publishCost(t, u))
	t.Logf("1 publisher, %d subscribers on 2 nodes; %d publishes one at a time, then %d with %d in flight:\n%s",
		2*loadPerNode, loadLatency, loadThrough, loadWindow, joinLines(report))
}

// publishCost measures Broker.Publish alone and followed by a flush (a
// round trip to the server), the price of confirming every publish.
func publishCost(t *testing.T, u string) string {
	b, err := natsbroker.New(natsbroker.Options{URL: u, Prefix: prefix()})
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Detach("")) }()
	e := wsroute.Envelope{Node: "n", Topic: "cost", Data: json.RawMessage(`{"i":1,"t":1}`)}
	measure := func(n int, flush bool) time.Duration {
		start := time.Now()
		for range n {
			require.NoError(t, b.Publish(t.Context(), e))
			if flush {
				require.NoError(t, b.Conn().FlushTimeout(time.Second))
			}
		}
		require.NoError(t, b.Conn().Flush())
		return time.Since(start) / time.Duration(n)
	}
	return fmt.Sprintf("nats Publish: %v/op; Publish+Flush: %v/op", measure(50000, false), measure(5000, true))
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}
