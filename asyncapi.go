package wsroute

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/wsroute/wsroute/internal/jsonreflect"
	"github.com/wsroute/wsroute/internal/ojson"
)

// AsyncAPIInfo is the part of an AsyncAPI document the registry cannot know.
type AsyncAPIInfo struct {
	Title       string // required
	Version     string // required: the version of your API, not of wsroute
	Description string
	// Servers are where the API is served; optional.
	Servers []AsyncAPIServer
}

// AsyncAPIServer is one entry of the document's "servers".
type AsyncAPIServer struct {
	Name        string // its key; required
	Host        string // "api.example.com" or "127.0.0.1:8080"; required
	Protocol    string // "ws" (the default) or "wss"
	Description string
}

// AsyncAPI returns the AsyncAPI 3.0 document (JSON) of everything
// registered on r, built from Router.Walk and Router.WalkTopics:
//
//   - one channel per channel route: its address is the pattern, its
//     parameters the pattern's; the token query parameter and the bearer
//     header are described (ws bindings) when its authenticator is a
//     TokenAuth;
//   - per route, a "receive" operation with the request message (the
//     route's JSON Schema when it has one, else the schema of its Go input
//     type, with the route key as a const and the correlation field added)
//     and a reply: the handler's output merged with the route key and ref,
//     or under "result", or the bare ack, and the error frame with its
//     codes;
//   - the default and binary handlers likewise;
//   - per declared topic (NewTopic), a "send" operation with the event
//     envelope {"topic","data"} on the channels of TopicConfig.Channels
//     (every channel when empty).
//
// Schemas of Go types follow encoding/json's rules and are shared in
// components.schemas. Vendor extensions "x-wsroute" carry what AsyncAPI has
// no field for (the route key, the policies), for generators such as the
// TypeScript client's. See the README, "From routes to a typed client".
func AsyncAPI(r *Router, info AsyncAPIInfo) ([]byte, error) {
	if info.Title == "" || info.Version == "" {
		return nil, errors.New("wsroute: AsyncAPI: Info.Title and Info.Version are required")
	}
	d := &asyncDoc{defs: &ojson.Object{}, channels: &ojson.Object{}, operations: &ojson.Object{}}
	d.refl = jsonreflect.New("#/components/schemas/", d.defs)
	d.defs.Set("wsroute.Ref", ojson.New("type", []any{"string", "number"},
		"description", "Correlation id: echoed byte for byte in the reply and in errors."))
	d.defs.Set("wsroute.Error", errorSchema())
	if err := r.WalkTopics(func(t TopicInfo) error { d.topics = append(d.topics, t); return nil }); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	if err := r.Walk(func(ci ChannelInfo) error { names[ci.Name] = true; return d.channel(ci) }); err != nil {
		return nil, err
	}
	for _, t := range d.topics {
		for _, name := range t.Channels {
			if !names[name] {
				return nil, fmt.Errorf("wsroute: AsyncAPI: topic %q names channel %q, which is not registered", t.Pattern, name)
			}
		}
	}

	infoObj := ojson.New("title", info.Title, "version", info.Version)
	if info.Description != "" {
		infoObj.Set("description", info.Description)
	}
	doc := ojson.New("asyncapi", "3.0.0", "info", infoObj)
	if len(info.Servers) > 0 {
		servers := &ojson.Object{}
		for _, s := range info.Servers {
			if s.Name == "" || s.Host == "" {
				return nil, errors.New("wsroute: AsyncAPI: a server needs a Name and a Host")
			}
			if _, dup := servers.Get(s.Name); dup {
				return nil, fmt.Errorf("wsroute: AsyncAPI: server %q named twice", s.Name)
			}
			proto := s.Protocol
			if proto == "" {
				proto = "ws"
			}
			so := ojson.New("host", s.Host, "protocol", proto)
			if s.Description != "" {
				so.Set("description", s.Description)
			}
			servers.Set(s.Name, so)
		}
		doc.Set("servers", servers)
	}
	doc.Set("defaultContentType", "application/json")
	doc.Set("channels", d.channels)
	doc.Set("operations", d.operations)
	doc.Set("components", ojson.New("schemas", d.defs))
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("wsroute: AsyncAPI: %w", err)
	}
	return append(b, '\n'), nil
}

