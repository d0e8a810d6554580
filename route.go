package wsroute

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/wsroute/wsroute/internal/schema"
)

// ChannelConfig configures a channel route: what happens when a connection
// opens on its path, for each of its messages, and when it closes. The zero
// value is a channel that requires a session to open, routes on "action",
// correlates on "ref" and has no routes yet.
type ChannelConfig struct {
	// Name identifies the channel in logs and observers. Default: the pattern.
	// Names are unique within a Router.
	Name string
	// Summary and Description document the channel for tools built on
	// Router.Walk (an AsyncAPI document, say). Optional.
	Summary, Description string
	// RouteKey is the message field whose string value selects a route.
	// Default "action".
	RouteKey string
	// RefKey is the correlation field, echoed byte for byte in every reply and
	// error to that frame. Default "ref".
	RefKey string
	// TraceKey names a field in which clients may pass trace context with a
	// message, as an object of strings ({"traceparent":"00-…"}, the W3C
	// headers): the field is taken out of the input like the route key and
	// ref, and Message.TraceContext returns it for tracing adapters
	// (otelwsroute continues the client's trace). Default "": off, and the
	// field is input like any other.
	TraceKey string

	// Public lets a connection open without a session (for example a channel
	// that logs in by message). Default false: opening requires one (401).
	Public bool
	// Authenticator establishes the session while opening. Default
	// Options.Authenticator.
	Authenticator Authenticator
	// Permissions must allow the opening (403). Default: none.
	Permissions Permission
	// Middleware wraps the open lifecycle and every message of the channel,
	// inside the Router's middleware.
	Middleware []Middleware

	// OnConnect runs after the upgrade and before the first message is read:
	// nothing reaches a handler before it returns. An error closes the
	// channel with 1011, and OnDisconnect does not run: make the steps that
	// can fail (Subscribe, say) before any state change that OnDisconnect
	// would undo (a join announced to a room).
	OnConnect func(ctx context.Context, c *Channel) error
	// OnDisconnect runs exactly once for every channel whose OnConnect
	// returned nil, however the channel closed, after its last handler
	// returned and its subscriptions were dropped.
	OnDisconnect func(ctx context.Context, c *Channel, info CloseInfo)

	// Limits overrides Options.Limits for this channel: each non-zero
	// field, the rate limit's included, replaces the Router's.
	Limits Limits

	// Parallel is how many messages of one connection may be handled at
	// once. Default 1: in arrival order, replies in order. Above 1, replies
	// may come out of order and clients correlate them by ref.
	Parallel int
}

// RouteConfig configures one message route (or the default handler). The zero
// value is a route that requires a session and has no permissions, schema or
// middleware.
type RouteConfig struct {
	// Summary and Description document the route for tools built on
	// Router.Walk (an AsyncAPI document, say). Optional.
	Summary, Description string
	// Public lets messages through without a session (a log-in route).
	// Default false: a session is required (unauthenticated).
	Public bool
	// Permissions must allow the message (forbidden). They see the raw input.
	Permissions Permission
	// Schema validates the route's input (the message without the route key
	// and the ref) before it is decoded (invalid). Compiled at registration.
	Schema *Schema
	// Middleware wraps this route's messages, inside the channel's middleware.
	Middleware []Middleware
	// Cost is how many tokens of the channel's rate limit
	// (Limits.RateLimit) a message of this route spends. Default 1; make
	// expensive routes cost more. A Cost above the limit's Burst panics at
	// registration.
	Cost int
	// RateLimit, when its Rate is positive, gives the route a token bucket
	// of its own, per connection, besides the channel's: "say" at 1/s
	// while "history" stays free. Default: none.
	RateLimit RouteRateLimit
	// StrictFields refuses input keys that name no field of the handler's
	// input type (invalid, with a pointer to the key), as a schema with
	// "additionalProperties": false would. Default false: unknown keys are
	// ignored. Keys that name a field only when case is ignored are always
	// refused, on every typed route: {"TEXT":"x"} does not fill Text.
	StrictFields bool
}

