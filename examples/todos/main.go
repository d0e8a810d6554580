// Command todos is the wsroute demo: a shared todo list over WebSocket.
//
//	go run ./examples/todos -addr 127.0.0.1:8080
//
// Open http://127.0.0.1:8080/ in two tabs, log in as alice-token and
// bob-token, and watch each tab's changes appear in the other. The /todos
// channel logs in by message ("auth"); /admin needs a token in the opening
// request (?token= or Authorization: Bearer) and lets only alice in.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownGrace bounds how long running handlers and open requests may take
// to finish once a shutdown signal arrives.
const shutdownGrace = 10 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	debug := flag.Bool("debug", false, "log at debug level")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*addr, logger); err != nil {
		logger.Error("todos stopped", "err", err)
		os.Exit(1)
	}
}

// run serves the app on addr until SIGINT or SIGTERM, then shuts down.
func run(addr string, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, handler := newApp(logger)
	srv := &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// http.Server.Shutdown closes listeners and idle connections and waits
	// for active requests, but upgraded WebSockets were hijacked from the
	// server: it no longer tracks them, so it would neither close them nor
	// wait for them. Router.Shutdown does that (close frame 1001, running
	// handlers finish), and RegisterOnShutdown starts it when srv.Shutdown
	// begins. The hook runs in its own goroutine that srv.Shutdown does not
	// wait for, so routerDone tells run when it has finished.
	routerDone := make(chan error, 1)
	srv.RegisterOnShutdown(func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		routerDone <- a.router.Shutdown(sctx)
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger.Info("todos listening", "url", "http://"+ln.Addr().String()+"/")
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return err // Serve failed before any shutdown was asked for
	case <-ctx.Done():
	}
	stop() // a second signal now kills the process the default way
	logger.Info("shutting down")

	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	httpErr := srv.Shutdown(sctx)
	routerErr := <-routerDone
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		httpErr = errors.Join(httpErr, err)
	}
	if err := errors.Join(httpErr, routerErr); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