// AsyncAPIHandler serves r's AsyncAPI document (see AsyncAPI) as JSON, built
// on each request so it always shows what is registered.
func AsyncAPIHandler(r *Router, info AsyncAPIInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeHTTPError(w, http.StatusMethodNotAllowed, NewError(CodeBadRequest, "use GET"))
			return
		}
		doc, err := AsyncAPI(r, info)
		if err != nil {
			r.log.ErrorContext(req.Context(), "wsroute: AsyncAPI document", "err", err)
			writeHTTPError(w, http.StatusInternalServerError, NewError(CodeInternal, "the AsyncAPI document could not be built"))
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(doc)
	})
}

// asyncDoc builds one document.
type asyncDoc struct {
	defs       *ojson.Object // components.schemas
	refl       *jsonreflect.Reflector
	channels   *ojson.Object
	operations *ojson.Object
	topics     []TopicInfo
}

// The codes an error frame may carry, besides the application's own.
var frameworkCodes = []any{
	CodeBadRequest, CodeNotFound, CodeUnauthenticated, CodeForbidden,
	CodeInvalid, CodeRateLimited, CodeUnavailable, CodeInternal,
}

func errorSchema() *ojson.Object {
	detail := ojson.New("type", "object", "properties", ojson.New(
		"pointer", ojson.New("type", "string", "description", "An escaped JSON pointer into the input; \"\" is the input itself."),
		"message", ojson.New("type", "string"),
	), "required", []any{"pointer", "message"})
	return ojson.New(
		"type", "object",
		"properties", ojson.New(
			"code", ojson.New("type", "string",
				"description", "bad_request, not_found, unauthenticated, forbidden, invalid (with details), rate_limited, unavailable, internal, or a code of the application.",
				"examples", frameworkCodes),
			"message", ojson.New("type", "string"),
			"details", ojson.New("type", "array", "items", detail,
				"description", "For invalid: one entry per failed check."),
		),
		"required", []any{"code", "message"},
	)
}

var unsafeKey = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// key makes s a component key (^[A-Za-z0-9._-]+$) not yet used in o.
func key(o *ojson.Object, s string) string {
	k := strings.Trim(unsafeKey.ReplaceAllString(s, "_"), "_")
	if k == "" {
		k = "root"
	}
	for i, base := 2, k; ; i++ {
		if _, taken := o.Get(k); !taken {
			return k
		}
		k = fmt.Sprintf("%s_%d", base, i)
	}
}

// ptr escapes a JSON pointer token.
func ptr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func ref(to string) *ojson.Object { return ojson.New("$ref", to) }

// address turns a channel pattern into an AsyncAPI address: the path, its
// wildcards as {name} ("{path...}" → "{path}"), the "{$}" anchor dropped.
func address(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // a host prefix is the server's business
	}
	pattern = strings.ReplaceAll(pattern, "{$}", "")
	return strings.ReplaceAll(pattern, "...}", "}")
}

func setText(o *ojson.Object, summary, description string) {
	if summary != "" {
		o.Set("summary", summary)
	}
	if description != "" {
		o.Set("description", description)
	}
}

// channelDoc is what the operations of one channel need.
type channelDoc struct {
	ci       ChannelInfo
	key      string // in channels
	messages *ojson.Object
}

func (c *channelDoc) chanRef() *ojson.Object { return ref("#/channels/" + c.key) }
func (c *channelDoc) msgRef(k string) *ojson.Object {
	return ref("#/channels/" + c.key + "/messages/" + k)
}

