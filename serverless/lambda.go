package serverless

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/serverless/apigw"
)

// Poster sends to and closes the gateway's connections: API Gateway's
// Management API (package apigw's ManagementClient, SigV4-signed, works
// against AWS and against the local emulator).
type Poster interface {
	// Post sends data to connection id as one message. An error wrapping
	// ErrGone means the connection no longer exists.
	Post(ctx context.Context, id string, data []byte) error
	// Delete closes connection id; the gateway then reports $disconnect.
	Delete(ctx context.Context, id string) error
}

// ErrGone is what a Poster's error wraps when the connection is gone (the
// Management API's 410): apigw.ErrGone.
var ErrGone = apigw.ErrGone

// Options configure a Handler.
type Options struct {
	// Router is the application's Router, with its channel routes
	// registered. Its Broker must be the one NewBroker returns for the same
	// Store and Poster, so that a publish reaches the subscribers of every
	// function instance. Required.
	Router *wsroute.Router
	// Store keeps the connections between events. Required.
	Store ChannelStore
	// Poster sends replies and pushes. Required.
	Poster Poster
	// Broker is the Router's Broker, from NewBroker: given here, a publish
	// that finds a subscriber's connection gone runs its close lifecycle
	// (through the first Handler it was given to; Handlers of one Router
	// and Store are interchangeable for that).
	Broker *Broker
	// Path returns the URL (path and query) of the channel a connection
	// opens, from its $connect event: API Gateway serves one endpoint per
	// stage and sends no path. Default: "/" + the stage, with the
	// connection's query string (a stage "todos" serves "/todos?...").
	Path func(ev events.APIGatewayWebsocketProxyRequest) string
	// TTL bounds how long a connection's record outlives its last event
	// when its $disconnect never comes. Default 2h10m: API Gateway closes
	// a connection after 2 hours, and after 10 idle minutes.
	TTL time.Duration
	// Logger receives what cannot be told to a client. Default: none.
	Logger *slog.Logger
}

// Handler is the function API Gateway invokes for every event of a
// WebSocket API: $connect runs the open lifecycle, $disconnect the close
// lifecycle, every other route key (usually $default) the message
// lifecycle, with the channel's state read from and written back to the
// Store. Use it as the Lambda handler: lambda.Start(h.Handle).
type Handler struct {
	opts Options
}

// NewHandler returns a Handler, checking opts.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Router == nil || opts.Store == nil || opts.Poster == nil {
		return nil, errors.New("serverless: Options.Router, Store and Poster are required")
	}
	if opts.Path == nil {
		opts.Path = defaultPath
	}
	if opts.TTL <= 0 {
		opts.TTL = 2*time.Hour + 10*time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts}
	if opts.Broker != nil && opts.Broker.onGone == nil {
		opts.Broker.onGone = func(ctx context.Context, id string) {
			h.gone(ctx, id, wsroute.CloseInfo{Code: -1, Reason: wsroute.ReasonConnectionLost})
		}
	}
	return h, nil
}

// defaultPath is "/" + stage + "?" + the query of the $connect event.
func defaultPath(ev events.APIGatewayWebsocketProxyRequest) string {
	p := "/" + strings.Trim(ev.RequestContext.Stage, "/")
	if q := query(ev); len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

func query(ev events.APIGatewayWebsocketProxyRequest) url.Values {
	q := url.Values{}
	for k, vs := range ev.MultiValueQueryStringParameters {
		q[k] = append([]string(nil), vs...)
	}
	for k, v := range ev.QueryStringParameters {
		if _, ok := q[k]; !ok {
			q.Set(k, v)
		}
	}
	return q
}

// Handle handles one API Gateway WebSocket event.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	id := ev.RequestContext.ConnectionID
	if id == "" {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}, errors.New("serverless: event without a connection id")
	}
	switch ev.RequestContext.EventType {
	case "CONNECT":
		return h.connect(ev, id), nil
	case "DISCONNECT":
		info := wsroute.CloseInfo{Code: wsroute.StatusCode(ev.RequestContext.DisconnectStatusCode)}
		if r := ev.RequestContext.DisconnectReason; r != nil {
			info.Reason = *r
		}
		if info.Code == 0 {
			info.Code = -1
		}
		if info.Reason == "" {
			info.Reason = wsroute.ReasonConnectionLost
		}
		h.gone(ctx, id, info)
		return ok(), nil
	default:
		return h.message(ctx, ev, id), nil
	}
}

func ok() events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
}

// connect runs the open lifecycle; a refusal's status is the $connect
// response, so API Gateway refuses the upgrade with it.
func (h *Handler) connect(ev events.APIGatewayWebsocketProxyRequest, id string) events.APIGatewayProxyResponse {
	req, err := http.NewRequest(http.MethodGet, h.opts.Path(ev), nil)
	if err != nil {
		h.opts.Logger.Error("serverless: $connect: bad path", "err", err)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}
	}
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, v := range ev.Headers {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	req.RemoteAddr = ev.RequestContext.Identity.SourceIP
	res := h.opts.Router.OpenDetached(req, id)
	if res.Status != 0 {
		body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": res.Error.Code, "message": res.Error.Message}})
		return events.APIGatewayProxyResponse{StatusCode: res.Status, Body: string(body),
			Headers: map[string]string{"Content-Type": "application/json"}}
	}
	if res.Close != nil { // OnConnect failed: refuse, nothing is stored
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}
	}
	if len(res.Frames) > 0 {
		// API Gateway accepts posts to a connection only once $connect has
		// returned: pushes made in OnConnect cannot be delivered.
		h.opts.Logger.Warn("serverless: frames sent in OnConnect are not delivered (API Gateway takes posts only after $connect)",
			"channel", res.State.Channel, "id", id, "frames", len(res.Frames))
	}
	if err := h.opts.Store.Put(context.Background(), res.State, h.opts.TTL); err != nil {
		h.opts.Logger.Error("serverless: $connect: store", "id", id, "err", err)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusServiceUnavailable}
	}
	return ok()
}

