//go:build linux

package main

import (
	"math"
	"runtime/metrics"
	"slices"
	"time"
)

// The runtime/metrics samples /_stats reports.
const (
	metricHeapObjects = "/memory/classes/heap/objects:bytes"
	metricStacks      = "/memory/classes/heap/stacks:bytes"
	metricGoroutines  = "/sched/goroutines:goroutines"
)

// readRuntimeStats reads this process's heap objects, stack memory and
// goroutine count.
func readRuntimeStats() serverStats {
	s := []metrics.Sample{{Name: metricHeapObjects}, {Name: metricStacks}, {Name: metricGoroutines}}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	return serverStats{HeapObjects: u(0), Stacks: u(1), Goroutines: u(2)}
}

// memory is what counts as a server's memory: live heap objects plus stacks.
func (s serverStats) memory() float64 { return float64(s.HeapObjects) + float64(s.Stacks) }

// latencies collects one worker's round-trip times, up to a cap.
type latencies struct {
	ns  []int64
	max int
}

// add records d unless the cap is reached.
func (l *latencies) add(d time.Duration) {
	if len(l.ns) < l.max {
		l.ns = append(l.ns, int64(d))
	}
}

// percentiles returns the p-quantiles (0 < p ≤ 1) of samples in µs, sorting
// samples in place; NaN when there are none.
func percentiles(samples []int64, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(samples) == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return out
	}
	slices.Sort(samples)
	for i, p := range ps {
		k := int(math.Ceil(p*float64(len(samples)))) - 1
		k = min(max(k, 0), len(samples)-1)
		out[i] = float64(samples[k]) / 1e3
	}
	return out
}

// median returns the median of xs (the mean of the middle two for an even
// count), ignoring NaNs; NaN when none is left.
func median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// ratio returns a/b, or NaN when b is not positive.
func ratio(a, b float64) float64 {
	if !(b > 0) {
		return math.NaN()
	}
	return a / b
}