// message adds a message to the channel and returns its key.
func (c *channelDoc) message(name, title, summary string, payload any, correlated bool) string {
	k := key(c.messages, name)
	m := ojson.New("name", k)
	if title != "" {
		m.Set("title", title)
	}
	if summary != "" {
		m.Set("summary", summary)
	}
	m.Set("payload", payload)
	if correlated {
		m.Set("correlationId", ojson.New("location", "$message.payload#/"+ptr(c.ci.RefKey)))
	}
	c.messages.Set(k, m)
	return k
}

func (d *asyncDoc) channel(ci ChannelInfo) error {
	c := &channelDoc{ci: ci, key: key(d.channels, strings.TrimPrefix(ci.Name, "/")), messages: &ojson.Object{}}
	ch := ojson.New("address", address(ci.Pattern), "title", ci.Name)
	setText(ch, ci.Summary, ci.Description)
	d.channels.Set(c.key, ch) // reserve the key; filled below
	ch.Set("messages", c.messages)
	if len(ci.Params) > 0 {
		params := &ojson.Object{}
		for _, p := range ci.Params {
			params.Set(p, ojson.New("description", "The path segment {"+p+"} of "+ci.Pattern+"."))
		}
		ch.Set("parameters", params)
	}
	if b := wsBindings(ci); b != nil {
		ch.Set("bindings", ojson.New("ws", b))
	}
	x := ojson.New("routeKey", ci.RouteKey, "refKey", ci.RefKey)
	if ci.TraceKey != "" {
		x.Set("traceKey", ci.TraceKey)
	}
	x.Set("public", ci.Public)
	x.Set("permissions", ci.Permissions)
	ch.Set("x-wsroute", x)

	errKey := c.message("error", "error", "An error frame: the message was refused; the connection stays open.",
		ojson.New("type", "object", "properties", ojson.New(
			ci.RouteKey, ojson.New("type", "string", "description", "The request's route, when it named one."),
			ci.RefKey, refSchema(),
			"error", ref("#/components/schemas/wsroute.Error"),
		), "required", []any{"error"}), true)

	for _, ri := range ci.Routes {
		if err := d.route(c, ri, errKey); err != nil {
			return fmt.Errorf("wsroute: AsyncAPI: channel %q, route %q: %w", ci.Name, ri.Name, err)
		}
	}
	if ci.Default != nil {
		if err := d.fallback(c, *ci.Default, errKey); err != nil {
			return fmt.Errorf("wsroute: AsyncAPI: channel %q, default handler: %w", ci.Name, err)
		}
	}
	if ci.Binary != nil {
		d.binary(c, *ci.Binary, errKey)
	}
	for _, t := range d.topics {
		if len(t.Channels) > 0 && !slices.Contains(t.Channels, ci.Name) {
			continue
		}
		if err := d.topic(c, t); err != nil {
			return fmt.Errorf("wsroute: AsyncAPI: channel %q, topic %q: %w", ci.Name, t.Pattern, err)
		}
	}
	return nil
}

// wsBindings describes how a TokenAuth reads a token from the opening
// request: the query parameter and the bearer header.
func wsBindings(ci ChannelInfo) *ojson.Object {
	var ta TokenAuth
	switch a := ci.Authenticator.(type) {
	case TokenAuth:
		ta = a
	case *TokenAuth:
		if a == nil {
			return nil
		}
		ta = *a
	default:
		return nil
	}
	b := ojson.New("headers", ojson.New("type", "object", "properties", ojson.New(
		"Authorization", ojson.New("type", "string", "pattern", "^Bearer ", "description", "A token, read first."),
	)))
	if q := ta.QueryParam; q != "-" {
		if q == "" {
			q = "token"
		}
		b.Set("query", ojson.New("type", "object", "properties", ojson.New(
			q, ojson.New("type", "string", "description", "A token, when there is no Authorization header."),
		)))
	}
	b.Set("bindingVersion", "0.1.0")
	return b
}

func refSchema() *ojson.Object { return ref("#/components/schemas/wsroute.Ref") }

// envelope returns the properties a reply of route name carries.
func (c *channelDoc) envelope(name string) *ojson.Object {
	return ojson.New(
		c.ci.RouteKey, ojson.New("type", "string", "const", name),
		c.ci.RefKey, refSchema(),
	)
}

