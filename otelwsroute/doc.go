// Package otelwsroute gives a wsroute Router OpenTelemetry traces, metrics
// and trace-correlated logs. It is built only on the core's Observer seam:
// New returns a *wsroute.Observer.
//
//	otel.SetTextMapPropagator(propagation.TraceContext{}) // the global one propagates nothing until set
//	obs, err := otelwsroute.New(otelwsroute.Config{})    // the global providers; or set them in Config
//	if err != nil {
//		return err
//	}
//	r := wsroute.New(wsroute.Options{
//		Observer: obs, // next to others: wsroute.JoinObservers(obs, mine)
//		Logger:   slog.New(otelwsroute.NewLogHandler(slog.NewJSONHandler(os.Stderr, nil))),
//	})
//	ch := r.Channel("/todos", wsroute.ChannelConfig{TraceKey: "trace"}) // optional: a frame's {"trace":{"traceparent":…}}
//
// # Spans
//
//	name                kind      from → to                      parent, links
//	open <channel>      Server    StartOpen → OnOpen or          the opening request's trace context (its
//	                              OnOpenRefused                  headers, through the propagator), else a root
//	<channel> <route>   Server    StartMessage → OnMessage       a new root, linked to the open span; a child of
//	                                                             the frame's trace context when the channel sets
//	                                                             TraceKey and the frame carries one (still linked)
//	deliver [<topic>]   Consumer  OnDeliver (started and         a new root, linked to the publisher's span
//	                              ended there)                   (from Envelope.Headers)
//
// and an event "publish" on the publisher's current span (a message span
// when a handler publishes) at each Router.Publish, whose trace context
// InjectEnvelope writes into the envelope's headers for the other nodes: one
// trace view shows the message, and its links lead to every node the event
// reached.
//
// <route> is the name of the route that took the frame — never what the
// client sent: "(default)" for the default handler and for a frame no route
// took (not_found, bad_request, rate_limited, …), "(binary)" for the binary
// handler. <topic> is what Config.TopicAttribute makes of the topic (the
// span is named "deliver" alone without it, or when it returns ""): span
// names must stay bounded, and topics need not be ("rooms/{room}"). The
// topic as published is the messaging.destination.name attribute.
//
// Status: Error, with error.type "internal", only for the code internal (a
// handler's or the opening's failure). The other codes — not_found,
// forbidden, invalid, an application's own — are expected outcomes, like an
// HTTP server's 4xx: recorded in wsroute.code, status left unset.
//
// The open span stays the active span of the channel's context
// (Channel.Context): OnConnect, OnDisconnect and what runs on that context
// are traced (and logged) under it, although it ended at the upgrade.
// That is why message spans are new roots with a link, not its children.
//
// # Span attributes
//
//	wsroute.channel               open, message       the channel's name (ChannelConfig.Name, default its pattern)
//	wsroute.channel.id            open, message       Channel.ID
//	network.peer.address, .port   open                the opening request's remote address
//	wsroute.code                  open (refused),     the error code; "ok" for a message that succeeded
//	                              message
//	http.response.status_code     open (refused)      the refusal's HTTP status
//	wsroute.route                 message             as in the span name
//	wsroute.message.bytes_in      message             the frame's size
//	wsroute.message.bytes_out     message             the size of its reply or error frame (0: none)
//	wsroute.ref                   message             the frame's ref as raw JSON, when it has one
//	wsroute.binary                message             true for a binary frame
//	error.type                    open, message,      "internal"; "broker" on a publish event whose
//	                              publish event       broker call failed (an "exception" event follows)
//	messaging.system              publish, deliver    "wsroute"
//	messaging.operation.type      publish, deliver    "send", "process"
//	messaging.operation.name      publish, deliver    "publish", "deliver"
//	messaging.destination.name    publish, deliver    the topic
//	messaging.message.body.size   publish, deliver    the size of the event's data
//	wsroute.deliveries            publish, deliver    the channels of this node the event was queued for
//	wsroute.origin.node           deliver             the publishing node's id
//
// Message spans start with their kind and name only (no allocation for an
// unsampled one): samplers see those; the link and the attributes are added
// to the spans that record.
//
// # Metrics
//
//	name                        instrument     unit            attributes
//	wsroute.channels.open       UpDownCounter  {channel}       wsroute.channel
//	wsroute.opens.refused       Counter        {opening}       wsroute.code, wsroute.channel (*), http.response.status_code (**)
//	wsroute.closes              Counter        {channel}       wsroute.channel, wsroute.close.code, wsroute.close.reason
//	wsroute.messages            Counter        {message}       wsroute.channel, wsroute.route, wsroute.code ("ok" on success)
//	wsroute.message.duration    Histogram      s               wsroute.channel, wsroute.route
//	wsroute.message.bytes_in    Counter        By              wsroute.channel, wsroute.route
//	wsroute.message.bytes_out   Counter        By              wsroute.channel, wsroute.route
//	wsroute.subscriptions       UpDownCounter  {subscription}  wsroute.channel, messaging.destination.name (***)
//	wsroute.events.published    Counter        {event}         error.type ("broker", when the broker failed), messaging.destination.name (***)
//	wsroute.events.delivered    Counter        {event}         wsroute.origin ("local": this node's publishes; "remote": others'), messaging.destination.name (***)
//	wsroute.broker.errors       Counter        {error}         wsroute.broker.operation ("publish", "subscribe", "unsubscribe")
//
//	(*)   when the refusal came after the channel was created (not at MaxChannels, a bad handshake or origin)
//	(**)  when an HTTP answer was given (not when the upgrade itself failed)
//	(***) only with Config.TopicAttribute, which bounds it
//
// wsroute.close.code is the WebSocket close code, -1 for a connection dropped
// without a close frame. wsroute.close.reason is bounded: one of wsroute's
// Reason constants (ReasonRefused without its ": code" suffix), "message
// too big", "protocol error", "none" for an empty reason, "other" for the
// rest (what peers write in close frames). The duration is from a frame's
// classification to its reply being queued; its buckets start at 100µs.
// Every attribute of a metric is bounded by registration (channels,
// routes), the application's error codes, or Config.TopicAttribute.
//
// The sums are kept in atomic counters and reported through observable
// instruments when the reader collects (an atomic add per message instead
// of the SDK's attribute handling); the histogram is synchronous and so
// can carry exemplars of the message spans.
//
// # Logs
//
// NewLogHandler wraps a slog.Handler: a record whose context has a valid
// span context gets trace_id and span_id (hex), at the top level also under
// WithGroup. Log with the handler's context (slog.InfoContext(ctx, …)), and
// give the Router's Options.Logger the same handler.
//
// # Cost
//
// A span per message is not free: the OpenTelemetry SDK's span start, end
// and attribute handling cost a few microseconds of CPU, far more than
// wsroute's own dispatch of a small frame in memory. BenchmarkMessage
// measures it (see the README of this module); at high message rates use a
// ratio sampler (sdktrace.ParentBased(sdktrace.TraceIDRatioBased(p))).
package otelwsroute