// message runs the message lifecycle for one frame and sends its frames.
func (h *Handler) message(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest, id string) events.APIGatewayProxyResponse {
	st, found, err := h.opts.Store.Get(ctx, id)
	if err != nil {
		h.opts.Logger.Error("serverless: message: store", "id", id, "err", err)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusServiceUnavailable}
	}
	if !found { // its record expired or it was closed: close it
		_ = h.opts.Poster.Delete(ctx, id)
		return ok()
	}
	data, binary := []byte(ev.Body), false
	if ev.IsBase64Encoded {
		if data, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}
		}
		binary = true
	}
	res, err := h.opts.Router.HandleDetached(ctx, cloneState(st), data, binary)
	if err != nil {
		h.opts.Logger.Error("serverless: message", "id", id, "err", err)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}
	}
	// Write back only if the connection still exists (a $disconnect that ran
	// meanwhile must not be undone), and without undoing what another
	// message of the connection stored meanwhile (see save).
	if err := h.save(ctx, st, res.State); errors.Is(err, errGone) {
		return ok()
	} else if err != nil {
		h.opts.Logger.Error("serverless: message: store", "id", id, "err", err)
	}
	for _, f := range res.Frames {
		if err := h.opts.Poster.Post(ctx, id, f.Data); err != nil {
			if errors.Is(err, ErrGone) {
				h.gone(ctx, id, wsroute.CloseInfo{Code: -1, Reason: wsroute.ReasonConnectionLost})
				return ok()
			}
			h.opts.Logger.Error("serverless: post", "id", id, "err", err)
		}
	}
	if res.Close != nil { // the gateway reports $disconnect, which runs the close lifecycle
		if err := h.opts.Poster.Delete(ctx, id); err != nil && !errors.Is(err, ErrGone) {
			h.opts.Logger.Error("serverless: close", "id", id, "err", err)
		}
	}
	return ok()
}

// gone runs the close lifecycle of connection id once: whoever deletes its
// record (a $disconnect, a post answered 410) runs it, and the store's
// Delete gives the record to one caller only.
func (h *Handler) gone(ctx context.Context, id string, info wsroute.CloseInfo) {
	st, found, err := h.opts.Store.Delete(ctx, id)
	if err != nil {
		h.opts.Logger.Error("serverless: close: store", "id", id, "err", err)
		return
	}
	if !found {
		return
	}
	if _, err := h.opts.Router.CloseDetached(ctx, st, info); err != nil {
		h.opts.Logger.Error("serverless: close", "id", id, "err", err)
	}
}

// Broker carries the publishes of a serverless deployment: it sends each
// event to the subscribers the Store knows, whichever function instance
// subscribed them. Install it as the Router's Broker.
//
// It posts through one Poster, so it serves the connections of one API
// (one Management API endpoint): connection ids of another API would be
// answered 410 and closed. A Router serving several APIs publishes only to
// topics whose subscribers are on the Broker's API (the todos demo: events
// on /todos, none on /admin), or each API gets a Router of its own.
type Broker struct {
	store  ChannelStore
	poster Poster
	log    *slog.Logger
	onGone func(ctx context.Context, id string)
}

// NewBroker returns the Broker of a deployment using store and poster.
func NewBroker(store ChannelStore, poster Poster) *Broker {
	return &Broker{store: store, poster: poster, log: slog.New(slog.DiscardHandler)}
}

var _ wsroute.Broker = (*Broker)(nil)

// Attach implements wsroute.Broker; a serverless Router receives nothing.
func (b *Broker) Attach(string, func(wsroute.Envelope)) {}

// Subscribe implements wsroute.Broker: detached channels' subscriptions are
// in the Store, so the Router's hub never asks.
func (b *Broker) Subscribe(context.Context, string, string) error { return nil }

// Unsubscribe implements wsroute.Broker.
func (b *Broker) Unsubscribe(context.Context, string, string) error { return nil }

// Detach implements wsroute.Broker.
func (b *Broker) Detach(string) error { return nil }

// Publish implements wsroute.Broker: it posts the event frame to every
// subscriber of e.Topic but e.Exclude. A subscriber whose connection is
// gone is closed (its close lifecycle runs once, through the Handler the
// Broker is attached to).
func (b *Broker) Publish(ctx context.Context, e wsroute.Envelope) error {
	ids, err := b.store.Subscribers(ctx, e.Topic)
	if err != nil {
		return fmt.Errorf("serverless: publish %q: %w: %w", e.Topic, wsroute.ErrBrokerUnavailable, err)
	}
	sort.Strings(ids)
	frame := wsroute.EventFrame(e.Topic, e.Data)
	var errs []error
	for _, id := range ids {
		if id == e.Exclude {
			continue
		}
		if err := b.poster.Post(ctx, id, frame); err != nil {
			if errors.Is(err, ErrGone) {
				if b.onGone != nil {
					b.onGone(ctx, id)
				}
				continue
			}
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("serverless: publish %q: %w", e.Topic, errors.Join(errs...))
	}
	return nil
}