// requestEnvelope is envelope plus the trace context field of a channel
// with a TraceKey.
func (c *channelDoc) requestEnvelope(name string) *ojson.Object {
	env := c.envelope(name)
	if k := c.ci.TraceKey; k != "" {
		env.Set(k, ojson.New("type", "object", "additionalProperties", ojson.New("type", "string"),
			"description", "Trace context (W3C traceparent, tracestate) the message continues; not input."))
	}
	return env
}

// merge puts the route key and ref into the object schema s, in front of
// its properties, and makes the route key required (with required when s
// is the output of a non-nil value). A schema that is not a plain object
// schema is kept under allOf.
func (c *channelDoc) merge(name string, s any, required bool, env *ojson.Object) *ojson.Object {
	o, ok := s.(*ojson.Object)
	plain := ok
	for _, k := range []string{"$ref", "allOf", "anyOf", "oneOf", "not", "if"} {
		if _, has := o.Get(k); has {
			plain = false
		}
	}
	if t, has := o.Get("type"); plain && has && t != "object" {
		plain = false
	}
	if !plain {
		out := ojson.New("type", "object", "properties", env, "required", []any{c.ci.RouteKey})
		if b, isBool := s.(bool); !isBool || !b {
			out.Set("allOf", []any{s})
		}
		return out
	}
	o = ojson.Clone(o).(*ojson.Object)
	if p, ok := o.Get("properties"); ok {
		if po, ok := p.(*ojson.Object); ok {
			env.Members = append(env.Members, po.Members...)
		}
	}
	req := []any{c.ci.RouteKey}
	if r, ok := o.Get("required"); ok && required {
		if ra, ok := r.([]any); ok {
			req = append(req, ra...)
		}
	}
	merged := ojson.New("type", "object")
	for _, m := range o.Members {
		switch m.Key {
		case "type", "properties", "required", "$schema", "$id":
		default:
			merged.Set(m.Key, m.Value)
		}
	}
	merged.Set("properties", env)
	merged.Set("required", req)
	return merged
}

// request is the payload of a route's request message.
func (d *asyncDoc) request(c *channelDoc, ri RouteInfo, opKey string) (any, error) {
	if ri.Schema != nil {
		src, err := ri.Schema.Source()
		if err != nil {
			return nil, err
		}
		s, err := ojson.Decode(src)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		if s, ok := d.lift(s, opKey); ok {
			return c.merge(ri.Name, s, true, c.requestEnvelope(ri.Name)), nil
		}
		// A $ref out of the document: describe the Go type instead.
	}
	s, _, err := d.refl.Expand(ri.Input)
	if err != nil {
		return nil, err
	}
	m := c.merge(ri.Name, s, true, c.requestEnvelope(ri.Name))
	if ri.StrictFields && ri.Input.Kind() == reflect.Struct {
		m.Set("additionalProperties", false)
	}
	return m, nil
}