// ChannelRoute is a channel registered on a Router with Router.Channel. Add its
// message routes with Handle and its default handler with HandleDefault, all
// before the Router serves its first request.
type ChannelRoute struct {
	router   *Router
	name     string
	pattern  string
	cfg      ChannelConfig
	limits   Limits            // the Router's, overridden by ChannelConfig.Limits; effective
	open     Handler           // middleware-wrapped open stages
	routes   map[string]*route // by route-key value
	order    []*route          // the routes in registration order
	fallback *route            // the default handler, or nil
	binary   *route            // the binary handler, or nil: binary frames close with 1008
	keys     []string          // the frame fields that are not input: route key, ref, trace key

	routeBuckets int // routes with a rate limit of their own
}

// route is one message route, ready to run.
type route struct {
	name  string          // "" for the default handler
	cost  int             // tokens of the channel's bucket per message
	limit *RouteRateLimit // the route's own rate limit, or nil
	slot  int             // with limit: index of the route's bucket in Channel.routeBuckets
	chain Handler
	info  RouteInfo // what the registry tells about it
}

// Name returns the channel's name.
func (cr *ChannelRoute) Name() string { return cr.name }

// Pattern returns the channel's path pattern.
func (cr *ChannelRoute) Pattern() string { return cr.pattern }

// Handle registers fn as the handler of messages whose route key is name. The
// message's input (the object without the route key and the ref) is
// validated against cfg's schema, if any, then decoded into an In; the Out fn
// returns is sent as the reply:
//
//   - an Out that encodes to a JSON object is merged with the route key and
//     ref: {"action":"create","ref":"7","todo":{...}};
//   - one that encodes to null (a nil pointer, for instance) sends an ack:
//     {"action":"create","ref":"7"};
//   - anything else is wrapped: {"action":"list","ref":"7","result":[...]}.
//
// Returning ErrNoReply sends nothing; returning an *Error sends it as an error
// frame; any other error sends CodeInternal and is logged.
//
// Handle panics, naming the route, if name is empty or taken, fn is nil, more
// than one cfg is given, the schema does not compile, or In, Out or the schema
// use the route key or ref as a property name.
func Handle[In, Out any](cr *ChannelRoute, name string, fn func(ctx context.Context, c *Channel, in In) (Out, error), cfg ...RouteConfig) {
	where := fmt.Sprintf("wsroute: channel %q route %q", cr.name, name)
	if name == "" {
		panic(where + ": empty route name")
	}
	if fn == nil {
		panic(where + ": nil handler")
	}
	if _, dup := cr.routes[name]; dup {
		panic(where + ": registered twice")
	}
	strict := len(cfg) == 1 && cfg[0].StrictFields
	in := inputPlanFor[In](where, cr.keys, strict)
	out := outputPlanFor[Out](where, cr.cfg.RouteKey, cr.cfg.RefKey)
	invoke := func(ctx context.Context, c *Channel, m *Message) error {
		var v In
		if err := decodeInput(&in, m, &v); err != nil {
			return err
		}
		res, err := fn(ctx, c, v)
		if err != nil {
			return err
		}
		return setTypedReply(m, &res, &out)
	}
	rt := cr.newRoute(where, name, invoke, cfg, reflect.TypeFor[In](), reflect.TypeFor[Out]())
	cr.routes[name] = rt
	cr.order = append(cr.order, rt)
}

