package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
)

// clientStats is what the clients saw. Hot counters are atomics; the rest
// is guarded by mu.
type clientStats struct {
	sent, wbSent, answered, wbAnswered atomic.Int64
	events, early, late                atomic.Int64
	stallDrops, silentDrops            atomic.Int64

	mu       sync.Mutex
	dials    map[string]int         // kind → upgraded connections
	refused  map[int]int            // HTTP status → refused openings
	closes   map[string]map[int]int // kind → close code seen → count
	errCodes map[string]int         // error code received → count
	failures []string               // the first failures
	failKind map[string]int         // failures by client kind
	nFail    int
	nWBFail  int // failures of well-behaved clients
}

// newClientStats returns empty statistics.
func newClientStats() *clientStats {
	return &clientStats{dials: map[string]int{}, refused: map[int]int{}, closes: map[string]map[int]int{}, errCodes: map[string]int{}, failKind: map[string]int{}}
}

// countAnswered counts a reply matched with its request.
func (s *clientStats) countAnswered(wb bool) {
	s.answered.Add(1)
	if wb {
		s.wbAnswered.Add(1)
	}
}

// countDial counts an upgraded connection of kind.
func (s *clientStats) countDial(kind string) {
	s.mu.Lock()
	s.dials[kind]++
	s.mu.Unlock()
}

// countRefused counts an opening refused with an HTTP status.
func (s *clientStats) countRefused(status int) {
	s.mu.Lock()
	s.refused[status]++
	s.mu.Unlock()
}

// countClose counts the close code a client of kind saw (-1: none).
func (s *clientStats) countClose(kind string, code websocket.StatusCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closes[kind] == nil {
		s.closes[kind] = map[int]int{}
	}
	s.closes[kind][int(code)]++
}

// countErr counts an error frame's code.
func (s *clientStats) countErr(code string) {
	s.mu.Lock()
	s.errCodes[code]++
	s.mu.Unlock()
}

// fail records a failure; msg starts with the client kind.
func (s *clientStats) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nFail++
	kind, _, _ := strings.Cut(msg, ":")
	s.failKind[strings.Fields(kind + " ?")[0]]++
	if strings.HasPrefix(msg, "ordered") || strings.HasPrefix(msg, "subscriber") || strings.HasPrefix(msg, "well-behaved") {
		s.nWBFail++
	}
	if len(s.failures) < 30 {
		s.failures = append(s.failures, msg)
	}
}

// wbFailures returns how many failures well-behaved clients had.
func (s *clientStats) wbFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nWBFail
}

// report is the result of one run.
type report struct {
	Config            config
	Addr              string
	StopReason        string
	LoadPhase         time.Duration
	Elapsed           time.Duration
	ShutdownTook      time.Duration
	ShutdownErr       error
	ClientsStuck      bool
	OpenAfterShutdown int
	HeapBaseline      uint64
	HeapAfter         uint64
	HeapLimit         uint64
	GoroutinesBefore  int
	GoroutinesPeak    int // at the end of the load phase
	GoroutinesAfter   int
	Leaked            []string // the first leaked stacks
	Checks            []check

	Ledger  *ledger
	Server  *serverStats
	Clients *clientStats
	Logs    *countingHandler
}