// lift makes a route's schema document a part of the AsyncAPI document:
// $schema and $id go, $defs/definitions move to components.schemas under
// prefix, and every local $ref follows them; a $ref to the root itself
// refers to a copy of the schema in components.schemas. It reports false
// for a $ref it cannot follow (another document).
func (d *asyncDoc) lift(s any, prefix string) (any, bool) {
	root, ok := s.(*ojson.Object)
	if !ok {
		return s, true // true or false
	}
	root = ojson.Clone(root).(*ojson.Object)
	root.Delete("$schema")
	root.Delete("$id")
	moved := map[string]string{} // "#/$defs/x" → "#/components/schemas/<k>"
	var lifted []*ojson.Member
	for _, defsKey := range []string{"$defs", "definitions"} {
		v, ok := root.Get(defsKey)
		if !ok {
			continue
		}
		root.Delete(defsKey)
		defs, ok := v.(*ojson.Object)
		if !ok {
			return nil, false
		}
		for _, m := range defs.Members {
			k := key(d.defs, prefix+"."+m.Key)
			d.defs.Set(k, m.Value)
			moved["#/"+defsKey+"/"+ptr(m.Key)] = "#/components/schemas/" + k
			lifted = append(lifted, &ojson.Member{Key: k, Value: m.Value})
		}
	}
	rootKey := ""
	good := true
	rewrite := func(o *ojson.Object) {
		v, ok := o.Get("$ref")
		if !ok {
			return
		}
		r, _ := v.(string)
		switch {
		case r == "#" || strings.HasPrefix(r, "#/") && !hasMovedPrefix(moved, r):
			if rootKey == "" {
				rootKey = key(d.defs, prefix+".input")
				d.defs.Set(rootKey, root)
			}
			o.Set("$ref", "#/components/schemas/"+rootKey+strings.TrimPrefix(r, "#"))
		case strings.HasPrefix(r, "#/"):
			for from, to := range moved {
				if r == from || strings.HasPrefix(r, from+"/") {
					o.Set("$ref", to+strings.TrimPrefix(r, from))
					break
				}
			}
		default:
			good = false
		}
	}
	ojson.Walk(root, rewrite)
	for _, m := range lifted {
		ojson.Walk(m.Value, rewrite)
	}
	if !good {
		for _, m := range lifted {
			d.defs.Delete(m.Key)
		}
		if rootKey != "" {
			d.defs.Delete(rootKey)
		}
		return nil, false
	}
	return root, true
}

func hasMovedPrefix(moved map[string]string, r string) bool {
	for from := range moved {
		if r == from || strings.HasPrefix(r, from+"/") {
			return true
		}
	}
	return false
}

// reply is the payload of a route's reply (DESIGN, "Reply to a routed
// message"), or nil when the route has no output of its own.
func (d *asyncDoc) reply(c *channelDoc, ri RouteInfo) (any, error) {
	if ri.Output == nil {
		return nil, nil
	}
	s, null, err := d.refl.Expand(ri.Output)
	if err != nil {
		return nil, err
	}
	t := ri.Output
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	o, _ := s.(*ojson.Object)
	typ, _ := o.Get("type")
	switch {
	case typ == "object":
		// An object: its members merged with the route key and ref. A nil
		// pointer is the bare ack, so nothing of it is required then.
		return c.merge(ri.Name, s, !null, c.envelope(ri.Name)), nil
	case typ == nil && (t.Kind() == reflect.Interface || o.Len() <= 1):
		// Any value (an interface, json.RawMessage, a MarshalJSON): an
		// object is merged, anything else comes under "result".
		env := c.envelope(ri.Name)
		env.Set("result", ojson.New("description", "The output when it is not an object."))
		return ojson.New("type", "object", "properties", env, "required", []any{c.ci.RouteKey},
			"description", "The handler's output: an object merged with the route key and ref, anything else under result, null as the bare ack."), nil
	default:
		// Arrays, strings, numbers, bools under "result"; a nil slice or
		// pointer encodes to null, which is the bare ack.
		env := c.envelope(ri.Name)
		env.Set("result", s)
		req := []any{c.ci.RouteKey}
		if !null && t.Kind() != reflect.Slice {
			req = append(req, "result")
		}
		return ojson.New("type", "object", "properties", env, "required", req), nil
	}
}

// operation adds a receive operation with its request and replies.
func (d *asyncDoc) operation(c *channelDoc, name, title string, ri RouteInfo, reqKey, replyKey, errKey string, ext *ojson.Object) {
	op := ojson.New("action", "receive", "channel", c.chanRef(), "title", title)
	setText(op, ri.Summary, ri.Description)
	op.Set("messages", []any{c.msgRef(reqKey)})
	replies := []any{}
	if replyKey != "" {
		replies = append(replies, c.msgRef(replyKey))
	}
	replies = append(replies, c.msgRef(errKey))
	op.Set("reply", ojson.New("channel", c.chanRef(), "messages", replies))
	ext.Set("public", ri.Public)
	ext.Set("permissions", ri.Permissions)
	ext.Set("cost", ri.Cost)
	if ri.RateLimit.Rate > 0 {
		ext.Set("rateLimit", ojson.New("rate", ri.RateLimit.Rate, "burst", ri.RateLimit.Burst))
	}
	op.Set("x-wsroute", ext)
	d.operations.Set(key(d.operations, c.key+"."+name), op)
}

