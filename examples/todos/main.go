// Command todos is the wsroute demo: a shared todo list over WebSocket.
//
//	go run ./examples/todos -addr 127.0.0.1:8080
//
// Open http://127.0.0.1:8080/ in two tabs, log in as alice-token and
// bob-token, and watch each tab's changes appear in the other. The /todos
// channel logs in by message ("auth"); /admin needs a token in the opening
// request (?token= or Authorization: Bearer) and lets only alice in.
// /asyncapi.json is the AsyncAPI document of both; the page's script
// (web/main.ts, bundled into static/app.js) is written on the TypeScript
// client in client/ with types generated from that document.
//
// Two instances share todo events through Redis or NATS (each keeps its own
// list; only the created/completed events cross):
//
//	go run ./examples/todos -addr 127.0.0.1:8080 -broker redis
//	go run ./examples/todos -addr 127.0.0.1:8081 -broker redis
//
// -redis-addr and -nats-url default to the local servers
// (127.0.0.1:6379, nats://127.0.0.1:4222); -broker memory (the default)
// needs nothing.
//
// Observability (otelwsroute): -metrics serves OpenTelemetry metrics at
// /metrics in the Prometheus text format; -otlp http://127.0.0.1:4318/v1/traces
// sends a span per opening, message and delivery to an OTLP/HTTP collector,
// and the logs then carry trace_id and span_id.
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
	"github.com/wsroute/wsroute/brokers/natsbroker"
	"github.com/wsroute/wsroute/brokers/redisbroker"
)

// newBroker returns the broker named by -broker. Each instance keeps its own
// todo list; only the events ({"event":"created",...}) cross to the other
// instances' subscribers. Router.Shutdown detaches the broker.
func newBroker(name, redisAddr, natsURL string, logger *slog.Logger) (wsroute.Broker, error) {
	switch name {
	case "memory":
		return nil, nil // the Router's default
	case "redis":
		return redisbroker.New(redisbroker.Options{Addr: redisAddr, Prefix: "todos:", Logger: logger})
	case "nats":
		return natsbroker.New(natsbroker.Options{URL: natsURL, Prefix: "todos.", Logger: logger})
	}
	return nil, fmt.Errorf("unknown -broker %q: want memory, redis or nats", name)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	debug := flag.Bool("debug", false, "log at debug level")
	brokerName := flag.String("broker", "memory", "how todos events reach other instances: memory (this process only), redis or nats")
	redisAddr := flag.String("redis-addr", "127.0.0.1:6379", "Redis address for -broker redis")
	natsURL := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS URL for -broker nats")
	metrics := flag.Bool("metrics", false, "serve OpenTelemetry metrics at /metrics (Prometheus text format)")
	otlp := flag.String("otlp", "", "send traces to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318/v1/traces")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	tel, err := newTelemetry(context.Background(), *metrics, *otlp)
	if err != nil {
		slog.Error("todos: telemetry", "err", err)
		os.Exit(2)
	}
	logger := slog.New(tel.logHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	broker, err := newBroker(*brokerName, *redisAddr, *natsURL, logger)
	if err != nil {
		logger.Error("todos: broker", "err", err)
		os.Exit(2)
	}
	err = run(*addr, logger, broker, tel)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if terr := tel.close(ctx); terr != nil { // flush the last spans
		logger.Warn("todos: telemetry shutdown", "err", terr)
	}
	if err != nil {
		logger.Error("todos stopped", "err", err)
		os.Exit(1)
	}
}

// run serves the app on addr until SIGINT or SIGTERM, then shuts the HTTP
// server and the Router down together, within the Router's
// Options.ShutdownTimeout (10 s): running handlers and open requests finish,
// WebSockets get a 1001 close frame.
func run(addr string, logger *slog.Logger, broker wsroute.Broker, tel *telemetry) error {
	signalled, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Serve until a signal, logging the shutdown before it begins.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-signalled.Done():
			stop() // a second signal now kills the process the default way
			logger.Info("shutting down")
		case <-ctx.Done(): // run returned first
		}
		cancel()
	}()

	a, handler := newAppWith(logger, broker, tel)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger.Info("todos listening", "url", "http://"+ln.Addr().String()+"/")
	if err := wsroute.ServeListener(ctx, ln, srv, a.router); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
