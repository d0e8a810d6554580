package otelwsroute

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/wsroute/wsroute"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/wsroute/wsroute/otelwsroute"

// Config configures New. The zero value uses the global providers and
// propagator of go.opentelemetry.io/otel.
type Config struct {
	// TracerProvider makes the tracer. Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter. Default otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator reads trace context from the opening request's headers and
	// from a frame's TraceKey field, and writes it into Envelope.Headers.
	// Default otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
	// TopicAttribute, if set, maps a topic to a bounded name for it: the
	// value of the messaging.destination.name attribute of the
	// subscription and event metrics, and the second word of the name of
	// a delivery span ("deliver rooms/{room}"); "" leaves it out. Topics
	// can be unbounded ("rooms/{room}"), so return a bounded value, such
	// as the pattern: every distinct value is a time series and a span
	// name. Default: metrics carry no topic and delivery spans are named
	// "deliver" (their attributes always carry the topic).
	TopicAttribute func(topic string) string
}

// Attribute keys. Where OpenTelemetry's semantic conventions have a name,
// it is used; the rest are wsroute's own.
const (
	keyChannel      = attribute.Key("wsroute.channel")
	keyChannelID    = attribute.Key("wsroute.channel.id")
	keyRoute        = attribute.Key("wsroute.route")
	keyCode         = attribute.Key("wsroute.code")
	keyRef          = attribute.Key("wsroute.ref")
	keyBinary       = attribute.Key("wsroute.binary")
	keyBytesIn      = attribute.Key("wsroute.message.bytes_in")
	keyBytesOut     = attribute.Key("wsroute.message.bytes_out")
	keyCloseCode    = attribute.Key("wsroute.close.code")
	keyCloseReason  = attribute.Key("wsroute.close.reason")
	keyDeliveries   = attribute.Key("wsroute.deliveries")
	keyOriginNode   = attribute.Key("wsroute.origin.node")
	keyOrigin       = attribute.Key("wsroute.origin")
	keyBrokerOp     = attribute.Key("wsroute.broker.operation")
	keyPeerAddress  = attribute.Key("network.peer.address")
	keyPeerPort     = attribute.Key("network.peer.port")
	keyHTTPStatus   = attribute.Key("http.response.status_code")
	keyErrorType    = attribute.Key("error.type")
	keyMsgSystem    = attribute.Key("messaging.system")
	keyMsgOpType    = attribute.Key("messaging.operation.type")
	keyMsgOpName    = attribute.Key("messaging.operation.name")
	keyMsgDest      = attribute.Key("messaging.destination.name")
	keyMsgBodySize  = attribute.Key("messaging.message.body.size")
	codeOK          = "ok"
	routeDefault    = "(default)"
	routeBinary     = "(binary)"
	messagingSystem = "wsroute"
)

// New returns an Observer that traces, measures and propagates what
// happens on a Router. Install it with wsroute.Options{Observer: obs}, or
// next to others with wsroute.JoinObservers. It fails only when an
// instrument cannot be created.
func New(cfg Config) (*wsroute.Observer, error) {
	o, err := newObserver(cfg)
	if err != nil {
		return nil, err
	}
	return o.hooks(), nil
}

func newObserver(cfg Config) (*observer, error) {
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	o := &observer{
		tracer:   tp.Tracer(ScopeName),
		prop:     prop,
		topicFn:  cfg.TopicAttribute,
		deliverO: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithNewRoot()},
	}
	if err := o.inst.init(mp.Meter(ScopeName)); err != nil {
		return nil, err
	}
	o.publishedOK = o.inst.published.cell(attribute.NewSet())
	o.publishFailed = o.inst.published.cell(attribute.NewSet(keyErrorType.String("broker")))
	o.deliveredLocal = o.inst.delivered.cell(attribute.NewSet(keyOrigin.String("local")))
	o.deliveredRemote = o.inst.delivered.cell(attribute.NewSet(keyOrigin.String("remote")))
	return o, nil
}

// hooks returns the Observer whose functions are o's methods.
func (o *observer) hooks() *wsroute.Observer {
	return &wsroute.Observer{
		StartOpen:      o.startOpen,
		OnOpen:         o.onOpen,
		OnOpenRefused:  o.onOpenRefused,
		OnClose:        o.onClose,
		StartMessage:   o.startMessage,
		OnMessage:      o.onMessage,
		OnSubscribe:    o.onSubscribe,
		OnUnsubscribe:  o.onUnsubscribe,
		InjectEnvelope: o.injectEnvelope,
		OnPublish:      o.onPublish,
		OnDeliver:      o.onDeliver,
		OnBrokerError:  o.onBrokerError,
	}
}