func (d *asyncDoc) route(c *channelDoc, ri RouteInfo, errKey string) error {
	opKey := c.key + "." + ri.Name
	req, err := d.request(c, ri, opKey)
	if err != nil {
		return err
	}
	reqKey := c.message(ri.Name+".request", ri.Name, ri.Summary, req, true)
	rep, err := d.reply(c, ri)
	if err != nil {
		return err
	}
	replyKey := ""
	if rep != nil {
		replyKey = c.message(ri.Name+".reply", ri.Name+" reply", "", rep, true)
	}
	ext := ojson.New("route", ri.Name, "strictFields", ri.StrictFields)
	d.operation(c, ri.Name, ri.Name, ri, reqKey, replyKey, errKey, ext)
	return nil
}

// fallback describes the default handler: any frame no route takes; its
// reply is its output as it is.
func (d *asyncDoc) fallback(c *channelDoc, ri RouteInfo, errKey string) error {
	reqKey := c.message("default.request", "default", ri.Summary,
		ojson.New("description", "Any frame that names no route, JSON or not: the default handler gets it whole."), false)
	replyKey := ""
	if ri.Output != nil {
		s, err := d.refl.Schema(ri.Output)
		if err != nil {
			return err
		}
		replyKey = c.message("default.reply", "default reply", "The default handler's output as it is; null sends nothing.", s, false)
	}
	d.operation(c, "default", "default handler", ri, reqKey, replyKey, errKey, ojson.New("default", true))
	return nil
}

// binary describes the binary handler: binary frames both ways.
func (d *asyncDoc) binary(c *channelDoc, ri RouteInfo, errKey string) {
	bin := func(name, title string) string {
		k := c.message(name, title, "", ojson.New("type", "string", "format", "binary"), false)
		m, _ := c.messages.Get(k)
		m.(*ojson.Object).Set("contentType", "application/octet-stream")
		return k
	}
	reqKey, replyKey := bin("binary.request", "binary"), bin("binary.reply", "binary reply")
	d.operation(c, "binary", "binary handler", ri, reqKey, replyKey, errKey, ojson.New("binary", true))
}

// topic describes a declared topic's events, sent to the channel's
// subscribers.
func (d *asyncDoc) topic(c *channelDoc, t TopicInfo) error {
	data, err := d.refl.Schema(t.Payload)
	if err != nil {
		return err
	}
	name := ojson.New("type", "string")
	if len(t.Params) == 0 {
		name.Set("const", t.Pattern)
	} else {
		segs := strings.Split(t.Pattern, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				segs[i] = "[^/]+"
			} else {
				segs[i] = regexp.QuoteMeta(s)
			}
		}
		name.Set("pattern", "^"+strings.Join(segs, "/")+"$")
		name.Set("description", "The topic "+t.Pattern+" with its parameters filled.")
	}
	payload := ojson.New("type", "object", "properties", ojson.New("topic", name, "data", data),
		"required", []any{"topic", "data"})
	// "rooms/{room}" → "rooms.room" in keys.
	base := strings.NewReplacer("/", ".", "{", "", "}", "").Replace(t.Pattern)
	k := c.message(base+".event", t.Pattern, t.Summary, payload, false)
	op := ojson.New("action", "send", "channel", c.chanRef(), "title", t.Pattern)
	setText(op, t.Summary, t.Description)
	op.Set("messages", []any{c.msgRef(k)})
	params := make([]any, len(t.Params))
	for i, p := range t.Params {
		params[i] = p
	}
	op.Set("x-wsroute", ojson.New("topic", t.Pattern, "params", params))
	d.operations.Set(key(d.operations, c.key+".topic."+base), op)
	return nil
}
