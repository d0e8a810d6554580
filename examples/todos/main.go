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
// Serverless (-mode apigw-local): the same app, routes and page as it would
// run behind AWS API Gateway WebSocket APIs with a Lambda function per
// event, emulated in process on the same -addr (package
// github.com/wsroute/wsroute/serverless and its apigw emulator). The
// channels' state lives in Redis (-store redis, the default, under
// -redis-prefix) or in memory (-store memory, needing nothing):
//
//	go run ./examples/todos -mode apigw-local                 # Redis at -redis-addr
//	go run ./examples/todos -mode apigw-local -store memory
//
// Each channel is a stage: ws://{addr}/todos and ws://{addr}/admin, with
// their Management APIs at /todos/@connections/{id} and
// /admin/@connections/{id} (SigV4-verified against a key pair made at
// start). The page works unchanged; OnConnect's {"connected":true} push is
// not delivered there (API Gateway takes posts only after $connect). -broker
// does not apply: the store's topic index carries the events.
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
	mode := flag.String("mode", "server", "server (a long-lived server holding the sockets) or apigw-local (serverless: the API Gateway emulator invoking a Lambda handler per event)")
	storeName := flag.String("store", "redis", "with -mode apigw-local, where the channels' state lives: redis (at -redis-addr) or memory")
	redisPrefix := flag.String("redis-prefix", "todos-sl:", "with -mode apigw-local -store redis, the prefix of the store's keys")
	flag.Parse()
	brokerSet := false
	flag.Visit(func(f *flag.Flag) { brokerSet = brokerSet || f.Name == "broker" })
	if *mode != "server" && *mode != "apigw-local" {
		fmt.Fprintf(os.Stderr, "todos: unknown -mode %q: want server or apigw-local\n", *mode)
		os.Exit(2)
	}
	if *mode == "apigw-local" && brokerSet {
		fmt.Fprintln(os.Stderr, "todos: -broker does not apply to -mode apigw-local (the store carries the events)")
		os.Exit(2)
	}

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
	if *mode == "apigw-local" {
		err = runServerless(*addr, logger, tel, *storeName, *redisAddr, *redisPrefix)
	} else {
		var broker wsroute.Broker
		broker, err = newBroker(*brokerName, *redisAddr, *natsURL, logger)
		if err != nil {
			logger.Error("todos: broker", "err", err)
			os.Exit(2)
		}
		err = run(*addr, logger, broker, tel)
	}
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

// runServerless is run for -mode apigw-local: it opens the store, serves
// until SIGINT or SIGTERM (runAPIGW), and closes the store last, once the
// connections' $disconnect invocations have deleted their records.
func runServerless(addr string, logger *slog.Logger, tel *telemetry, storeName, redisAddr, prefix string) error {
	store, closeStore, err := newChannelStore(storeName, redisAddr, prefix)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal now kills the process the default way
	defer stop()
	err = runAPIGW(ctx, addr, logger, tel, store)
	if cerr := closeStore(); cerr != nil {
		logger.Warn("todos: closing the store", "err", cerr)
	}
	return err
}
