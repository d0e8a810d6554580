//go:build linux

// Command wsload measures what wsroute's routing costs over real sockets,
// against hand-written coder/websocket servers doing the same work, with the
// same client. Each compared mode has a baseline, measured in the same run:
//
//   - raw: a raw coder/websocket server that json.Unmarshals each frame
//     {"action":"echo","ref":N,"title":"<100 characters>"} into a struct and
//     json.Marshals the echo back (the baseline of routed and
//     routed-schema);
//   - routed: wsroute's routed echo (TokenAuth session, one permission, typed
//     handler);
//   - routed-schema: the same with a JSON Schema on the route;
//   - hand: the validated workload written by hand on coder/websocket
//     (server_hand.go): ?token=user-<id> checked at open, then per frame
//     {"action":"echo","ref":N,"data":{"user","room","text":"<40-100
//     characters>","n","seq"}} json.Unmarshalled into a struct, a banned
//     flag on the connection's user (the permission), the schema's checks as
//     if statements (rune lengths, n and seq ≥ 0, action "echo"; an error
//     reply on failure) and the json.Marshal of {"action","ref","data"} (the
//     baseline of validated). It does not look for unknown keys nor tell a
//     missing n or seq from 0, which the schema does;
//   - validated: wsroute's route for the same: TokenAuth session, the
//     routed permission, RouteConfig.Schema (valSchema in server_routed.go),
//     a typed input that the handler returns as its reply;
//   - fanout-raw: 1 publisher → -fanout-subs subscribers on a naive
//     coder/websocket server: its connections in a slice, each event
//     {"topic":"fan","data":{"seq","ts","pad"}} encoded once and written to
//     each connection in turn, in one goroutine, with the publisher's context
//     (the baseline of fanout-routed);
//   - fanout-routed: the same with wsroute: a channel whose OnConnect
//     subscribes it to "fan", and Router.Publish (default Limits but the rate
//     limit).
//
// For every mode and run it starts a fresh server subprocess (this binary
// with -serve, pinned to one CPU with taskset) and measures from the client,
// pinned to another CPU. Echo modes: closed-loop throughput and latency
// (p50, p99) over C connections, the server's CPU time per message (from
// /proc/PID/task/*/schedstat), and, on another fresh server, the memory per
// idle connection (heap objects + stacks after GC, from runtime/metrics).
// Fan-out modes: the client opens the subscribers, then asks the server
// (POST /publish?events=N&rate=R) to publish N events at R per second from
// a goroutine of its own, so the publisher's CPU time is the server's; the
// client counts every event each subscriber receives and checks their order,
// and the report gives the server's CPU time per delivered event (per
// subscriber and event), the delivery latency from the publisher's time
// stamp (p50, p99; it includes the client's own scheduling, on one CPU), and
// every loss (events × subscribers − deliveries, subscribers short, events
// out of order, failed writes) — a loss is reported, never hidden or
// retried. Modes are interleaved run after run and the medians are reported
// with their ratios to their baselines (routed/raw, routed-schema/raw,
// validated/hand, fanout-routed/fanout-raw), the server CPU per message or
// delivery and the p99 latency first. Unpaced, each echo mode runs at its
// own throughput, so its p99 is taken at its own load; compare tail latency
// at equal load with -rate.
//
//	go run ./bench/wsload                 # full run: 5 × 7 modes, 4-5 minutes (6 on a busy machine)
//	go run ./bench/wsload -quick          # smoke: 1 run, 1 s windows, 200 idle conns, 200 subscribers
//	go run ./bench/wsload -rate 25000     # CPU/msg at equal load for every echo mode
//	go run ./bench/wsload -modes hand,validated
//	go run ./bench/wsload -modes fanout-raw,fanout-routed -fanout-rate 25
//	go run ./bench/wsload -cpuprofile /tmp/prof -modes raw,routed
//	go run ./bench/wsload -hold 19000     # held connections, raw then routed (about a minute)
//
// -modes picks modes (default all seven, in the order above); -fanout-subs
// (2000), -fanout-events (100) and -fanout-rate (25 events/s, so 50,000
// deliveries/s) size the fan-out: the rate must stay one the client, on one
// CPU, keeps up with, or the latency measures the client.
//
// -hold N is a separate invocation: for each server of -hold-mode (raw,
// routed or both, default both; the raw and routed echo servers, idle) it
// starts the server, reads its VmRSS (/proc/PID/status) and heap + stacks
// after a GC, has -hold-clients (4) client subprocesses (this binary with
// -hold-client, pinned to the client CPU) open N idle connections from the
// loopback sources 127.0.0.2, 127.0.0.3, ... (their own ephemeral ports;
// every process raises RLIMIT_NOFILE to its hard limit, 20,000 here), and
// reports the accept rate (connections/s from the first dial until the
// server counts N), the server's and the clients' CPU utilisation meanwhile
// (the rate measures whichever is busy, or the machine's other load), the
// server CPU per accepted connection, RSS before and after, RSS and heap +
// stacks per connection, and the memory 100,000 connections would take
// (baseline + 100,000 × per connection: an extrapolation, not a measurement),
// with routed/raw ratios. If N is not reached it reports the largest count
// the server reached and why.
//
// -cpuprofile DIR makes each server write DIR/MODE-runN.cpu.pprof (throughput
// or fan-out phase) and DIR/MODE-runN.heap.pprof (with the idle connections
// open); read them with `go tool pprof -top`.
//
// It is Linux-only (/proc, taskset, sched_setaffinity, parent-death signal)
// and sends traffic to loopback addresses only. Everything is bounded: each
// phase in time and message or event count, each hold in time (3 minutes per
// server), the whole run by -timeout; each subprocess is killed when its
// phase ends, when wsload exits, or when wsload dies (it exits on EOF of its
// stdin and has a parent-death signal).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// modes are the server variants, in the order they are interleaved.
var modes = []string{"raw", "routed", "routed-schema", "hand", "validated", "fanout-raw", "fanout-routed"}

