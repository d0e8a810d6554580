package redisbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
	"github.com/wsroute/wsroute/wsroutetest"
)

// Load parameters: one publisher on node 1; subscribers in memory
// (wsroutetest), half on each node.
const (
	loadSubscribersPerNode = 500
	loadPaced              = 300 // phase "paced": publishes, one every loadPace
	loadPace               = 10 * time.Millisecond
	loadBurst              = 2000 // phase "burst": publishes back to back
	loadPhaseTimeout       = 60 * time.Second
)

// loadEvent is the payload published; At is nanoseconds since the run's start.
type loadEvent struct {
	Phase int   `json:"p"`
	At    int64 `json:"at"`
}

// loadResult is one phase's measurements.
type loadResult struct {
	broker, phase         string
	publishes, deliveries int
	all, remote           []time.Duration // publish→delivery latencies
	rate                  string          // deliveries/s, first publish to last delivery (burst only)
}

// TestFanoutLoad compares, in one run, the in-memory broker and Redis for
// one publisher and 1,000 subscribers spread over two nodes. Opt-in:
//
//	WSROUTE_LOAD=1 go test -run TestFanoutLoad -v
func TestFanoutLoad(t *testing.T) {
	if os.Getenv("WSROUTE_LOAD") == "" {
		t.Skip("set WSROUTE_LOAD=1 to run the load comparison")
	}
	var results []loadResult
	t.Run("memory", func(t *testing.T) {
		b := wsroute.NewMemoryBroker()
		results = append(results, runLoad(t, "memory", b, b)...)
	})
	t.Run("redis", func(t *testing.T) {
		prefix := uniquePrefix(t)
		b1 := newBroker(t, redisbroker.Options{Prefix: prefix})
		b2 := newBroker(t, redisbroker.Options{Prefix: prefix})
		results = append(results, runLoad(t, "redis", b1, b2)...)
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d subscribers (%d per node), 1 publisher on node 1; latency = publish -> frame read by the subscriber\n",
		2*loadSubscribersPerNode, loadSubscribersPerNode)
	fmt.Fprintf(&sb, "%-7s %-6s %6s %10s %9s %9s %11s %11s %13s\n",
		"broker", "phase", "pubs", "delivered", "p50", "p99", "p50 remote", "p99 remote", "deliveries/s")
	for _, r := range results {
		fmt.Fprintf(&sb, "%-7s %-6s %6d %10d %9s %9s %11s %11s %13s\n", r.broker, r.phase, r.publishes, r.deliveries,
			pct(r.all, 50), pct(r.all, 99), pct(r.remote, 50), pct(r.remote, 99), r.rate)
	}
	t.Log(sb.String())
}

// pct returns the p-th percentile of ds, rounded for display.
func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	slices.Sort(ds)
	d := ds[(len(ds)-1)*p/100]
	return d.Round(time.Microsecond).String()
}

// loadSubscriber reads one in-memory channel, recording latencies by phase.
type loadSubscriber struct {
	conn   *wsroutetest.Conn
	remote bool
	lat    [2][]time.Duration
}

// runLoad runs both phases on two Routers connected by b1 and b2.
func runLoad(t *testing.T, name string, b1, b2 wsroute.Broker) []loadResult {
	start := time.Now()
	var routers [2]*wsroute.Router
	var subs []*loadSubscriber
	for i, b := range []wsroute.Broker{b1, b2} {
		r := wsroute.New(wsroute.Options{Broker: b, Limits: wsroute.Limits{SendQueue: 2 * loadBurst}})
		r.Channel("/", wsroute.ChannelConfig{Public: true})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, r.Shutdown(ctx))
		})
		routers[i] = r
		for range loadSubscribersPerNode {
			c := wsroutetest.MustDial(t, r, "/", nil)
			require.NoError(t, c.Channel().Subscribe("load"))
			subs = append(subs, &loadSubscriber{conn: c, remote: i == 1})
		}
	}

	counts := [2]int{loadPaced, loadBurst}
	var delivered [2]atomic.Int64
	var finished [2]time.Time
	done := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	ctx, cancel := context.WithTimeout(t.Context(), 2*loadPhaseTimeout)
	defer cancel()
	var readers sync.WaitGroup
	for _, s := range subs {
		s.lat = [2][]time.Duration{make([]time.Duration, 0, loadPaced), make([]time.Duration, 0, loadBurst)}
		readers.Go(func() {
			for len(s.lat[0])+len(s.lat[1]) < loadPaced+loadBurst {
				f, err := s.conn.Read(ctx)
				if err != nil {
					return
				}
				var ev struct{ Data loadEvent }
				if json.Unmarshal(f, &ev) != nil {
					continue
				}
				now := time.Since(start)
				p := ev.Data.Phase
				s.lat[p] = append(s.lat[p], now-time.Duration(ev.Data.At))
				if delivered[p].Add(1) == int64(counts[p]*len(subs)) {
					finished[p] = time.Now()
					close(done[p])
				}
			}
		})
	}

	var results []loadResult
	for p, phase := range []string{"paced", "burst"} {
		res := loadResult{broker: name, phase: phase, publishes: counts[p], rate: "-"}
		begin := time.Now()
		for range counts[p] {
			err := routers[0].Publish(ctx, "load", loadEvent{Phase: p, At: int64(time.Since(start))}, wsroute.PublishOptions{})
			require.NoError(t, err, "%s %s", name, phase)
			if p == 0 {
				time.Sleep(loadPace) // pacing, so that latency is not queueing
			}
		}
		timer := time.NewTimer(loadPhaseTimeout)
		select {
		case <-done[p]:
		case <-timer.C:
			t.Fatalf("%s %s: %d of %d deliveries within %v", name, phase, delivered[p].Load(), counts[p]*len(subs), loadPhaseTimeout)
		}
		timer.Stop()
		res.deliveries = int(delivered[p].Load())
		if p == 1 {
			res.rate = fmt.Sprintf("%.0f", float64(res.deliveries)/finished[p].Sub(begin).Seconds())
		}
		results = append(results, res)
	}
	readers.Wait()
	for p := range results {
		for _, s := range subs {
			results[p].all = append(results[p].all, s.lat[p]...)
			if s.remote {
				results[p].remote = append(results[p].remote, s.lat[p]...)
			}
		}
	}
	return results
}