// observer holds what New built; its methods are the Observer's functions.
type observer struct {
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	topicFn func(string) string
	inst    instruments

	// The caches below hold attribute sets and metric cells computed once.
	// Every key is bounded: channel and route names by registration, codes
	// by the application's errors, close reasons by closeReason, topics by
	// Config.TopicAttribute.
	conns    sync.Map // *wsroute.Channel → *conn, while it is opening or open
	chans    sync.Map // channel name → *chanInfo
	closes   sync.Map // closeKey → *cell
	refusals sync.Map // refuseKey → *cell
	topics   sync.Map // topicKey → *cell
	brokerOp sync.Map // operation → *cell

	deliverNames sync.Map     // topic → delivery span name (with TopicAttribute)
	deliverCount atomic.Int64 // entries stored in deliverNames (bounded)

	deliverO                                                    []trace.SpanStartOption
	publishedOK, publishFailed, deliveredLocal, deliveredRemote *cell
}

// conn is what the observer keeps for one channel, from StartOpen to
// OnOpenRefused or OnClose.
type conn struct {
	ci     *chanInfo
	open   trace.Span
	link   trace.Link         // to the open span
	idAttr attribute.KeyValue // wsroute.channel.id
	// ended is set by whichever ends the open span: OnOpen, OnOpenRefused,
	// or the end of the channel's context for a channel closed while it was
	// opening (which gets neither); stop cancels the latter.
	ended atomic.Bool
	stop  func() bool
}

// endOpen reports whether the caller is the one to end the open span.
func (st *conn) endOpen() bool {
	if st.stop != nil {
		st.stop()
	}
	return st.open != nil && st.ended.CompareAndSwap(false, true)
}

// Message spans start with these options only: no per-message allocation
// when the span is not sampled. Their link and the channel's attributes
// are added at the end to those that record. (Samplers see the kind and
// the name, "<channel> <route>".)
var (
	rootOpts  = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithNewRoot()}
	childOpts = rootOpts[:1]
)

func (o *observer) conn(c *wsroute.Channel) *conn {
	if v, ok := o.conns.Load(c); ok {
		return v.(*conn)
	}
	// Not opened under this observer (installed later?): no open span.
	return &conn{ci: o.channel(c.Name()), idAttr: keyChannelID.String(c.ID())}
}

// chanInfo holds what is computed once per channel name.
type chanInfo struct {
	attr      attribute.KeyValue // wsroute.channel
	openName  string
	open, sub *cell    // {wsroute.channel}
	routes    sync.Map // route label → *routeInfo
}

// routeInfo holds what is computed once per channel and route.
type routeInfo struct {
	spanName          string
	attr              attribute.KeyValue // wsroute.route
	bytesIn, bytesOut *cell              // {wsroute.channel, wsroute.route}
	recOpts           []metric.RecordOption
	codes             sync.Map // code → *cell of wsroute.messages
}

func (o *observer) channel(name string) *chanInfo {
	if v, ok := o.chans.Load(name); ok {
		return v.(*chanInfo)
	}
	attr := keyChannel.String(name)
	set := attribute.NewSet(attr)
	ci := &chanInfo{attr: attr, openName: "open " + name, open: o.inst.open.cell(set), sub: o.inst.subs.cell(set)}
	v, _ := o.chans.LoadOrStore(name, ci)
	return v.(*chanInfo)
}

// route returns the routeInfo of a route label; with add false it returns
// nil for a label not seen yet (a lookup of what a client sent must not
// add entries).
func (o *observer) route(ci *chanInfo, label string, add bool) *routeInfo {
	if v, ok := ci.routes.Load(label); ok {
		return v.(*routeInfo)
	}
	if !add {
		return nil
	}
	attr := keyRoute.String(label)
	set := attribute.NewSet(ci.attr, attr)
	ri := &routeInfo{
		spanName: ci.attr.Value.AsString() + " " + label, attr: attr,
		bytesIn: o.inst.bytesIn.cell(set), bytesOut: o.inst.bytesOut.cell(set),
		recOpts: []metric.RecordOption{metric.WithAttributeSet(set)},
	}
	v, _ := ci.routes.LoadOrStore(label, ri)
	return v.(*routeInfo)
}