// config is what one invocation measures.
type config struct {
	Conns      int           // load connections, each closed-loop
	Warmup     time.Duration // unmeasured load before the window
	Measure    time.Duration // the measured window, at most
	MaxMsgs    int64         // messages in the window, at most
	Rate       float64       // total messages/s when paced; 0: unpaced closed loop
	Idle       int           // idle connections of the memory phase
	FanSubs    int           // subscribers of the fan-out modes
	FanEvents  int           // events published per fan-out run
	FanRate    float64       // events/s of the fan-out publisher
	Runs       int           // repetitions of every mode, interleaved
	Modes      []string      // which modes, in order
	Pin        bool          // pin server and client to their CPUs
	ServerCPU  int           // CPU of the server
	ClientCPU  int           // CPU of the client (this process)
	ProfileDir string        // if set, servers write CPU and heap profiles here
	Timeout    time.Duration // the whole invocation, at most
}

// defaultConfig is the full measurement.
func defaultConfig() config {
	return config{
		Conns: 50, Warmup: 2 * time.Second, Measure: 5 * time.Second, MaxMsgs: 5_000_000,
		Idle: 5000, FanSubs: 2000, FanEvents: 100, FanRate: 25, Runs: 5, Modes: modes, Pin: true, ServerCPU: 0, ClientCPU: 1,
		Timeout: 9 * time.Minute,
	}
}

// quickConfig is the smoke run of -quick and of TestQuick.
func quickConfig() config {
	c := defaultConfig()
	c.Conns, c.Warmup, c.Measure, c.MaxMsgs = 20, 300*time.Millisecond, time.Second, 1_000_000
	c.Idle, c.Runs, c.Timeout = 200, 1, 2*time.Minute
	c.FanSubs, c.FanEvents, c.FanRate = 200, 20, 20
	return c
}

// main runs the server when asked for -serve, the measurement otherwise.
func main() {
	if code, ok := subprocessMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(clientMain(os.Args[1:]))
}

// subprocessMain runs a server (-serve) or a hold client (-hold-client) when
// args ask for one, and reports whether they did.
func subprocessMain(args []string) (int, bool) {
	switch {
	case isServeInvocation(args):
		return serveMain(args), true
	case isHoldClientInvocation(args):
		return holdClientMain(args), true
	}
	return 0, false
}

