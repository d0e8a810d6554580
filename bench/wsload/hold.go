//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
)

// holdConfig is what a -hold invocation measures.
type holdConfig struct {
	Conns     int           // connections to hold per server
	Clients   int           // client subprocesses, each with its source address
	Modes     []string      // server modes, in order: raw, routed
	Pin       bool          // server on ServerCPU, clients on ClientCPU
	ServerCPU int           //
	ClientCPU int           //
	Settle    time.Duration // wait once the target is reached, before the "after" reading
	Timeout   time.Duration // per mode: dialling until the target is reached, at most
}

// holdResult is what holding connections on one server measured.
type holdResult struct {
	Mode         string  `json:"mode"`
	Target       int     `json:"target"`
	Reached      int     `json:"reached"`                // the most connections the server counted
	Error        string  `json:"error,omitempty"`        // why the target was not reached
	AcceptS      float64 `json:"accept_s"`               // first dial → server counts the target (or the timeout)
	AcceptPerSec float64 `json:"accept_per_sec"`         // reached / accept_s
	CPUPerAccept float64 `json:"server_cpu_per_conn_us"` // server CPU time while accepting / reached
	ServerUtil   float64 `json:"server_util"`            // server CPU time / accept_s (cores)
	ClientUtil   float64 `json:"client_util"`            // the clients' CPU time / accept_s (cores; 1: their pinned CPU was busy)
	RSSBefore    uint64  `json:"rss_before_bytes"`       // VmRSS before the first dial (after a GC)
	RSSAfter     uint64  `json:"rss_after_bytes"`        // VmRSS with the connections open (after a GC)
	RSSPerConn   float64 `json:"rss_per_conn_bytes"`     //
	MemPerConn   float64 `json:"heap_stacks_per_conn_bytes"`
	HeapPerConn  float64 `json:"heap_per_conn_bytes"`
	StackPerConn float64 `json:"stack_per_conn_bytes"`
	Goroutines   float64 `json:"goroutines_per_conn"`
	RSS100k      float64 `json:"rss_100k_extrapolated_bytes"` // RSSBefore + 100,000 × RSSPerConn
	Mem100k      float64 `json:"heap_stacks_100k_extrapolated_bytes"`
}

// holdReport is a -hold invocation's result.
type holdReport struct {
	Config  holdConfig         `json:"config"`
	Pinned  bool               `json:"pinned"`
	Results []holdResult       `json:"results"`
	Ratios  map[string]float64 `json:"ratios_routed_to_raw,omitempty"`
}

// holdSource returns the loopback source address of hold client k:
// 127.0.0.2, 127.0.0.3, ... (Linux routes all of 127/8 on lo), so that each
// client has its own ephemeral port range.
func holdSource(k int) string { return fmt.Sprintf("127.0.%d.%d", (k+2)/250, (k+2)%250) }

// measureHold runs the hold measurement for every mode of hc, one after the
// other. Progress goes to logw.
func measureHold(ctx context.Context, hc holdConfig, logw io.Writer) (*holdReport, error) {
	rep := &holdReport{Config: hc, Pinned: hc.Pin && tasksetPath() != ""}
	for _, mode := range hc.Modes {
		r, err := holdOne(ctx, hc, mode, logw)
		if err != nil {
			return rep.finish(), fmt.Errorf("hold %s: %w", mode, err)
		}
		rep.Results = append(rep.Results, r)
		if logw != nil {
			fmt.Fprintf(logw, "wsload: hold %-6s %d/%d conns, %.0f conn/s, RSS %.1f → %.1f MB, %.0f B RSS/conn, %.0f B heap+stacks/conn %s\n",
				mode, r.Reached, r.Target, r.AcceptPerSec, float64(r.RSSBefore)/1e6, float64(r.RSSAfter)/1e6, r.RSSPerConn, r.MemPerConn, r.Error)
		}
	}
	return rep.finish(), nil
}