// HandleDefault registers fn as the channel's default handler: it receives
// every frame that names no route, including text that is not JSON (see
// Message.IsJSON); Message.Route tells what the client asked for. It sends
// nothing back by itself (use Channel.Send); to reply with a value, use
// HandleDefaultReply. An error is sent as an error frame. Without a default
// handler such frames are answered with not_found (or bad_request for text
// that is not JSON).
//
// The default handler requires a session unless cfg says Public.
func HandleDefault(cr *ChannelRoute, fn func(ctx context.Context, c *Channel, m *Message) error, cfg ...RouteConfig) {
	where := fmt.Sprintf("wsroute: channel %q default handler", cr.name)
	if fn == nil {
		panic(where + ": nil handler")
	}
	cr.setDefault(where, func(ctx context.Context, c *Channel, m *Message) error { return fn(ctx, c, m) }, cfg, nil)
}

// HandleDefaultReply is HandleDefault for a handler that replies: its result
// is sent as it is (no route key or ref is added); a result that encodes to
// null sends nothing.
func HandleDefaultReply[Out any](cr *ChannelRoute, fn func(ctx context.Context, c *Channel, m *Message) (Out, error), cfg ...RouteConfig) {
	where := fmt.Sprintf("wsroute: channel %q default handler", cr.name)
	if fn == nil {
		panic(where + ": nil handler")
	}
	cr.setDefault(where, func(ctx context.Context, c *Channel, m *Message) error {
		res, err := fn(ctx, c, m)
		if err != nil {
			return err
		}
		return m.setRawReply(res)
	}, cfg, reflect.TypeFor[Out]())
}

func (cr *ChannelRoute) setDefault(where string, invoke HandlerFunc, cfg []RouteConfig, out reflect.Type) {
	if cr.fallback != nil {
		panic(where + ": registered twice")
	}
	cr.fallback = cr.newRoute(where, "", invoke, cfg, nil, out)
}

// HandleBinary opts the channel into binary frames: each is handed to fn
// (Message.Data holds the bytes) after the channel's middleware, auth (a
// session is required unless cfg says Public) and permissions — no schema
// applies. A non-nil result is sent back as a binary frame; errors are sent
// as JSON error frames. Without a binary handler a binary frame closes the
// channel with 1008.
func HandleBinary(cr *ChannelRoute, fn func(ctx context.Context, c *Channel, m *Message) ([]byte, error), cfg ...RouteConfig) {
	where := fmt.Sprintf("wsroute: channel %q binary handler", cr.name)
	if fn == nil {
		panic(where + ": nil handler")
	}
	if cr.binary != nil {
		panic(where + ": registered twice")
	}
	if len(cfg) == 1 && cfg[0].Schema != nil {
		panic(where + ": a schema cannot validate binary frames")
	}
	invoke := func(ctx context.Context, c *Channel, m *Message) error {
		res, err := fn(ctx, c, m)
		if err != nil {
			return err
		}
		m.reply = res
		return nil
	}
	cr.binary = cr.newRoute(where, "", invoke, cfg, nil, nil)
}