// messages returns the wsroute.messages cell of a channel, route and code.
func (o *observer) messages(ci *chanInfo, ri *routeInfo, code string) *cell {
	if v, ok := ri.codes.Load(code); ok {
		return v.(*cell)
	}
	cl := o.inst.messages.cell(attribute.NewSet(ci.attr, ri.attr, keyCode.String(code)))
	v, _ := ri.codes.LoadOrStore(code, cl)
	return v.(*cell)
}

// routeLabel bounds MessageInfo.Route: "" is the default handler's (or no
// route's), or the binary handler's.
func routeLabel(route string, binary bool) string {
	switch {
	case route != "":
		return route
	case binary:
		return routeBinary
	}
	return routeDefault
}

// peerAttrs returns network.peer.address and network.peer.port of a
// "host:port" remote address.
func peerAttrs(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if addr == "" {
			return nil
		}
		return []attribute.KeyValue{keyPeerAddress.String(addr)}
	}
	kv := []attribute.KeyValue{keyPeerAddress.String(host)}
	if p, err := strconv.Atoi(port); err == nil {
		kv = append(kv, keyPeerPort.Int(p))
	}
	return kv
}

// startOpen starts the open span, under the trace context of the opening
// request's headers when it carries one.
func (o *observer) startOpen(ctx context.Context, c *wsroute.Channel) context.Context {
	ctx = o.prop.Extract(ctx, propagation.HeaderCarrier(c.Header()))
	ci := o.channel(c.Name())
	idAttr := keyChannelID.String(c.ID())
	attrs := append([]attribute.KeyValue{ci.attr, idAttr}, peerAttrs(c.RemoteAddr())...)
	ctx, span := o.tracer.Start(ctx, ci.openName, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	st := &conn{ci: ci, open: span, link: trace.Link{SpanContext: span.SpanContext()}, idAttr: idAttr}
	o.conns.Store(c, st)
	// Every StartOpen ends with OnOpen or OnOpenRefused (a channel closed
	// while it opens with CodeClosedWhileOpening); should one ever not, the
	// span still ends with the channel's context.
	st.stop = context.AfterFunc(c.Context(), func() {
		if st.ended.CompareAndSwap(false, true) {
			o.conns.CompareAndDelete(c, st)
			span.AddEvent("closed while opening")
			span.End()
		}
	})
	return ctx
}

func (o *observer) onOpen(_ context.Context, c *wsroute.Channel) {
	st := o.conn(c)
	st.ci.open.add(1)
	if st.endOpen() {
		st.open.End()
	}
}

type refuseKey struct {
	channel, code string
	status        int
}

// onOpenRefused ends the open span (status Error only for code internal:
// the other refusals are expected outcomes) and counts the refusal. An
// opening refused before its channel existed (c nil: connection limit,
// handshake, origin) has no span.
func (o *observer) onOpenRefused(_ context.Context, c *wsroute.Channel, info wsroute.RefuseInfo) {
	name := ""
	if c != nil {
		name = c.Name()
	}
	k := refuseKey{name, info.Code, info.Status}
	v, ok := o.refusals.Load(k)
	if !ok {
		kv := []attribute.KeyValue{keyCode.String(info.Code)}
		if name != "" {
			kv = append(kv, keyChannel.String(name))
		}
		if info.Status != 0 {
			kv = append(kv, keyHTTPStatus.Int(info.Status))
		}
		v, _ = o.refusals.LoadOrStore(k, o.inst.refused.cell(attribute.NewSet(kv...)))
	}
	v.(*cell).add(1)
	if c == nil {
		return
	}
	st := o.conn(c)
	o.conns.Delete(c)
	if !st.endOpen() {
		return
	}
	span := st.open
	if info.Code == wsroute.CodeClosedWhileOpening {
		span.AddEvent("closed while opening")
	}
	span.SetAttributes(keyCode.String(info.Code))
	if info.Status != 0 {
		span.SetAttributes(keyHTTPStatus.Int(info.Status))
	}
	if info.Code == wsroute.CodeInternal {
		span.SetAttributes(keyErrorType.String(info.Code))
		span.SetStatus(codes.Error, info.Code)
	}
	span.End()
}

type closeKey struct {
	channel, reason string
	code            int
}

func (o *observer) onClose(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
	ci := o.conn(c).ci
	o.conns.Delete(c)
	ci.open.add(-1)
	k := closeKey{c.Name(), closeReason(info.Reason), int(info.Code)}
	v, ok := o.closes.Load(k)
	if !ok {
		set := attribute.NewSet(ci.attr, keyCloseCode.Int(k.code), keyCloseReason.String(k.reason))
		v, _ = o.closes.LoadOrStore(k, o.inst.closes.cell(set))
	}
	v.(*cell).add(1)
}

// closeReason bounds CloseInfo.Reason for the wsroute.close.reason
// attribute: one of wsroute's Reason constants (ReasonRefused without its
// ": code" suffix), "message too big" and "protocol error" (a peer's
// oversized frame or protocol violation), "none" for an empty reason, and
// "other" for the rest (what peers write in their close frames).
func closeReason(reason string) string {
	switch reason {
	case wsroute.ReasonSlowConsumer, wsroute.ReasonHeartbeatTimeout, wsroute.ReasonWriteTimeout,
		wsroute.ReasonCloseTimeout, wsroute.ReasonShutdown, wsroute.ReasonSessionExpired,
		wsroute.ReasonConnectionLost, wsroute.ReasonRefused, wsroute.ReasonUpgradeFailed,
		wsroute.ReasonInternal, wsroute.ReasonNoMessage, wsroute.ReasonRateLimit,
		wsroute.ReasonBinary, wsroute.ReasonInvalidUTF8,
		"message too big", "protocol error":
		return reason
	case "":
		return "none"
	}
	if len(reason) > len(wsroute.ReasonRefused) && reason[:len(wsroute.ReasonRefused)+1] == wsroute.ReasonRefused+":" {
		return wsroute.ReasonRefused
	}
	return "other"
}

// startMessage starts the message span: a new root linked to the open
// span, or a child of the trace context the client sent in the frame.
func (o *observer) startMessage(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) context.Context {
	ci := o.conn(c).ci
	// The name is final at the end (OnMessage knows the route that took the
	// frame); here a route already seen names it, what a client sent never.
	name := ci.attr.Value.AsString()
	if ri := o.route(ci, routeLabel(m.Route(), m.IsBinary()), false); ri != nil {
		name = ri.spanName
	}
	opts := rootOpts
	if tc := m.TraceContext(); tc != nil {
		if pctx := o.prop.Extract(ctx, propagation.MapCarrier(tc)); trace.SpanContextFromContext(pctx).IsRemote() {
			ctx, opts = pctx, childOpts
		}
	}
	ctx, _ = o.tracer.Start(ctx, name, opts...)
	return ctx
}

func (o *observer) onMessage(ctx context.Context, c *wsroute.Channel, info wsroute.MessageInfo) {
	st := o.conn(c)
	ci := st.ci
	ri := o.route(ci, routeLabel(info.Route, info.Binary), true)
	code := info.Code
	if code == "" {
		code = codeOK
	}
	// Metrics first: once the span has ended, its metrics are recorded.
	o.messages(ci, ri, code).add(1)
	ri.bytesIn.add(int64(info.BytesIn))
	ri.bytesOut.add(int64(info.BytesOut))
	o.inst.duration.Record(ctx, info.Duration.Seconds(), ri.recOpts...)
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetName(ri.spanName)
	if st.link.SpanContext.IsValid() {
		span.AddLink(st.link)
	}
	kvp := kvPool.Get().(*[]attribute.KeyValue)
	kv := append((*kvp)[:0], ci.attr, st.idAttr, ri.attr, keyCode.String(code), keyBytesIn.Int(info.BytesIn), keyBytesOut.Int(info.BytesOut))
	if info.Ref != nil {
		kv = append(kv, keyRef.String(string(info.Ref)))
	}
	if info.Binary {
		kv = append(kv, keyBinary.Bool(true))
	}
	if code == wsroute.CodeInternal {
		kv = append(kv, keyErrorType.String(code))
		span.SetStatus(codes.Error, code)
	}
	span.SetAttributes(kv...) // copied: kv goes back to the pool
	clear(kv)
	*kvp = kv[:0]
	kvPool.Put(kvp)
	span.End()
}

// kvPool recycles the attribute lists of message spans.
var kvPool = sync.Pool{New: func() any { kv := make([]attribute.KeyValue, 0, 9); return &kv }}

type topicKey struct {
	base  *cell
	topic string
}

// topicCell returns base, or the cell of base's attributes kv with
// messaging.destination.name added when Config.TopicAttribute names one
// for topic.
func (o *observer) topicCell(base *cell, c *counter, topic string, kv ...attribute.KeyValue) *cell {
	if o.topicFn == nil {
		return base
	}
	k := topicKey{base, o.topicFn(topic)}
	if k.topic == "" {
		return base
	}
	if v, ok := o.topics.Load(k); ok {
		return v.(*cell)
	}
	v, _ := o.topics.LoadOrStore(k, c.cell(attribute.NewSet(append(kv, keyMsgDest.String(k.topic))...)))
	return v.(*cell)
}

func (o *observer) onSubscribe(c *wsroute.Channel, topic string) {
	ci := o.channel(c.Name())
	o.topicCell(ci.sub, o.inst.subs, topic, ci.attr).add(1)
}

func (o *observer) onUnsubscribe(c *wsroute.Channel, topic string) {
	ci := o.channel(c.Name())
	o.topicCell(ci.sub, o.inst.subs, topic, ci.attr).add(-1)
}

// injectEnvelope writes the publisher's trace context (the message span of
// the handler that publishes, say) into the envelope's headers.
func (o *observer) injectEnvelope(ctx context.Context, headers map[string]string) {
	o.prop.Inject(ctx, propagation.MapCarrier(headers))
}

// onPublish adds a "publish" event to the publisher's span and counts the
// event and its local deliveries.
func (o *observer) onPublish(ctx context.Context, info wsroute.PublishInfo) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		kv := []attribute.KeyValue{
			keyMsgSystem.String(messagingSystem), keyMsgOpType.String("send"), keyMsgOpName.String("publish"),
			keyMsgDest.String(info.Topic), keyMsgBodySize.Int(info.Bytes), keyDeliveries.Int(info.Local),
		}
		if info.Err != nil {
			kv = append(kv, keyErrorType.String("broker"))
			span.RecordError(info.Err)
		}
		span.AddEvent("publish", trace.WithAttributes(kv...))
	}
	if info.Err != nil {
		o.topicCell(o.publishFailed, o.inst.published, info.Topic, keyErrorType.String("broker")).add(1)
	} else {
		o.topicCell(o.publishedOK, o.inst.published, info.Topic).add(1)
	}
	if info.Local > 0 {
		o.topicCell(o.deliveredLocal, o.inst.delivered, info.Topic, keyOrigin.String("local")).add(int64(info.Local))
	}
}

