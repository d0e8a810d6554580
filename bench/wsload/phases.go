//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// throughputPhase runs closed-loop load (paced at cfg.Rate in total, if
// set) on a fresh server: cfg.Warmup
// unmeasured, then a window of at most cfg.Measure and cfg.MaxMsgs, and
// fills r's throughput, latency and CPU figures.
func throughputPhase(ctx context.Context, cfg config, r *runResult) error {
	srv, err := startServer(ctx, cfg, r.Mode, profileFile(cfg, r, "cpu"), "")
	if err != nil {
		return err
	}
	defer srv.stop()
	conns, err := dialAll(ctx, srv.addr, cfg.Conns, 16)
	if err != nil {
		return err
	}
	l := &load{lat: make([]latencies, len(conns)), validated: validatedWorkload(r.Mode)}
	if cfg.Rate > 0 {
		l.interval = time.Duration(float64(time.Second) * float64(len(conns)) / cfg.Rate)
	}
	perWorker := int(min(cfg.MaxMsgs, 20_000_000)/int64(len(conns))) + 1
	for i, c := range conns {
		l.lat[i].max = perWorker
		l.wg.Add(1)
		go l.worker(i, c)
	}
	defer func() { // stop the workers, cutting the connections if they hang
		l.stop.Store(true)
		finished := make(chan struct{})
		go func() { l.wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
		}
		closeAll(conns)
		<-finished
	}()

	// watch returns when d has passed, max round trips are done, a worker
	// failed or ctx ended.
	watch := func(d time.Duration, from, max int64) error {
		deadline := time.Now().Add(d)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(deadline) && l.done.Load()-from < max {
			if err := l.firstErr(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		return l.firstErr()
	}
	if err := watch(cfg.Warmup, 0, cfg.MaxMsgs); err != nil {
		return err
	}
	n0, t0 := l.done.Load(), time.Now()
	cpu0, err := srv.cpuTime()
	if err != nil {
		return err
	}
	ccpu0, _ := processCPU(os.Getpid())
	l.measuring.Store(true)
	if err := watch(cfg.Measure, n0, cfg.MaxMsgs); err != nil {
		return err
	}
	cpu1, err := srv.cpuTime()
	if err != nil {
		return err
	}
	ccpu1, _ := processCPU(os.Getpid())
	n1, t1 := l.done.Load(), time.Now()
	l.measuring.Store(false)
	l.stop.Store(true)
	l.wg.Wait() // each worker finishes one round trip at most

	msgs, window := n1-n0, t1.Sub(t0)
	if msgs <= 0 {
		return errors.New("no message completed in the measured window")
	}
	r.Msgs, r.WindowS = msgs, window.Seconds()
	r.MsgsPerSec = float64(msgs) / window.Seconds()
	r.CPUPerMsgUs = float64(cpu1-cpu0) / float64(msgs) / 1e3
	r.ServerUtil = float64(cpu1-cpu0) / float64(window)
	r.ClientCPUPerMsgUs = float64(ccpu1-ccpu0) / float64(msgs) / 1e3
	var all []int64
	for _, lt := range l.lat {
		all = append(all, lt.ns...)
	}
	p := percentiles(all, 0.50, 0.99)
	r.P50us, r.P99us = p[0], p[1]
	return nil
}

// idlePhase opens cfg.Idle idle connections on a fresh server and fills r's
// memory per connection: (heap objects + stacks with them − before) / N,
// each read after a forced GC.
func idlePhase(ctx context.Context, cfg config, r *runResult) error {
	srv, err := startServer(ctx, cfg, r.Mode, "", profileFile(cfg, r, "heap"))
	if err != nil {
		return err
	}
	defer srv.stop()
	base, err := srv.stats(ctx, true)
	if err != nil {
		return err
	}
	conns, err := dialAll(ctx, srv.addr, cfg.Idle, 32)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	for _, c := range conns {
		c.CloseRead(context.Background()) // answer pings, notice closes
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := srv.stats(ctx, false)
		if err != nil {
			return err
		}
		if st.Conns >= int64(cfg.Idle) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server reports %d of %d connections open after 30s", st.Conns, cfg.Idle)
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, err := srv.stats(ctx, true)
	if err != nil {
		return err
	}
	n := float64(cfg.Idle)
	r.IdleConns = cfg.Idle
	r.MemPerConn = (after.memory() - base.memory()) / n
	r.HeapPerConn = (float64(after.HeapObjects) - float64(base.HeapObjects)) / n
	r.StackPerConn = (float64(after.Stacks) - float64(base.Stacks)) / n
	r.GoroutinesPerConn = (float64(after.Goroutines) - float64(base.Goroutines)) / n
	return nil
}

// validatedWorkload reports whether mode's clients send the validated
// workload's frame (hand, validated) rather than the title one.
func validatedWorkload(mode string) bool { return mode == "hand" || mode == "validated" }

// profileFile names a server's profile file, or "" without -cpuprofile.
func profileFile(cfg config, r *runResult, kind string) string {
	if cfg.ProfileDir == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s-run%d.%s.pprof", cfg.ProfileDir, r.Mode, r.Run, kind)
}