// newRoute builds a route's pipeline: middleware (router, channel, route)
// around auth → permissions → validation (the schema, then the input's keys
// against its Go type, see keyGuard) → invoke (decode, handler, reply), and
// records the route in the registry. in and out are the handler's Go input
// and output types, nil where it has none (the default and binary handlers
// take the Message).
func (cr *ChannelRoute) newRoute(where, name string, invoke HandlerFunc, cfgs []RouteConfig, in, out reflect.Type) *route {
	cr.router.mustNotServe(where)
	if len(cfgs) > 1 {
		panic(where + ": more than one RouteConfig")
	}
	var cfg RouteConfig
	if len(cfgs) == 1 {
		cfg = cfgs[0]
	}
	var sch *schema.Schema
	if cfg.Schema != nil {
		sch = cfg.Schema.mustCompile(where, cr.keys...)
	}
	if cfg.StrictFields && in == nil {
		panic(where + ": StrictFields needs a typed input (Handle)")
	}
	public, perm := cfg.Public, cfg.Permissions
	terminal := HandlerFunc(func(ctx context.Context, c *Channel, m *Message) error {
		if err := authStage(ctx, c, nil, public); err != nil {
			return err
		}
		if err := permissionStage(ctx, c, m, perm); err != nil {
			return err
		}
		if sch != nil {
			if err := validateStage(m, sch); err != nil {
				return err
			}
		}
		return invoke(ctx, c, m) // a typed route's key guard runs in decodeInput
	})
	if cfg.Cost < 0 {
		panic(where + ": negative Cost")
	}
	if rl := cr.limits.RateLimit; rl.Rate >= 0 && cfg.Cost > rl.Burst {
		panic(fmt.Sprintf("%s: Cost %d exceeds the rate limit's Burst %d, so no message could ever pass", where, cfg.Cost, rl.Burst))
	}
	rt := &route{
		name:  name,
		cost:  max(cfg.Cost, 1),
		chain: chain(terminal, cr.router.opts.Middleware, cr.cfg.Middleware, cfg.Middleware),
	}
	if rl := cfg.RateLimit; rl.Rate > 0 {
		if rl.Burst <= 0 {
			rl.Burst = max(1, int(rl.Rate))
		}
		rt.limit, rt.slot = &rl, cr.routeBuckets
		cr.routeBuckets++
	}
	rt.info = RouteInfo{
		Name: name, Summary: cfg.Summary, Description: cfg.Description,
		Public: public, Permissions: perm != nil, Cost: rt.cost, StrictFields: cfg.StrictFields,
		Schema: cfg.Schema, Input: in, Output: out,
	}
	if rt.limit != nil {
		rt.info.RateLimit = *rt.limit
	}
	return rt
}

// newChannelRoute fills cfg's defaults and builds the open pipeline.
func newChannelRoute(r *Router, pattern string, cfg ChannelConfig) *ChannelRoute {
	if cfg.Name == "" {
		cfg.Name = pattern
	}
	if cfg.RouteKey == "" {
		cfg.RouteKey = "action"
	}
	if cfg.RefKey == "" {
		cfg.RefKey = "ref"
	}
	if cfg.RouteKey == cfg.RefKey {
		panic(fmt.Sprintf("wsroute: channel %q: RouteKey and RefKey are both %q", cfg.Name, cfg.RouteKey))
	}
	keys := []string{cfg.RouteKey, cfg.RefKey}
	if cfg.TraceKey != "" {
		if cfg.TraceKey == cfg.RouteKey || cfg.TraceKey == cfg.RefKey {
			panic(fmt.Sprintf("wsroute: channel %q: TraceKey %q is also the route key or ref", cfg.Name, cfg.TraceKey))
		}
		keys = append(keys, cfg.TraceKey)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.Authenticator == nil {
		cfg.Authenticator = r.opts.Authenticator
	}
	cfg.Middleware = append([]Middleware(nil), cfg.Middleware...)
	checkAuthenticator(cfg.Name, cfg.Authenticator)
	cr := &ChannelRoute{
		limits:  cfg.Limits.over(r.limits).effective(),
		router:  r,
		name:    cfg.Name,
		pattern: pattern,
		cfg:     cfg,
		keys:    keys,
		routes:  make(map[string]*route),
	}
	auth, public, perm := cfg.Authenticator, cfg.Public, cfg.Permissions
	cr.open = chain(HandlerFunc(func(ctx context.Context, c *Channel, m *Message) error {
		c.openValues = ctx // what middleware put in the context, kept for the channel's life
		if err := authStage(ctx, c, auth, public); err != nil {
			return err
		}
		return permissionStage(ctx, c, m, perm)
	}), r.opts.Middleware, cfg.Middleware)
	return cr
}

// checkPattern refuses what a channel pattern may not contain.
func checkPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty pattern")
	}
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		return fmt.Errorf("pattern %q has a method or space; channel patterns are [HOST]/PATH (the method is always GET)", pattern)
	}
	if !strings.Contains(pattern, "/") {
		return fmt.Errorf("pattern %q has no path", pattern)
	}
	return nil
}
