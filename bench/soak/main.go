// Command soak runs wsroute for a while under a crowd of well-behaved and
// hostile WebSocket clients, then shuts the Router down and checks that it
// kept its promises:
//
//   - OnDisconnect ran exactly once for every channel whose OnConnect
//     succeeded (and never for the others), Observer.OnClose once for every
//     Observer.OnOpen, no handler ran before OnConnect returned or after
//     OnDisconnect began;
//   - no goroutine of wsroute or coder/websocket is left after Shutdown;
//   - every reply to a well-behaved client arrived, complete and in order;
//     topic events of one publisher arrived in order, without gaps, and
//     never to the publisher itself;
//   - handler panics became internal errors, one per panic, and the process
//     did not crash;
//   - the heap after GC is back near what it was before the clients came.
//
// The Router is served in-process over loopback TCP (127.0.0.1:0); the
// clients are coder/websocket connections (and a few raw TCP ones for frames
// cut in the middle). Everything is bounded: the load phase by -duration and
// -max-msgs, every wait after it by a timeout.
//
//	go run ./bench/soak                               # 30 s, 200 clients
//	go run ./bench/soak -duration 60s -clients 300    # the long version
//	go run ./bench/soak -seed 42                      # repeat a run's choices
//
// It prints a report and exits 1 when a check failed. TestSoakShort runs a
// short version under go test.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is what one soak run does.
type config struct {
	Duration        time.Duration // the load phase, at most
	Clients         int           // concurrent client goroutines
	Seed            uint64        // seeds every client's random choices
	MaxMsgs         int64         // frames sent by all clients, at most
	ShutdownTimeout time.Duration // the deadline given to Router.Shutdown
}

// defaultConfig is the run of `go run ./bench/soak` without flags.
func defaultConfig() config {
	return config{
		Duration: 30 * time.Second, Clients: 200, MaxMsgs: 20_000_000,
		ShutdownTimeout: 10 * time.Second,
	}
}

// main parses the flags, runs the soak, prints the report and exits non-zero
// when a check failed.
func main() {
	d := defaultConfig()
	dur := flag.Duration("duration", d.Duration, "length of the load phase (at most)")
	clients := flag.Int("clients", d.Clients, "concurrent clients")
	seed := flag.Uint64("seed", 0, "seed of the clients' random choices (0: derived from the clock, printed)")
	maxMsgs := flag.Int64("max-msgs", d.MaxMsgs, "stop the load phase after this many frames sent")
	shutdown := flag.Duration("shutdown-timeout", d.ShutdownTimeout, "deadline of Router.Shutdown")
	flag.Parse()
	cfg := config{Duration: *dur, Clients: *clients, Seed: *seed, MaxMsgs: *maxMsgs, ShutdownTimeout: *shutdown}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if cfg.Duration <= 0 || cfg.Clients < 1 || cfg.MaxMsgs < 1 || cfg.ShutdownTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "soak: -duration, -clients, -max-msgs and -shutdown-timeout must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if rep != nil {
		rep.write(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		stop()
		os.Exit(1)
	}
}
