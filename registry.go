package wsroute

import (
	"reflect"
	"strings"
)

// The route registry: everything registered on a Router, kept as data that
// tools walk — documentation, an AsyncAPI document, typed clients, span
// names — instead of a second registration that could drift from the
// routes the server really runs.

// ChannelInfo describes a channel route as registered (see Router.Walk).
type ChannelInfo struct {
	Name        string   // ChannelConfig.Name (the pattern when none was given)
	Pattern     string   // the path pattern, as given to Router.Channel
	Params      []string // its path parameters in order: "/rooms/{room}" → ["room"]
	Summary     string   // ChannelConfig.Summary
	Description string   // ChannelConfig.Description
	RouteKey    string   // the message field that names the route ("action")
	RefKey      string   // the correlation field ("ref")
	TraceKey    string   // the trace context field; "" when off

	// Public: the channel opens without a session.
	Public bool
	// Permissions: the opening is checked by permissions.
	Permissions bool
	// Authenticator establishes the session while opening (the channel's,
	// else the Router's); nil if none. A tool can tell, for instance, that
	// a TokenAuth reads a query parameter.
	Authenticator Authenticator

	Routes  []RouteInfo // the routes registered with Handle, in registration order
	Default *RouteInfo  // the default handler's, or nil
	Binary  *RouteInfo  // the binary handler's, or nil
}

// RouteInfo describes a message route as registered.
type RouteInfo struct {
	Name        string // the route key's value; "" for the default and binary handlers
	Summary     string // RouteConfig.Summary
	Description string // RouteConfig.Description

	// Public: messages pass without a session.
	Public bool
	// Permissions: messages are checked by permissions.
	Permissions bool
	// Cost is the tokens of the channel's rate limit a message spends.
	Cost int
	// RateLimit is the route's own limit; zero when it has none.
	RateLimit RouteRateLimit
	// StrictFields: unknown input keys are refused.
	StrictFields bool
	// Schema is the route's JSON Schema, nil without one; Schema.Source
	// returns its document.
	Schema *Schema

	// Input is the Go type the input is decoded into (Handle's In); nil for
	// the default and binary handlers, which take the Message.
	Input reflect.Type
	// Output is the Go type of the reply (Handle's Out, HandleDefaultReply's
	// Out); nil when the handler returns none of its own.
	Output reflect.Type
}

// Walk calls fn for every channel route of r, in registration order, and
// stops at the first error fn returns, which it returns. The ChannelInfo
// values are copies: fn may keep them.
func (r *Router) Walk(fn func(ChannelInfo) error) error {
	r.regMu.Lock()
	chans := append([]*ChannelRoute(nil), r.chans...)
	r.regMu.Unlock()
	for _, cr := range chans {
		if err := fn(cr.info()); err != nil {
			return err
		}
	}
	return nil
}

// info describes cr.
func (cr *ChannelRoute) info() ChannelInfo {
	cfg := &cr.cfg
	ci := ChannelInfo{
		Name: cr.name, Pattern: cr.pattern, Params: patternParams(cr.pattern),
		Summary: cfg.Summary, Description: cfg.Description,
		RouteKey: cfg.RouteKey, RefKey: cfg.RefKey, TraceKey: cfg.TraceKey,
		Public: cfg.Public, Permissions: cfg.Permissions != nil, Authenticator: cfg.Authenticator,
	}
	for _, rt := range cr.order {
		ci.Routes = append(ci.Routes, rt.info)
	}
	if cr.fallback != nil {
		info := cr.fallback.info
		ci.Default = &info
	}
	if cr.binary != nil {
		info := cr.binary.info
		ci.Binary = &info
	}
	return ci
}

// patternParams returns the names of the wildcards of a ServeMux pattern
// ("{room}", "{path...}"), in order; "{$}" is an anchor, not a parameter.
func patternParams(pattern string) []string {
	var params []string
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return params
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return params
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		if name != "$" && name != "" {
			params = append(params, name)
		}
		rest = rest[i+j+1:]
	}
}