// onDeliver records the arrival of another node's event as a span of its
// own, linked to the publisher's span, and counts its deliveries.
func (o *observer) onDeliver(info wsroute.DeliverInfo) {
	bg := context.Background()
	opts := o.deliverO
	if len(info.Headers) > 0 {
		if sc := trace.SpanContextFromContext(o.prop.Extract(bg, propagation.MapCarrier(info.Headers))); sc.IsValid() {
			opts = append(opts[:len(opts):len(opts)], trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	opts = append(opts[:len(opts):len(opts)], trace.WithAttributes(
		keyMsgSystem.String(messagingSystem), keyMsgOpType.String("process"), keyMsgOpName.String("deliver"),
		keyMsgDest.String(info.Topic), keyMsgBodySize.Int(info.Bytes),
		keyOriginNode.String(info.Node), keyDeliveries.Int(info.Local)))
	_, span := o.tracer.Start(bg, o.deliverName(info.Topic), opts...)
	if info.Local > 0 {
		o.topicCell(o.deliveredRemote, o.inst.delivered, info.Topic, keyOrigin.String("remote")).add(int64(info.Local))
	}
	span.End()
}

// deliverName is the name of the delivery span of an event of topic:
// "deliver", followed by the topic's bounded name when Config.TopicAttribute
// gives one (span names must be of low cardinality, like metric
// attributes; the topic itself is the messaging.destination.name
// attribute).
func (o *observer) deliverName(topic string) string {
	if o.topicFn == nil {
		return "deliver"
	}
	if v, ok := o.deliverNames.Load(topic); ok {
		return v.(string)
	}
	name := "deliver"
	if label := o.topicFn(topic); label != "" {
		name += " " + label
	}
	if o.deliverCount.Add(1) <= maxCachedNames { // topics are unbounded: cache the first ones only
		o.deliverNames.Store(topic, name)
	}
	return name
}

// maxCachedNames bounds the cache of delivery span names by topic.
const maxCachedNames = 1024

func (o *observer) onBrokerError(info wsroute.BrokerErrorInfo) {
	v, ok := o.brokerOp.Load(info.Op)
	if !ok {
		v, _ = o.brokerOp.LoadOrStore(info.Op, o.inst.brokerErrors.cell(attribute.NewSet(keyBrokerOp.String(info.Op))))
	}
	v.(*cell).add(1)
}