// finish computes the routed/raw ratios.
func (rep *holdReport) finish() *holdReport {
	var raw, routed *holdResult
	for i := range rep.Results {
		switch rep.Results[i].Mode {
		case "raw":
			raw = &rep.Results[i]
		case "routed":
			routed = &rep.Results[i]
		}
	}
	if raw != nil && routed != nil {
		rep.Ratios = map[string]float64{
			"rss_per_conn":         ratio(routed.RSSPerConn, raw.RSSPerConn),
			"heap_stacks_per_conn": ratio(routed.MemPerConn, raw.MemPerConn),
			"server_cpu_per_conn":  ratio(routed.CPUPerAccept, raw.CPUPerAccept),
			"accept_per_sec":       ratio(routed.AcceptPerSec, raw.AcceptPerSec),
		}
	}
	return rep
}

// holdOne starts a server of mode, reads its memory, has hc.Clients client
// subprocesses open hc.Conns idle connections to it from their own source
// addresses, waits until the server counts them all (or hc.Timeout passes),
// reads its memory again and stops everything.
func holdOne(ctx context.Context, hc holdConfig, mode string, logw io.Writer) (holdResult, error) {
	r := holdResult{Mode: mode, Target: hc.Conns}
	srv, err := startServer(ctx, config{Pin: hc.Pin, ServerCPU: hc.ServerCPU}, mode, "", "")
	if err != nil {
		return r, err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	base, err := srv.stats(ctx, true)
	if err != nil {
		return r, err
	}
	if r.RSSBefore, err = vmRSS(pid); err != nil {
		return r, err
	}

	// The clients: each reports "START" when it begins dialling, then
	// "OPEN n" when its n connections are open or "FAIL n error" when one
	// failed (it keeps the n it opened).
	type report struct {
		k    int
		line string
	}
	reports := make(chan report, 4*hc.Clients)
	var clients []*serverProc
	var readers sync.WaitGroup
	defer func() {
		for _, c := range clients {
			c.stop()
		}
		readers.Wait() // their stdout has ended
	}()
	cpu := -1
	if hc.Pin {
		cpu = hc.ClientCPU
	}
	deadline := time.Now().Add(hc.Timeout)
	for k := range hc.Clients {
		n := hc.Conns / hc.Clients
		if k < hc.Conns%hc.Clients {
			n++
		}
		args := []string{"-hold-client", srv.addr, "-n", strconv.Itoa(n), "-src", holdSource(k),
			"-first", strconv.Itoa(k * (hc.Conns/hc.Clients + 1)), "-timeout", (hc.Timeout + time.Minute).String()}
		c, lines, err := spawn("hold-client", cpu, args)
		if err != nil {
			return r, err
		}
		clients = append(clients, c)
		readers.Go(func() {
			for l := range lines {
				select {
				case reports <- report{k, l}:
				default:
				}
			}
		})
	}

	var (
		t0       time.Time
		cpu0     time.Duration
		finished int // clients that said OPEN or FAIL
		errs     []string
		reached  int64
	)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for reached < int64(hc.Conns) {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case rp := <-reports:
			switch f := strings.SplitN(rp.line, " ", 3); f[0] {
			case "START":
				if t0.IsZero() {
					t0 = time.Now()
					cpu0, _ = srv.cpuTime()
				}
			case "OPEN":
				finished++
			case "FAIL":
				finished++
				errs = append(errs, fmt.Sprintf("client %d (%s): %s", rp.k, holdSource(rp.k), strings.Join(f[1:], " ")))
			}
		case <-tick.C:
			st, err := srv.stats(ctx, false)
			if err != nil {
				return r, err
			}
			reached = max(reached, st.Conns)
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Sprintf("timeout: %d of %d connections after %v", reached, hc.Conns, hc.Timeout))
			break
		}
		if finished == hc.Clients && len(errs) > 0 {
			// Every client is done and one failed: give the server a moment
			// to count what was opened, then stop waiting.
			time.Sleep(500 * time.Millisecond)
			if st, err := srv.stats(ctx, false); err == nil {
				reached = max(reached, st.Conns)
			}
			break
		}
	}
	t1 := time.Now()
	cpu1, _ := srv.cpuTime()
	var ccpu time.Duration // the clients did nothing before dialling but start
	for _, c := range clients {
		x, _ := processCPU(c.cmd.Process.Pid)
		ccpu += x
	}
	if t0.IsZero() {
		t0 = t1
	}
	r.Reached = int(reached)
	r.Error = strings.Join(errs, "; ")
	r.AcceptS = t1.Sub(t0).Seconds()
	r.AcceptPerSec = float64(reached) / r.AcceptS
	r.ServerUtil = float64(cpu1-cpu0) / float64(t1.Sub(t0))
	r.ClientUtil = float64(ccpu) / float64(t1.Sub(t0))
	if reached == 0 {
		return r, fmt.Errorf("no connection opened: %s", r.Error)
	}
	r.CPUPerAccept = float64(cpu1-cpu0) / float64(reached) / 1e3
	if hc.Settle > 0 {
		time.Sleep(hc.Settle)
	}
	after, err := srv.stats(ctx, true)
	if err != nil {
		return r, err
	}
	if r.RSSAfter, err = vmRSS(pid); err != nil {
		return r, err
	}
	n := float64(after.Conns) // what is open now, after the GC
	if n <= 0 {
		return r, fmt.Errorf("server counts %d connections after the wait", after.Conns)
	}
	if after.Conns != reached {
		r.Error = strings.TrimPrefix(r.Error+fmt.Sprintf("; %d connections open at the memory reading, %d reached", after.Conns, reached), "; ")
	}
	r.RSSPerConn = (float64(r.RSSAfter) - float64(r.RSSBefore)) / n
	r.MemPerConn = (after.memory() - base.memory()) / n
	r.HeapPerConn = (float64(after.HeapObjects) - float64(base.HeapObjects)) / n
	r.StackPerConn = (float64(after.Stacks) - float64(base.Stacks)) / n
	r.Goroutines = (float64(after.Goroutines) - float64(base.Goroutines)) / n
	r.RSS100k = float64(r.RSSBefore) + 100_000*r.RSSPerConn
	r.Mem100k = base.memory() + 100_000*r.MemPerConn
	return r, nil
}

