package wsroute

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve runs srv (srv.ListenAndServe) until ctx ends — a signal, say — and
// then shuts it down gracefully: the http.Server and the Router together,
// within one deadline of Options.ShutdownTimeout. It is the wiring that
// http.Server.Shutdown alone lacks, since it does not see upgraded
// connections:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: r}
//	if err := wsroute.Serve(ctx, srv, r); err != nil {
//		log.Fatal(err)
//	}
//
// srv.Handler need not be r itself (a mux that routes to r works). Serve
// returns nil after a clean shutdown; the error Serve met otherwise (the
// listener's, or the shutdowns' joined).
func Serve(ctx context.Context, srv *http.Server, r *Router) error {
	return r.serve(ctx, srv, srv.ListenAndServe)
}

// ServeListener is Serve on a listener of the caller's (srv.Serve(ln)).
func ServeListener(ctx context.Context, ln net.Listener, srv *http.Server, r *Router) error {
	return r.serve(ctx, srv, func() error { return srv.Serve(ln) })
}

func (r *Router) serve(ctx context.Context, srv *http.Server, run func() error) error {
	served := make(chan error, 1)
	go func() { served <- run() }()
	select {
	case err := <-served:
		return err // the server failed before any shutdown was asked for
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.shutdownTimeout)
	defer cancel()
	routerDone := make(chan error, 1)
	go func() { routerDone <- r.Shutdown(sctx) }()
	err := errors.Join(srv.Shutdown(sctx), <-routerDone)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// defaultShutdownTimeout is Options.ShutdownTimeout's default.
const defaultShutdownTimeout = 10 * time.Second
