// Command chat is a wsroute demo: chat rooms over WebSocket.
//
//	go run ./examples/chat -addr 127.0.0.1:8081
//
// Open http://127.0.0.1:8081/ in a few tabs and enter a room as alice-token,
// bob-token or carol-token. The first user to open a room owns it and may
// kick others from it (from that room only); carol's token expires 30
// seconds after she opens a room, which closes her channel with 4401 and
// tells the room she left.
//
// The channel is /rooms/{room}, opened with a token (?token= or
// Authorization: Bearer). Client → server:
//
//	{"action":"say","ref":1,"text":"hi"}     → {"action":"say","ref":1,"message":{"seq":1,"user":"alice","text":"hi"}}
//	{"action":"history","limit":10}          → {"action":"history","messages":[{"seq":1,...},...]}
//	{"action":"kick","user":"bob"}           → {"action":"kick","kicked":"bob"}
//
// "say" is limited to one a second (three at once); beyond that it answers
// rate_limited with retryAfterMs. "history" returns up to the room's last
// 50 messages (all of them without a limit); "kick" is the owner's alone
// (forbidden for anyone else, saying who the owner is). Server → client:
//
//	{"welcome":{"room":"lobby","user":"bob","owner":"alice","members":["alice","bob"]}}
//	{"topic":"room:lobby","data":{"event":"joined","user":"bob"}}
//	{"topic":"room:lobby","data":{"event":"message","message":{"seq":1,"user":"bob","text":"hi"}}}
//	{"topic":"room:lobby","data":{"event":"left","user":"bob"}}
//
// A kicked channel is closed with 1008 "kicked by <owner>"; SIGINT or
// SIGTERM closes every channel with 1001 (no "left" is announced then).
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsroute/wsroute"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	debug := flag.Bool("debug", false, "log at debug level")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second signal kills the process the default way
	if err := run(ctx, *addr, logger); err != nil {
		logger.Error("chat stopped", "err", err)
		os.Exit(1)
	}
}

// run serves the app on addr until ctx ends, then shuts the server and the
// Router down gracefully, within Options.ShutdownTimeout (10 s).
func run(ctx context.Context, addr string, logger *slog.Logger) error {
	a, handler := newApp(logger, nil)
	srv := &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("chat serving", "url", "http://"+addr+"/")
	// Serve until ctx ends, logging the shutdown before it begins.
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			logger.Info("shutting down")
		case <-serveCtx.Done(): // run returned first
		}
		cancel()
	}()
	if err := wsroute.Serve(serveCtx, srv, a.router); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