// write prints the report.
func (rep *report) write(w io.Writer) {
	verdict := "PASS"
	if rep.failed() > 0 {
		verdict = "FAIL"
	}
	cfg := rep.Config
	fmt.Fprintf(w, "wsroute soak: %s\n", verdict)
	fmt.Fprintf(w, "  config: %d clients, -duration %v, -max-msgs %d, -seed %d, shutdown deadline %v, server %s\n",
		cfg.Clients, cfg.Duration, cfg.MaxMsgs, cfg.Seed, cfg.ShutdownTimeout, rep.Addr)
	fmt.Fprintf(w, "  duration: load phase %v (ended by %s), Shutdown %v, whole run %v\n",
		rep.LoadPhase.Round(time.Millisecond), rep.StopReason, rep.ShutdownTook.Round(time.Millisecond), rep.Elapsed.Round(time.Millisecond))

	l, c, s := rep.Ledger, rep.Clients, rep.Server
	fmt.Fprintln(w, "\nconnections by kind (server side: Observer.OnOpen/OnClose, OnConnect, OnDisconnect; client side: upgrades):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  kind\tupgraded\topened\tconnect ok\tconnect failed\tdisconnected\tclosed\thow they closed (server side)")
	l.mu.Lock()
	c.mu.Lock()
	for _, k := range slices.Sorted(maps.Keys(l.kinds)) {
		kc := l.kinds[k]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", k, c.dials[k], kc.Opened, kc.ConnectOK, kc.ConnectFailed, kc.Disconnected, kc.Closed, counts(kc.Reasons, "; "))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nclose codes seen by clients: %s\n", closeCodes(c.closes))
	fmt.Fprintf(w, "HTTP refusals seen by clients: %s\n", counts(c.refused, ", "))
	fmt.Fprintf(w, "\nmessages: %d frames sent by clients (%d by well-behaved ones), %d replies matched in order (%d well-behaved), %d handled by the Router\n",
		c.sent.Load(), c.wbSent.Load(), c.answered.Load(), c.wbAnswered.Load(), l.handled.Load())
	fmt.Fprintf(w, "error codes received by clients: %s\n", counts(c.errCodes, ", "))
	fmt.Fprintf(w, "handled by channel/route and code (Observer.OnMessage):\n  %s\n", counts(l.byCode, "\n  "))
	fmt.Fprintf(w, "topics: %d publishes, %d events queued, %d checked by subscribers; %d arrived before their subscribe's reply, %d after an unsubscribe's reply\n",
		s.published.Load(), l.pubLocal.Load(), c.events.Load(), c.early.Load(), c.late.Load())
	fmt.Fprintf(w, "handlers: %d boom panics, %d slow handlers cancelled, %d bursts cut short\n",
		s.panics.Load(), s.slowCanceled.Load(), s.bursts.Load())
	fmt.Fprintf(w, "dropped as documented: %d clients that stopped reading, %d that fell silent (heartbeat)\n",
		c.stallDrops.Load(), c.silentDrops.Load())
	rep.Logs.mu.Lock()
	fmt.Fprintf(w, "Router logs: %s\n", counts(rep.Logs.counts, "; "))
	rep.Logs.mu.Unlock()
	fmt.Fprintf(w, "heap objects after GC: baseline %s, after %s, limit %s; goroutines %d before, %d at the end of the load phase, %d after\n",
		mib(rep.HeapBaseline), mib(rep.HeapAfter), mib(rep.HeapLimit), rep.GoroutinesBefore, rep.GoroutinesPeak, rep.GoroutinesAfter)

	fmt.Fprintln(w, "\nchecks:")
	for _, ch := range rep.Checks {
		mark := "ok  "
		if !ch.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %s: %s\n", mark, ch.Name, ch.Detail)
	}
	if len(l.violations) > 0 {
		fmt.Fprintf(w, "\nlifecycle violations (first %d of %d):\n  %s\n", len(l.violations), l.nViolation, strings.Join(l.violations, "\n  "))
	}
	if len(c.failures) > 0 {
		fmt.Fprintf(w, "\nclient failures by kind: %s\nfirst %d of %d:\n  %s\n", counts(c.failKind, ", "), len(c.failures), c.nFail, strings.Join(c.failures, "\n  "))
	}
	c.mu.Unlock()
	l.mu.Unlock()
	if len(rep.Leaked) > 0 {
		fmt.Fprintf(w, "\nleaked goroutines (first %d):\n%s\n", len(rep.Leaked), strings.Join(rep.Leaked, "\n\n"))
	}
}

// counts formats a histogram as "key×n" items sorted by key.
func counts[K int | string](m map[K]int, sep string) string {
	if len(m) == 0 {
		return "none"
	}
	items := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		items = append(items, fmt.Sprintf("%v ×%d", k, m[k]))
	}
	return strings.Join(items, sep)
}

// closeCodes formats the close codes clients saw, by kind.
func closeCodes(m map[string]map[int]int) string {
	if len(m) == 0 {
		return "none"
	}
	var items []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		items = append(items, k+": "+counts(m[k], ", "))
	}
	return "\n  " + strings.Join(items, "\n  ")
}

// countingHandler is a slog.Handler that counts the Router's log records by
// level and message, dropping them otherwise.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

// logger returns a Logger that feeds h.
func (h *countingHandler) logger() *slog.Logger {
	h.counts = map[string]int{}
	return slog.New(h)
}

// Enabled implements slog.Handler: every level counts.
func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Level.String()+" "+r.Message]++
	h.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler.
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler.
func (h *countingHandler) WithGroup(string) slog.Handler { return h }
