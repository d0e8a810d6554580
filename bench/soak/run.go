package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// runner is the state the clients of one run share.
type runner struct {
	cfg    config
	addr   string // the server's host:port on loopback
	wsURL  string
	hc     *http.Client
	st     *clientStats
	ledger *ledger
	cids   atomic.Int64 // client connection ids

	stopCh   chan struct{} // closed when the load phase ends
	stopOnce sync.Once
	stopWhy  string         // set before stopCh closes
	shutdown atomic.Bool    // Router.Shutdown has begun
	quitCh   chan struct{}  // closed when Shutdown has returned: hostile clients stop
	parked   sync.WaitGroup // well-behaved clients with no reply awaited after the load phase
}

// stopping reports whether the load phase has ended.
func (rn *runner) stopping() bool {
	select {
	case <-rn.stopCh:
		return true
	default:
		return false
	}
}

// quitting reports whether every client must stop.
func (rn *runner) quitting() bool {
	select {
	case <-rn.quitCh:
		return true
	default:
		return false
	}
}

// shuttingDown reports whether Router.Shutdown has begun; outcomes it
// causes (503, 1001, dropped connections) are then accepted.
func (rn *runner) shuttingDown() bool { return rn.shutdown.Load() }

// endLoad ends the load phase, once.
func (rn *runner) endLoad(why string) {
	rn.stopOnce.Do(func() {
		rn.stopWhy = why
		close(rn.stopCh)
	})
}

// countSent counts a frame sent and ends the load phase at cfg.MaxMsgs.
func (rn *runner) countSent(wb bool) {
	if wb {
		rn.st.wbSent.Add(1)
	}
	if rn.st.sent.Add(1) >= rn.cfg.MaxMsgs {
		rn.endLoad("max-msgs")
	}
}

// fail records a client-side check failure.
func (rn *runner) fail(format string, args ...any) { rn.st.fail(fmt.Sprintf(format, args...)) }

// run runs one soak: it starts the Router on loopback, measures the
// baseline, runs the clients for cfg.Duration (or cfg.MaxMsgs frames, or
// until ctx ends), lets the well-behaved clients collect their last replies,
// shuts the Router down, waits for every client, and checks. Progress goes
// to logw. The error says how many checks failed.
func run(ctx context.Context, cfg config, logw io.Writer) (*report, error) {
	l := newLedger()
	sst := &serverStats{}
	logs := &countingHandler{}
	router := newSoakRouter(l, sst, l.observer(), logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	rn := &runner{
		cfg: cfg, addr: ln.Addr().String(), st: newClientStats(), ledger: l,
		hc:     &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}, Timeout: 15 * time.Second},
		stopCh: make(chan struct{}), quitCh: make(chan struct{}),
	}
	rn.wsURL = "ws://" + rn.addr
	rep := &report{Config: cfg, Addr: rn.addr, Ledger: l, Server: sst, Clients: rn.st, Logs: logs}
	rep.HeapBaseline, rep.GoroutinesBefore = heapAfterGC(), runtime.NumGoroutine()
	fmt.Fprintf(logw, "soak: %d clients on %s for %v (seed %d)\n", cfg.Clients, rn.addr, cfg.Duration, cfg.Seed)

	start := time.Now()
	var clients sync.WaitGroup
	for i := range cfg.Clients {
		if i%10 < orderedPerTen+subscriberPerTen {
			rn.parked.Add(1)
		}
		clients.Go(func() { rn.client(i) })
	}
	timer := time.NewTimer(cfg.Duration)
	select {
	case <-timer.C:
		rn.endLoad("duration")
	case <-rn.stopCh:
	case <-ctx.Done():
		rn.endLoad("interrupted")
	}
	timer.Stop()
	rep.LoadPhase, rep.StopReason, rep.GoroutinesPeak = time.Since(start), rn.stopWhy, runtime.NumGoroutine()
	fmt.Fprintf(logw, "soak: load phase over after %v (%s); collecting the last replies\n", rep.LoadPhase.Round(time.Millisecond), rn.stopWhy)
	if !waitTimeout(&rn.parked, 30*time.Second) {
		rn.fail("well-behaved clients still awaited replies 30s after the load phase")
	}

	fmt.Fprintln(logw, "soak: Router.Shutdown")
	rn.shutdown.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	t0 := time.Now()
	rep.ShutdownErr = router.Shutdown(sctx)
	rep.ShutdownTook = time.Since(t0)
	cancel()
	close(rn.quitCh)
	if !waitTimeout(&clients, 60*time.Second) {
		rep.ClientsStuck = true
	}
	rep.Elapsed = time.Since(start)
	rep.OpenAfterShutdown = router.Len()
	_ = srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		rn.fail("http.Server.Serve: %v", err)
	}
	rn.hc.CloseIdleConnections()

	fmt.Fprintln(logw, "soak: checking")
	rep.check(sst, l)
	if n := rep.failed(); n > 0 {
		return rep, fmt.Errorf("%d of %d checks failed", n, len(rep.Checks))
	}
	return rep, nil
}

// waitTimeout waits for wg, at most d, and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