// isServeInvocation reports whether args ask for server mode (-serve MODE).
func isServeInvocation(args []string) bool {
	for _, a := range args {
		if a == "-serve" || a == "--serve" || strings.HasPrefix(a, "-serve=") || strings.HasPrefix(a, "--serve=") {
			return true
		}
	}
	return false
}

// clientMain parses the orchestrator's flags, runs the measurement and
// prints the report.
func clientMain(args []string) int {
	fs := flag.NewFlagSet("wsload", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1 run, 1s window, 20 conns, 200 idle conns, 200 subscribers × 20 events (other flags override)")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of tables")
	modeList := fs.String("modes", strings.Join(modes, ","), "comma-separated modes to measure")
	d := defaultConfig()
	conns := fs.Int("conns", d.Conns, "load connections (closed loop each)")
	warmup := fs.Duration("warmup", d.Warmup, "warm-up before each measured window")
	measure := fs.Duration("measure", d.Measure, "measured window, at most")
	maxMsgs := fs.Int64("max", d.MaxMsgs, "messages per measured window, at most")
	rate := fs.Float64("rate", 0, "pace the load at this many messages/s in total (0: as fast as the closed loop goes); compares CPU/msg at equal load")
	idle := fs.Int("idle", d.Idle, "idle connections for the memory phase")
	fanSubs := fs.Int("fanout-subs", d.FanSubs, "subscriber connections of the fan-out modes")
	fanEvents := fs.Int("fanout-events", d.FanEvents, "events per fan-out run")
	fanRate := fs.Float64("fanout-rate", d.FanRate, "events/s of the fan-out publisher (deliveries/s = this × subscribers)")
	runs := fs.Int("runs", d.Runs, "runs of every mode, interleaved")
	pin := fs.Bool("pin", d.Pin, "pin the server (taskset) and the client (sched_setaffinity) to their CPUs")
	serverCPU := fs.Int("server-cpu", d.ServerCPU, "CPU of the server")
	clientCPU := fs.Int("client-cpu", d.ClientCPU, "CPU of the client")
	profDir := fs.String("cpuprofile", "", "directory where each server writes MODE-runN.cpu.pprof and MODE-runN.heap.pprof")
	timeout := fs.Duration("timeout", d.Timeout, "abort the whole invocation after this long")
	hold := fs.Int("hold", 0, "instead of the load: hold this many idle connections on each -hold-mode server and report its memory and accept rate")
	holdMode := fs.String("hold-mode", "both", "servers of -hold: raw, routed or both")
	holdClients := fs.Int("hold-clients", 4, "client processes of -hold, each with its own loopback source address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := d
	if *quick {
		cfg = quickConfig()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override := func(name string, apply func()) {
		if set[name] || !*quick {
			apply()
		}
	}
	override("conns", func() { cfg.Conns = *conns })
	override("warmup", func() { cfg.Warmup = *warmup })
	override("measure", func() { cfg.Measure = *measure })
	override("max", func() { cfg.MaxMsgs = *maxMsgs })
	override("idle", func() { cfg.Idle = *idle })
	override("fanout-subs", func() { cfg.FanSubs = *fanSubs })
	override("fanout-events", func() { cfg.FanEvents = *fanEvents })
	override("fanout-rate", func() { cfg.FanRate = *fanRate })
	override("runs", func() { cfg.Runs = *runs })
	override("timeout", func() { cfg.Timeout = *timeout })
	cfg.Rate = *rate
	cfg.Pin, cfg.ServerCPU, cfg.ClientCPU, cfg.ProfileDir = *pin, *serverCPU, *clientCPU, *profDir
	cfg.Modes = nil
	for m := range strings.SplitSeq(*modeList, ",") {
		if m = strings.TrimSpace(m); m != "" {
			if !validMode(m) {
				fmt.Fprintf(os.Stderr, "wsload: unknown mode %q (want %s)\n", m, strings.Join(modes, ", "))
				return 2
			}
			cfg.Modes = append(cfg.Modes, m)
		}
	}
	if len(cfg.Modes) == 0 || cfg.Conns < 1 || cfg.Runs < 1 || cfg.Idle < 1 || cfg.FanSubs < 1 || cfg.FanEvents < 1 || !(cfg.FanRate > 0) {
		fmt.Fprintln(os.Stderr, "wsload: need at least one mode, conn, idle conn, run, subscriber and event, and a positive event rate")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer killAllServers() // also on panic: no server outlives wsload
	if *hold > 0 {
		return holdMain(ctx, cfg, *hold, *holdMode, *holdClients, *jsonOut)
	}
	rep, err := measureAll(ctx, cfg, os.Stderr)
	if rep != nil {
		if *jsonOut {
			rep.writeJSON(os.Stdout)
		} else {
			rep.writeTables(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		return 1
	}
	return 0
}

// holdMain runs a -hold invocation and prints its report.
func holdMain(ctx context.Context, cfg config, conns int, mode string, clients int, jsonOut bool) int {
	hc := holdConfig{Conns: conns, Clients: clients, Pin: cfg.Pin, ServerCPU: cfg.ServerCPU, ClientCPU: cfg.ClientCPU,
		Settle: time.Second, Timeout: 3 * time.Minute}
	switch mode {
	case "both":
		hc.Modes = []string{"raw", "routed"}
	case "raw", "routed":
		hc.Modes = []string{mode}
	default:
		fmt.Fprintf(os.Stderr, "wsload: -hold-mode %q: want raw, routed or both\n", mode)
		return 2
	}
	if clients < 1 || clients > 200 || conns < clients {
		fmt.Fprintln(os.Stderr, "wsload: -hold-clients must be in [1, 200] and at most -hold")
		return 2
	}
	if runtime.NumCPU() < 2 {
		hc.Pin = false
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	rep, err := measureHold(ctx, hc, os.Stderr)
	if jsonOut {
		rep.writeJSON(os.Stdout)
	} else {
		rep.writeTables(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		return 1
	}
	return 0
}

// validMode reports whether m is one of modes.
func validMode(m string) bool {
	for _, v := range modes {
		if m == v {
			return true
		}
	}
	return false
}

// measureAll runs every mode cfg.Runs times, interleaved, and builds the
// report. Progress goes to logw. On error the report holds what was measured.
func measureAll(ctx context.Context, cfg config, logw io.Writer) (*report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	rep := &report{Config: cfg}
	if cfg.Pin {
		if err := pinSelf(cfg.ClientCPU); err != nil {
			fmt.Fprintf(logw, "wsload: client not pinned: %v\n", err)
			cfg.Pin = false
		}
	}
	rep.Config = cfg
	rep.Pinned = cfg.Pin && tasksetPath() != ""
	for run := 1; run <= cfg.Runs; run++ {
		for _, mode := range cfg.Modes {
			r := runResult{Mode: mode, Run: run}
			if isFanout(mode) {
				if err := fanoutPhase(ctx, cfg, &r); err != nil {
					return rep.finish(), fmt.Errorf("%s run %d: fan-out: %w", mode, run, err)
				}
				if logw != nil {
					fmt.Fprintf(logw, "wsload: run %d %-13s %6d deliveries (%d lost) %8.0f/s  p50 %7.0fµs  p99 %7.0fµs  cpu/delivery %6.3fµs\n",
						run, mode, r.Deliveries, r.Lost, r.DeliveriesPerSec, r.FanP50us, r.FanP99us, r.CPUPerDeliveryUs)
				}
				rep.Runs = append(rep.Runs, r)
				continue
			}
			if err := throughputPhase(ctx, cfg, &r); err != nil {
				return rep.finish(), fmt.Errorf("%s run %d: throughput: %w", mode, run, err)
			}
			if err := idlePhase(ctx, cfg, &r); err != nil {
				return rep.finish(), fmt.Errorf("%s run %d: idle: %w", mode, run, err)
			}
			if logw != nil {
				fmt.Fprintf(logw, "wsload: run %d %-13s %9.0f msg/s  p50 %6.1fµs  p99 %6.1fµs  cpu/msg %6.2fµs  mem/conn %7.0fB\n",
					run, mode, r.MsgsPerSec, r.P50us, r.P99us, r.CPUPerMsgUs, r.MemPerConn)
			}
			rep.Runs = append(rep.Runs, r)
		}
	}
	return rep.finish(), nil
}
