package main

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/wsroute/wsroute/internal/leakcheck"
)

// Heap margin: after Shutdown and a GC, live heap objects may exceed the
// baseline (measured with the Router built and serving, before any client)
// by at most heapSlack plus heapSlackRatio of the baseline. What remains
// legitimately does not grow with the run's length: a heap profile after a
// 300-client run shows it is almost all the runtime's goroutine descriptors
// (runtime.malg: Go keeps every g it allocated for reuse, so this follows the
// peak goroutine count — about 0.6 MiB after 300 clients), plus small maps
// that keep their buckets after deletes (the Router's, the ledger's) and
// net/http's caches. A leak of only 100 bytes per connection exceeds the
// margin after some 40,000 connections, about what a 60 s run with 300
// clients opens; the per-channel figure in the report shows smaller ones.
const (
	heapSlack      = 4 << 20
	heapSlackRatio = 0.25
)

// check is one verdict of the report.
type check struct {
	Name   string
	OK     bool
	Detail string
}

// heapAfterGC returns the bytes of live heap objects after two collections
// (the second frees what finalizers and sync.Pools let go in the first).
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// leakedGoroutines returns the stacks of goroutines still running code of
// wsroute or coder/websocket, giving goroutines already on their way out up
// to wait to finish (like the library's own leak_test.go). The soak's own
// functions (bench/soak) do not count, but a soak client still inside
// coder/websocket does.
func leakedGoroutines(wait time.Duration) []string { return leakcheck.Leaked(wait) }

// check runs every verdict on what the run recorded and fills rep.Checks.
func (rep *report) check(sst *serverStats, l *ledger) {
	add := func(name string, ok bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	left := l.leftovers()
	l.mu.Lock()
	var t kindCounts
	for _, kc := range l.kinds {
		t.Opened += kc.Opened
		t.ConnectOK += kc.ConnectOK
		t.ConnectFailed += kc.ConnectFailed
		t.Disconnected += kc.Disconnected
		t.Closed += kc.Closed
	}
	nViolation := l.nViolation
	l.mu.Unlock()
	add("OnDisconnect exactly once per successful OnConnect",
		nViolation == 0 && left == 0 && t.ConnectOK == t.Disconnected && t.Opened == t.Closed && t.Opened == t.ConnectOK+t.ConnectFailed,
		"%d opened (OnOpen), %d OnConnect ok, %d failed; %d OnDisconnect, %d OnClose; %d lifecycle violations, %d never closed",
		t.Opened, t.ConnectOK, t.ConnectFailed, t.Disconnected, t.Closed, nViolation, left)
	add("Router empty after Shutdown", rep.OpenAfterShutdown == 0, "Router.Len() = %d", rep.OpenAfterShutdown)
	add("Shutdown within its deadline", rep.ShutdownErr == nil,
		"returned %v after %v (deadline %v)", rep.ShutdownErr, rep.ShutdownTook.Round(time.Millisecond), rep.Config.ShutdownTimeout)
	add("every client finished", !rep.ClientsStuck, "clients stuck 60s after Shutdown: %v", rep.ClientsStuck)

	leaked := leakedGoroutines(5 * time.Second)
	rep.Leaked = leaked[:min(len(leaked), 5)]
	rep.GoroutinesAfter = runtime.NumGoroutine()
	add("no goroutine of wsroute or coder/websocket left", len(leaked) == 0,
		"%d left (goroutines: %d before the clients, %d now)", len(leaked), rep.GoroutinesBefore, rep.GoroutinesAfter)

	c := rep.Clients
	wbSent, wbAnswered := c.wbSent.Load(), c.wbAnswered.Load()
	add("every reply to a well-behaved client arrived, in order", wbSent == wbAnswered && c.wbFailures() == 0,
		"%d sent, %d answered in order; %d failures of ordered/subscriber clients", wbSent, wbAnswered, c.wbFailures())
	c.mu.Lock()
	nFail := c.nFail
	c.mu.Unlock()
	add("every client got the documented answers and close codes", nFail == 0,
		"%d failures (ordering, missing or wrong replies, close codes, HTTP statuses, events)", nFail)
	panics, boomErrs := sst.panics.Load(), l.boomErrs.Load()
	add("handler panics became internal errors, one each", panics > 0 && panics == boomErrs,
		"%d panics raised, %d boom messages answered internal", panics, boomErrs)

	rep.HeapAfter = heapAfterGC()
	limit := rep.HeapBaseline + heapSlack + uint64(heapSlackRatio*float64(rep.HeapBaseline))
	rep.HeapLimit = limit
	per := 0.0
	if t.Opened > 0 {
		per = (float64(rep.HeapAfter) - float64(rep.HeapBaseline)) / float64(t.Opened)
	}
	add("heap back near the baseline", rep.HeapAfter <= limit,
		"baseline %s, after %s, limit %s (baseline + 4 MiB + 25%%); %+.1f B per channel opened",
		mib(rep.HeapBaseline), mib(rep.HeapAfter), mib(limit), per)
}

// failed returns how many checks failed.
func (rep *report) failed() int {
	n := 0
	for _, c := range rep.Checks {
		if !c.OK {
			n++
		}
	}
	return n
}

// mib formats bytes in MiB.
func mib(b uint64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }
