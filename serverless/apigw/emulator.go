package apigw

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/coder/websocket"
)

// Handler is a Lambda function's handler for API Gateway WebSocket events,
// the shape the Emulator invokes (and lambda.Start accepts).
type Handler func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// API Gateway's WebSocket quotas, the Emulator's defaults.
const (
	DefaultMaxMessage         = 128 << 10 // message payload size
	DefaultMaxFrame           = 32 << 10  // WebSocket frame size
	DefaultIdleTimeout        = 10 * time.Minute
	DefaultMaxDuration        = 2 * time.Hour
	DefaultIntegrationTimeout = 29 * time.Second
)

// EmulatorOptions configures an Emulator. Zero values take API Gateway's
// defaults.
type EmulatorOptions struct {
	// Handler is invoked for every event. Required.
	Handler Handler
	// RouteSelection is the API's route selection expression. Default
	// "$request.body.action"; only $request.body.<path> is supported.
	RouteSelection string
	// RouteKeys are the custom routes configured on the API (besides
	// $connect, $disconnect and $default). A message whose selected value
	// names none of them goes to $default.
	RouteKeys []string
	// Stage is the stage name: clients connect to /{stage}, the Management
	// API is at /{stage}/@connections/{id}. Default "local".
	Stage string
	// APIID fills requestContext.apiId. Default "local".
	APIID string
	// Region is the SigV4 scope the Management API accepts. Default us-east-1.
	Region string
	// DomainName fills requestContext.domainName. Default: the Host of the
	// connecting request (with its port, unlike AWS, so that
	// http://{domainName}/{stage} is the emulator's Management endpoint).
	DomainName string
	// IdleTimeout closes a connection (1001 "Going away") when no message
	// went either way for this long. Default 10 minutes; negative disables.
	IdleTimeout time.Duration
	// MaxDuration closes a connection (1001 "Going away") this long after
	// it opened. Default 2 hours; negative disables.
	MaxDuration time.Duration
	// IntegrationTimeout is the deadline of each invocation's context; an
	// invocation that returns after it counts as failed. Default 29 s.
	IntegrationTimeout time.Duration
	// MaxMessage is the largest message in either direction: a larger client
	// message closes the connection with 1009, a larger POST is refused with
	// 413. Default 128 KiB.
	MaxMessage int
	// MaxFrame is the largest frame: a client frame over it closes the
	// connection with 1009; posted messages are sent in frames of at most
	// this size. Default 32 KiB.
	MaxFrame int
	// TwoWay sends the body of a MESSAGE invocation's response to the client,
	// as API Gateway does when the route has a route response. Off by
	// default: like a route without one, the body is dropped.
	TwoWay bool
	// AllowBinary passes binary frames to the handler (body base64,
	// isBase64Encoded true) instead of closing with 1003 as API Gateway
	// does. A non-AWS extension, off by default.
	AllowBinary bool
	// Credentials, when set, are the only ones the Management API accepts:
	// every request's SigV4 signature is verified with them. When nil a
	// request only needs an "Authorization: AWS4-HMAC-SHA256 …" header.
	Credentials *aws.Credentials
	// Logger receives the emulator's log. Default: discard.
	Logger *slog.Logger
}

// Emulator imitates an API Gateway WebSocket API stage with a Lambda proxy
// integration on every route: WebSocket clients connect to /{stage}, each
// connect, message and disconnect becomes an
// events.APIGatewayWebsocketProxyRequest given to the Handler in process, and
// the Management API (POST/GET/DELETE /{stage}/@connections/{id}) is served
// on the same port. It is an http.Handler; the package documentation lists
// what it imitates and what not.
//
// Invocations for one connection run one at a time, in the order of the
// events; connections run in parallel.
type Emulator struct {
	opts  EmulatorOptions
	route *routeSelector
	log   *slog.Logger

	base   context.Context // parent of the invocations' contexts
	cancel context.CancelFunc

	mu      sync.Mutex
	conns   map[string]*conn // open: $connect returned 2xx and the upgrade completed
	closing bool
	wg      sync.WaitGroup // connects in progress, connections, closes
}

// NewEmulator checks the options and returns an Emulator.
func NewEmulator(o EmulatorOptions) (*Emulator, error) {
	if o.Handler == nil {
		return nil, errors.New("apigw: EmulatorOptions.Handler is required")
	}
	if o.RouteSelection == "" {
		o.RouteSelection = "$request.body.action"
	}
	rs, err := newRouteSelector(o.RouteSelection, o.RouteKeys)
	if err != nil {
		return nil, err
	}
	if o.Stage == "" {
		o.Stage = "local"
	}
	if strings.ContainsAny(o.Stage, "/@") {
		return nil, fmt.Errorf("apigw: stage %q: no / or @", o.Stage)
	}
	if o.APIID == "" {
		o.APIID = "local"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	if o.IntegrationTimeout <= 0 {
		o.IntegrationTimeout = DefaultIntegrationTimeout
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Emulator{opts: o, route: rs, log: log, base: base, cancel: cancel, conns: make(map[string]*conn)}, nil
}

// ServeHTTP serves WebSocket upgrades at /{stage} and the Management API at
// /{stage}/@connections/{id} (also at /@connections/{id}, as behind a custom
// domain); anything else is 404.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	stage := "/" + e.opts.Stage
	if rest, ok := strings.CutPrefix(p, stage); ok && strings.HasPrefix(rest, "/@connections/") {
		p = rest
	}
	if id, ok := strings.CutPrefix(p, "/@connections/"); ok {
		if id == "" || strings.Contains(id, "/") {
			writeAWSError(w, http.StatusNotFound, "NotFoundException", "Not Found")
			return
		}
		e.serveManagement(w, r, id)
		return
	}
	if p == stage || p == stage+"/" {
		e.serveConnect(w, r)
		return
	}
	writeAWSError(w, http.StatusNotFound, "NotFoundException", "Not Found")
}

// enter counts a connection in unless the emulator is shutting down.
func (e *Emulator) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.wg.Add(1)
	return true
}

// serveConnect runs $connect before the upgrade and then, in this goroutine,
// reads the connection until it ends.
func (e *Emulator) serveConnect(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		writeAWSError(w, http.StatusUpgradeRequired, "UpgradeRequired", "Upgrade Required")
		return
	}
	if !e.enter() {
		writeAWSError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service Unavailable")
		return
	}
	defer e.wg.Done()

	c := e.newConn(r)
	ev := c.event(RouteConnect, "CONNECT")
	ev.Headers, ev.MultiValueHeaders = connectHeaders(r)
	ev.QueryStringParameters, ev.MultiValueQueryStringParameters = connectQuery(r)

	ctx, cancel := context.WithTimeout(r.Context(), e.opts.IntegrationTimeout)
	stop := context.AfterFunc(e.base, cancel)
	resp, err := e.invoke(ctx, ev)
	stop()
	cancel()
	if err != nil {
		e.log.Error("apigw: $connect failed", "connectionId", c.id, "err", err)
		status, msg := http.StatusInternalServerError, "Internal server error"
		if errors.Is(err, errIntegrationTimeout) {
			status, msg = http.StatusGatewayTimeout, "Endpoint request timed out"
		}
		writeAWSError(w, status, "", msg)
		return
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e.log.Info("apigw: $connect refused", "connectionId", c.id, "status", resp.StatusCode)
		writeIntegrationResponse(w, resp)
		return
	}

	opts := &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled}
	if sp := responseHeader(resp, "Sec-WebSocket-Protocol"); sp != "" {
		opts.Subprotocols = []string{sp}
	}

	// Registered before the upgrade: the client may post through the
	// Management API as soon as it sees the 101; calls wait for c.ready.
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		writeAWSError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service Unavailable")
		c.setClose(websocket.StatusGoingAway, "Going away")
		close(c.ready)
		c.disconnect() // $connect said yes, so $disconnect follows
		return
	}
	e.conns[c.id] = c
	e.wg.Add(1) // the worker
	e.mu.Unlock()

	ws, err := websocket.Accept(frameWatch{w, c.frames}, r, opts)
	if err != nil {
		e.log.Info("apigw: upgrade failed after $connect", "connectionId", c.id, "err", err)
		e.forget(c)
		close(c.ready)
		c.setClose(websocket.StatusAbnormalClosure, "")
		c.disconnect()
		e.wg.Done()
		return
	}
	ws.SetReadLimit(-1) // readMessage enforces MaxMessage, with API Gateway's close
	c.ws = ws
	close(c.ready)

	c.startTimers()
	go func() {
		defer e.wg.Done()
		c.work()
	}()
	c.readLoop()
}

// newConn describes the connecting client; the conn is not usable yet.
func (e *Emulator) newConn(r *http.Request) *conn {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	domain := e.opts.DomainName
	if domain == "" {
		domain = r.Host
	}
	c := &conn{
		e:           e,
		id:          newID(),
		domain:      domain,
		sourceIP:    host,
		userAgent:   r.UserAgent(),
		connectedAt: time.Now(),
		frames:      &frameScanner{max: uint64(e.opts.MaxFrame)},
		queue:       make(chan inbound, 64),
		ready:       make(chan struct{}),
	}
	c.lastActive.Store(c.connectedAt.UnixNano())
	return c
}

