package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/wsroute/wsroute/serverless"
	"github.com/wsroute/wsroute/serverless/apigw"
)

// -mode apigw-local serves the demo as it would run on AWS: one API Gateway
// WebSocket API per channel (stages "todos" and "admin", emulated in
// process by package apigw, on the same address as the page) invoking a
// Lambda handler (package serverless) per event, with the channels' state
// in a ChannelStore (Redis, or memory). The app is the same: same Router,
// routes, handlers and page. What differs is listed in the README's
// "Serverless" section; for the demo:
//
//   - the {"connected":true} push of OnConnect is not delivered (API Gateway
//     takes posts to a connection only once $connect has returned); the
//     page ignores it anyway;
//   - the admin channel's "stats" counts the channels the Router holds
//     during the event, not the gateway's connections;
//   - the todo list itself stays in this process's memory, as in -mode
//     server (a real deployment keeps it in a database: Lambda instances
//     share nothing).

// apigwStages are the stages of -mode apigw-local, one per channel route:
// API Gateway serves one URL per stage and sends no path, so the Lambda
// handler's default Path maps stage "todos" to the channel "/todos".
var apigwStages = []string{"todos", "admin"}

// apigwApp is the app behind the emulated API Gateway.
type apigwApp struct {
	*app
	emulators []*apigw.Emulator
}

// newAPIGWApp builds the app for -mode apigw-local on store and the
// http.Handler serving it: the page's paths as in -mode server, and for each
// stage S the emulator at /S (the WebSocket endpoint) and its Management API
// at /S/@connections/{id}. base is the URL the handler is served at
// ("http://127.0.0.1:8080"): the Lambda handler posts replies and pushes to
// base/S/@connections/{id}, SigV4-signed with credentials the emulator
// verifies.
func newAPIGWApp(logger *slog.Logger, tel *telemetry, store serverless.ChannelStore, base string) (*apigwApp, http.Handler, error) {
	creds, err := localCredentials()
	if err != nil {
		return nil, nil, err
	}
	posters := make(map[string]*apigw.ManagementClient, len(apigwStages))
	for _, stage := range apigwStages {
		p, err := apigw.NewManagementClient(apigw.ManagementOptions{
			Endpoint:    base + "/" + stage,
			Credentials: apigw.StaticCredentials(creds.AccessKeyID, creds.SecretAccessKey, ""),
		})
		if err != nil {
			return nil, nil, err
		}
		posters[stage] = p
	}
	// The topic's subscribers are all on /todos, so the Broker posts through
	// that stage's Management API.
	broker := serverless.NewBroker(store, posters["todos"])
	a := &apigwApp{app: buildApp(logger, broker, tel)}
	mux := a.pageMux(tel)
	for _, stage := range apigwStages {
		opts := serverless.Options{Router: a.router, Store: store, Poster: posters[stage], Logger: logger}
		if stage == "todos" {
			opts.Broker = broker // a publish finding a subscriber gone closes it
		}
		h, err := serverless.NewHandler(opts)
		if err != nil {
			return nil, nil, err
		}
		emu, err := apigw.NewEmulator(apigw.EmulatorOptions{
			Handler:     h.Handle,
			Stage:       stage,
			APIID:       "todos-local",
			Credentials: &creds,
			Logger:      logger,
		})
		if err != nil {
			return nil, nil, err
		}
		a.emulators = append(a.emulators, emu)
		mux.Handle("/"+stage, emu)     // the WebSocket endpoint
		mux.Handle("/"+stage+"/", emu) // the Management API
	}
	return a, mux, nil
}

// localCredentials are a fresh key pair for this process: the only one the
// emulators accept, and the one the Lambda handler signs with.
func localCredentials() (aws.Credentials, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{AccessKeyID: "AKIDTODOSLOCAL", SecretAccessKey: hex.EncodeToString(b[:]), Source: "todos -mode apigw-local"}, nil
}

// closeEmulators closes every connection (1001, as API Gateway's going
// away) and waits for their $disconnect invocations, which run the close
// lifecycles and delete the connections' records: call it before shutting
// the Router down and closing the store.
func (a *apigwApp) closeEmulators(ctx context.Context) error {
	var errs []error
	for _, emu := range a.emulators {
		errs = append(errs, emu.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// newChannelStore returns the store named by -store, and how to close it.
// A Redis store is checked once, so that a Redis that is down stops the
// demo at once rather than refusing every connection.
func newChannelStore(name, redisAddr, prefix string) (serverless.ChannelStore, func() error, error) {
	switch name {
	case "memory":
		return serverless.NewMemoryStore(), func() error { return nil }, nil
	case "redis":
		s, err := serverless.NewRedisStore(serverless.RedisStoreOptions{Addr: redisAddr, Prefix: prefix})
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := s.Subscribers(ctx, topicTodos); err != nil {
			_ = s.Close()
			return nil, nil, fmt.Errorf("redis at %s: %w", redisAddr, err)
		}
		return s, s.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown -store %q: want redis or memory", name)
}

// managementBase is the URL the Lambda handler reaches the emulators at:
// the listener's address, on loopback when it listens on every interface.
func managementBase(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// runAPIGW serves the app in -mode apigw-local on addr until SIGINT or
// SIGTERM, then closes the emulators' connections (their $disconnect
// runs), the HTTP server and the Router, within 10 s; the caller closes the
// store.
func runAPIGW(ctx context.Context, addr string, logger *slog.Logger, tel *telemetry, store serverless.ChannelStore) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	a, handler, err := newAPIGWApp(logger, tel, store, managementBase(ln.Addr()))
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("todos listening", "url", "http://"+ln.Addr().String()+"/", "mode", "apigw-local")

	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
		logger.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{a.closeEmulators(sctx)}
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, err)
	}
	if serveErr == nil {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	} else if !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	errs = append(errs, a.router.Shutdown(sctx))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