// vmRSS returns the resident set size of process pid (VmRSS of
// /proc/PID/status) in bytes.
func vmRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseUint(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// writeTables prints the hold results and the routed/raw ratios.
func (rep *holdReport) writeTables(w io.Writer) {
	c := rep.Config
	fmt.Fprintf(w, "wsload -hold: %d idle connections per server over %d client processes (sources %s..%s); pinned: %v (server CPU %d, clients CPU %d)\n\n",
		c.Conns, c.Clients, holdSource(0), holdSource(c.Clients-1), rep.Pinned, c.ServerCPU, c.ClientCPU)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\treached\taccept s\tconn/s\tsrv cpu/conn µs\tsrv util\tcli util\tRSS before MB\tRSS after MB\tRSS/conn B\theap+stacks/conn B\theap/conn B\tstack/conn B\tgor/conn\tRSS @100k MB*\theap+stacks @100k MB*\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%d/%d\t%.2f\t%.0f\t%.1f\t%.2f\t%.2f\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%.0f\t%.0f\t\n",
			r.Mode, r.Reached, r.Target, r.AcceptS, r.AcceptPerSec, r.CPUPerAccept, r.ServerUtil, r.ClientUtil,
			float64(r.RSSBefore)/1e6, float64(r.RSSAfter)/1e6, r.RSSPerConn, r.MemPerConn, r.HeapPerConn, r.StackPerConn, r.Goroutines,
			r.RSS100k/1e6, r.Mem100k/1e6)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "* extrapolation: the baseline + 100,000 × the per-connection figure, not a measurement")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Mode, r.Error)
		}
	}
	if rep.Ratios != nil {
		fmt.Fprintf(w, "\nrouted/raw: RSS/conn %.2f, heap+stacks/conn %.2f, server CPU/conn accepted %.2f, accept rate %.2f\n",
			rep.Ratios["rss_per_conn"], rep.Ratios["heap_stacks_per_conn"], rep.Ratios["server_cpu_per_conn"], rep.Ratios["accept_per_sec"])
	}
}

