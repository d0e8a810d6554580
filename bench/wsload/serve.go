//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

// echoPath is where every server mode serves its WebSocket channel (the
// fan-out modes' subscriber channel too).
const echoPath = "/echo"

// serveMain is the server subprocess: wsload -serve MODE -listen ADDR
// [-cpuprofile FILE] [-memprofile FILE]. It prints "ADDR host:port" on
// stdout, serves its channel at /echo, its stats at /_stats and, in the
// fan-out modes, its publisher at POST /publish on the same listener, raises
// its RLIMIT_NOFILE to the hard limit, and exits when its stdin reaches EOF (its parent stopped or
// died) or on SIGINT/SIGTERM.
func serveMain(args []string) int {
	fs := flag.NewFlagSet("wsload -serve", flag.ContinueOnError)
	mode := fs.String("serve", "", "server mode: raw, routed, routed-schema, hand, validated, fanout-raw or fanout-routed")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server's whole life to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at every /_stats?gc=1")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var (
		echo    http.Handler
		conns   func() int64
		publish func(context.Context, fanEvent) int
	)
	switch *mode {
	case "raw":
		echo, conns = newRawServer()
	case "hand":
		echo, conns = newHandServer()
	case "routed", "routed-schema", "validated":
		echo, conns = newRoutedServer(*mode)
	case "fanout-raw":
		echo, publish, conns = newRawFanServer()
	case "fanout-routed":
		echo, publish, conns = newRoutedFanServer()
	default:
		fmt.Fprintf(os.Stderr, "wsload -serve: unknown mode %q\n", *mode)
		return 2
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "wsload -serve: listen address %q must be a loopback IP\n", *listen)
		return 2
	}
	if err := raiseNoFile(); err != nil {
		fmt.Fprintln(os.Stderr, "wsload -serve: RLIMIT_NOFILE:", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload -serve:", err)
		return 1
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "wsload -serve: cpuprofile:", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}

	mux := http.NewServeMux()
	mux.Handle(echoPath, echo)
	mux.Handle("GET /_stats", statsHandler(conns, *memProfile))
	if publish != nil {
		mux.Handle("POST /publish", publishHandler(publish))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "ADDR %s\n", ln.Addr())
	_ = w.Flush()

	stdinEOF := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinEOF)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-stdinEOF:
	case <-sig:
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "wsload -serve:", err)
			return 1
		}
	}
	_ = ln.Close() // upgraded connections die with the process
	return 0
}

// raiseNoFile raises this process's soft RLIMIT_NOFILE to its hard limit,
// for the thousands of connections of the idle and hold phases.
func raiseNoFile() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur >= rl.Max {
		return nil
	}
	rl.Cur = rl.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// statsHandler answers GET /_stats with serverStats as JSON; ?gc=1 runs a
// garbage collection first (and writes the heap profile, if asked for).
func statsHandler(conns func() int64, memProfile string) http.Handler {
	var mu sync.Mutex // one GC and profile at a time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
			runtime.GC() // finalizers of the first may free more
			if memProfile != "" {
				if f, err := os.Create(memProfile); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					_ = f.Close()
				}
			}
		}
		st := readRuntimeStats()
		st.Conns = conns()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
}