// lookup returns an open connection.
func (e *Emulator) lookup(id string) *conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns[id]
}

// forget removes a connection from the Management API's view.
func (e *Emulator) forget(c *conn) {
	e.mu.Lock()
	if e.conns[c.id] == c {
		delete(e.conns, c.id)
	}
	e.mu.Unlock()
}

// Len returns the number of open connections.
func (e *Emulator) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

// Shutdown refuses new connections (503), closes every open connection with
// 1001 "Going away", lets the queued events and the $disconnect invocations
// run, and returns when every goroutine the emulator started has ended. When
// ctx ends first it cancels the invocations' contexts, drops the remaining
// sockets and returns ctx.Err() without waiting for handlers that ignore
// their context. The http.Server serving the emulator does not see the
// hijacked WebSocket connections: call Shutdown before the server's.
func (e *Emulator) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	open := make([]*conn, 0, len(e.conns))
	for _, c := range e.conns {
		open = append(open, c)
	}
	e.mu.Unlock()
	for _, c := range open {
		c.closeAsync(websocket.StatusGoingAway, "Going away")
	}
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		e.cancel()
		return nil
	case <-ctx.Done():
		e.cancel()
		for _, c := range open {
			if ws := c.socket(); ws != nil {
				_ = ws.CloseNow()
			}
		}
		return ctx.Err()
	}
}

// Close is Shutdown with a one-second grace period.
func (e *Emulator) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return e.Shutdown(ctx)
}

var errIntegrationTimeout = errors.New("apigw: integration timed out")

// invoke calls the handler under recover; returning after the context's
// deadline counts as a timeout, as API Gateway stops waiting then.
func (e *Emulator) invoke(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("apigw: handler panicked on %s: %v", ev.RequestContext.RouteKey, p)
		}
	}()
	resp, err = e.opts.Handler(ctx, ev)
	if err == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = errIntegrationTimeout
	}
	return resp, err
}

// newID returns an id shaped like API Gateway's connection and request ids:
// 16 characters of URL-safe base64 ending in "=", e.g. "L0SM9cOFvHcCIhw=".
func newID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

// connectHeaders are the upgrade request's headers as API Gateway passes
// them: the last value in headers, all in multiValueHeaders, plus Host and the
// X-Forwarded-* headers its front end adds.
func connectHeaders(r *http.Request) (map[string]string, map[string][]string) {
	one := make(map[string]string, len(r.Header)+4)
	multi := make(map[string][]string, len(r.Header)+4)
	for k, v := range r.Header {
		if len(v) == 0 {
			continue
		}
		one[k] = v[len(v)-1]
		multi[k] = append([]string(nil), v...)
	}
	add := func(k, v string) {
		one[k] = v
		multi[k] = []string{v}
	}
	add("Host", r.Host)
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if prev := r.Header.Get("X-Forwarded-For"); prev != "" {
		ip = prev + ", " + ip
	}
	add("X-Forwarded-For", ip)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(la.String()); err == nil {
			add("X-Forwarded-Port", port)
		}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	add("X-Forwarded-Proto", proto)
	return one, multi
}

// connectQuery is the query string as API Gateway passes it: nil maps when
// there is none.
func connectQuery(r *http.Request) (map[string]string, map[string][]string) {
	q := r.URL.Query()
	if len(q) == 0 {
		return nil, nil
	}
	one := make(map[string]string, len(q))
	for k, v := range q {
		one[k] = v[len(v)-1]
	}
	return one, q
}

func responseHeader(resp events.APIGatewayProxyResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// writeIntegrationResponse answers a refused $connect with the handler's
// status, headers and body.
func writeIntegrationResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	for k, v := range resp.MultiValueHeaders {
		for _, x := range v {
			w.Header().Add(k, x)
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	status := resp.StatusCode
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeAWSError writes API Gateway's JSON error body; typ, when set, goes in
// x-amzn-ErrorType as the AWS SDKs expect.
func writeAWSError(w http.ResponseWriter, status int, typ, msg string) {
	if typ != "" {
		w.Header().Set("X-Amzn-Errortype", typ)
	}
	w.Header().Set("X-Amzn-Requestid", newID())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "{\"message\":%s}", jsonString(msg))
}
