// Command testserver is the wsroute application the TypeScript client's
// tests run against: see newRouter in app.go for its channels, routes and
// topics.
//
//	go run ./client/testserver -addr 127.0.0.1:0
//
// It prints exactly one line, "listening http://ADDR", on stdout when it
// accepts connections, and shuts down cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsroute/wsroute"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	ttl := flag.Duration("token-ttl", 0, "session lifetime of the demo tokens alice-token and bob-token (0: forever)")
	verbose := flag.Bool("v", false, "log the Router's debug output to stderr")
	flag.Parse()
	if err := run(*addr, *ttl, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}

func run(addr string, ttl time.Duration, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := Config{TokenTTL: ttl}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := loopbackOnly(addr); err != nil {
		return err
	}
	r := newRouter(cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(r), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening http://%s\n", ln.Addr())
	return wsroute.ServeListener(ctx, ln, srv, r)
}

// loopbackOnly refuses listen addresses off this machine: the test server
// hands out tokens to anyone who asks.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %s: listen on a loopback address (127.0.0.1, [::1], localhost)", addr)
	}
	return nil
}