// writeJSON prints the hold report as indented JSON.
func (rep *holdReport) writeJSON(w io.Writer) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintf(w, "{\"error\":%q}\n", err.Error())
	}
}

// isHoldClientInvocation reports whether args ask for a hold client.
func isHoldClientInvocation(args []string) bool {
	for _, a := range args {
		if a == "-hold-client" || a == "--hold-client" || strings.HasPrefix(a, "-hold-client=") || strings.HasPrefix(a, "--hold-client=") {
			return true
		}
	}
	return false
}

// holdClientMain is a hold client subprocess: wsload -hold-client ADDR -n N
// -src IP -first I -timeout D. It raises its RLIMIT_NOFILE, prints "START",
// opens N connections to ADDR's /echo from IP (tokens user-I, user-I+1,
// ...), each only answering pings, and prints "OPEN N", or "FAIL n error"
// after the first failed dial (keeping the n it opened). It closes them and
// exits at EOF of its stdin or after D (and dies with its parent: spawn sets
// a parent-death signal).
func holdClientMain(args []string) int {
	fs := flag.NewFlagSet("wsload -hold-client", flag.ContinueOnError)
	addr := fs.String("hold-client", "", "server address host:port (loopback)")
	n := fs.Int("n", 0, "connections to open")
	src := fs.String("src", "127.0.0.2", "loopback source address")
	first := fs.Int("first", 0, "number of the first connection's token")
	timeout := fs.Duration("timeout", 5*time.Minute, "exit after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	srcIP := net.ParseIP(*src)
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() || srcIP == nil || !srcIP.IsLoopback() || *n < 1 {
		fmt.Fprintf(os.Stderr, "wsload -hold-client: want a loopback -hold-client address, a loopback -src and -n ≥ 1\n")
		return 2
	}
	if err := raiseNoFile(); err != nil {
		fmt.Fprintln(os.Stderr, "wsload -hold-client: RLIMIT_NOFILE:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	go func() { // stdin EOF: the parent stopped us or died
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, a ...any) {
		fmt.Fprintf(out, format+"\n", a...)
		_ = out.Flush()
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: srcIP}, Timeout: 15 * time.Second, Control: bindNoPort}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext}}
	conns := make([]*websocket.Conn, *n)
	defer closeAll(conns)
	var (
		next     atomic.Int64
		opened   atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	say("START")
	for range min(16, *n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || ctx.Err() != nil {
					return
				}
				dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
				c, _, err := websocket.Dial(dctx, "ws://"+*addr+echoPath+"?token=user-"+strconv.Itoa(*first+i), &websocket.DialOptions{HTTPClient: hc})
				dcancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(*n)) // stop the others
					return
				}
				c.CloseRead(context.Background()) // answer pings, notice closes
				conns[i] = c
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	switch {
	case firstErr != nil:
		say("FAIL %d %v", opened.Load(), firstErr)
	case ctx.Err() != nil:
		say("FAIL %d %v", opened.Load(), ctx.Err())
	default:
		say("OPEN %d", opened.Load())
	}
	<-ctx.Done()
	return 0
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (include/uapi/linux/in.h).
const ipBindAddressNoPort = 24

// bindNoPort makes the kernel choose the source port at connect, for the
// whole 4-tuple, instead of at bind, where a port is free only if no socket
// of that address holds it: a second -hold run right after the first would
// otherwise crawl through the 19,000 ports per source the first left in
// TIME_WAIT.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
