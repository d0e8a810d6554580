package wsroute

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Observer is told what happens on a Router: the seam that logging, metrics
// and tracing adapters are built on (the OpenTelemetry adapter is module
// github.com/wsroute/wsroute/otelwsroute). Every field is optional; an unset
// one costs nothing. Several observers compose with JoinObservers.
//
// The functions run synchronously on the goroutine where the event happens,
// so they must be fast and must not block. A panic in one is recovered and
// logged: it never takes the process down, leaks a channel or holds up
// Shutdown.
//
// The Start functions return the context the stage runs under, so an
// adapter can put a span in it: what runs inside (middleware, auth,
// permissions and OnConnect for StartOpen; the route's pipeline and handler
// for StartMessage) sees it, and the matching end callback (OnOpen or
// OnOpenRefused; OnMessage) receives it. What StartOpen puts in the context
// stays in the channel's context (Channel.Context, the parent of every
// handler's), as middleware's values do: an adapter that starts a span per
// message should not make the open span its parent.
type Observer struct {
	// StartOpen is called when a channel's opening begins, after the
	// handshake and origin checks, with the request's context.
	StartOpen func(ctx context.Context, c *Channel) context.Context
	// OnOpen is called when a channel has been upgraded, before OnConnect,
	// with StartOpen's context.
	OnOpen func(ctx context.Context, c *Channel)
	// OnOpenRefused is called when an opening that StartOpen saw does not
	// open — refused (401, 403, 503), its upgrade failed, or the channel
	// was closed while it opened — with StartOpen's context. Every
	// StartOpen ends with exactly one of OnOpen and OnOpenRefused.
	OnOpenRefused func(ctx context.Context, c *Channel, info RefuseInfo)
	// OnClose is called at the end of the life of every channel OnOpen saw,
	// after OnDisconnect.
	OnClose func(ctx context.Context, c *Channel, info CloseInfo)

	// StartMessage is called for each inbound frame once it is classified
	// (m.Route, m.Ref and m.TraceContext are known), with the channel's
	// context.
	StartMessage func(ctx context.Context, c *Channel, m *Message) context.Context
	// OnMessage is called after each inbound frame was handled and its reply
	// or error frame queued, with StartMessage's context.
	OnMessage func(ctx context.Context, c *Channel, info MessageInfo)

	// OnSubscribe and OnUnsubscribe are called when a channel's
	// subscription to a topic begins and ends (Unsubscribe,
	// UnsubscribeAll, the channel's close).
	OnSubscribe   func(c *Channel, topic string)
	OnUnsubscribe func(c *Channel, topic string)

	// InjectEnvelope is called by Router.Publish with the publisher's
	// context before the envelope goes to the Broker: what it writes into
	// headers (trace context, say) travels to the other nodes in
	// Envelope.Headers.
	InjectEnvelope func(ctx context.Context, headers map[string]string)
	// OnPublish is called after each Router.Publish, with its context.
	OnPublish func(ctx context.Context, info PublishInfo)
	// OnDeliver is called after an event that came from another node
	// through the Broker was queued for this node's subscribers.
	OnDeliver func(info DeliverInfo)
	// OnBrokerError is called when a Broker call fails: a publish, or a
	// subscribe or unsubscribe of this node to a topic.
	OnBrokerError func(info BrokerErrorInfo)
}

// RefuseInfo describes a refused opening.
type RefuseInfo struct {
	Code   string // the error code: unauthenticated, forbidden, unavailable, …
	Status int    // the HTTP status answered; 0 when the upgrade itself failed
}

// MessageInfo describes one handled frame.
type MessageInfo struct {
	// Route is the name of the route that handled the frame: "" for the
	// default and binary handlers, and when no route took it. It is bounded
	// by registration, unlike what a client sends (Message.Route).
	Route string
	// Code is the error code sent; "" when the message succeeded.
	Code string
	// Ref is the frame's correlation value as raw JSON; nil without one.
	Ref json.RawMessage
	// Binary: a binary frame.
	Binary bool
	// BytesIn is the frame's size; BytesOut the size of the reply or error
	// frame queued for it (0 when none).
	BytesIn, BytesOut int
	// Duration is from classification to the reply being queued.
	Duration time.Duration
}

// PublishInfo describes one Router.Publish.
type PublishInfo struct {
	Topic string
	Bytes int   // the size of the event's data
	Local int   // channels of this node the event was queued for
	Err   error // the broker's error, if any
}

// DeliverInfo describes an event that came from another node.
type DeliverInfo struct {
	Topic   string
	Node    string            // the publishing node's id
	Headers map[string]string // Envelope.Headers, as InjectEnvelope wrote them there
	Bytes   int               // the size of the event's data
	Local   int               // channels of this node the event was queued for
}

// BrokerErrorInfo describes a failed Broker call.
type BrokerErrorInfo struct {
	Op    string // "publish", "subscribe" or "unsubscribe"
	Topic string
	Err   error
}

// JoinObservers returns an Observer that calls each of obs in order (nil
// ones are skipped). The Start functions are chained: each gets the context
// the previous one returned. A panic in one does not stop the others: it is
// re-raised after them, carrying its stack, for the Router to log.
func JoinObservers(obs ...*Observer) *Observer {
	var list []*Observer
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	if len(list) == 1 {
		return list[0]
	}
	j := &Observer{}
	has := func(f func(o *Observer) bool) bool {
		for _, o := range list {
			if f(o) {
				return true
			}
		}
		return false
	}
	if has(func(o *Observer) bool { return o.StartOpen != nil }) {
		j.StartOpen = func(ctx context.Context, c *Channel) context.Context {
			each(list, func(o *Observer) {
				if o.StartOpen != nil {
					ctx = o.StartOpen(ctx, c)
				}
			})
			return ctx
		}
	}
	if has(func(o *Observer) bool { return o.StartMessage != nil }) {
		j.StartMessage = func(ctx context.Context, c *Channel, m *Message) context.Context {
			each(list, func(o *Observer) {
				if o.StartMessage != nil {
					ctx = o.StartMessage(ctx, c, m)
				}
			})
			return ctx
		}
	}
	if has(func(o *Observer) bool { return o.OnOpen != nil }) {
		j.OnOpen = func(ctx context.Context, c *Channel) {
			each(list, func(o *Observer) {
				if o.OnOpen != nil {
					o.OnOpen(ctx, c)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnOpenRefused != nil }) {
		j.OnOpenRefused = func(ctx context.Context, c *Channel, info RefuseInfo) {
			each(list, func(o *Observer) {
				if o.OnOpenRefused != nil {
					o.OnOpenRefused(ctx, c, info)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnClose != nil }) {
		j.OnClose = func(ctx context.Context, c *Channel, info CloseInfo) {
			each(list, func(o *Observer) {
				if o.OnClose != nil {
					o.OnClose(ctx, c, info)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnMessage != nil }) {
		j.OnMessage = func(ctx context.Context, c *Channel, info MessageInfo) {
			each(list, func(o *Observer) {
				if o.OnMessage != nil {
					o.OnMessage(ctx, c, info)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnSubscribe != nil }) {
		j.OnSubscribe = func(c *Channel, topic string) {
			each(list, func(o *Observer) {
				if o.OnSubscribe != nil {
					o.OnSubscribe(c, topic)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnUnsubscribe != nil }) {
		j.OnUnsubscribe = func(c *Channel, topic string) {
			each(list, func(o *Observer) {
				if o.OnUnsubscribe != nil {
					o.OnUnsubscribe(c, topic)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.InjectEnvelope != nil }) {
		j.InjectEnvelope = func(ctx context.Context, h map[string]string) {
			each(list, func(o *Observer) {
				if o.InjectEnvelope != nil {
					o.InjectEnvelope(ctx, h)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnPublish != nil }) {
		j.OnPublish = func(ctx context.Context, info PublishInfo) {
			each(list, func(o *Observer) {
				if o.OnPublish != nil {
					o.OnPublish(ctx, info)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnDeliver != nil }) {
		j.OnDeliver = func(info DeliverInfo) {
			each(list, func(o *Observer) {
				if o.OnDeliver != nil {
					o.OnDeliver(info)
				}
			})
		}
	}
	if has(func(o *Observer) bool { return o.OnBrokerError != nil }) {
		j.OnBrokerError = func(info BrokerErrorInfo) {
			each(list, func(o *Observer) {
				if o.OnBrokerError != nil {
					o.OnBrokerError(info)
				}
			})
		}
	}
	return j
}

// observerPanic is a panic of one of several joined observers, re-raised
// with the stack where it happened.
type observerPanic struct {
	value any
	stack []byte
}

func (p observerPanic) String() string { return fmt.Sprint(p.value) }

// each calls fn for every observer, recovering a panic so the others still
// run, and re-raises the first panic after them.
func each(list []*Observer, fn func(o *Observer)) {
	var first *observerPanic
	for _, o := range list {
		func() {
			defer func() {
				if p := recover(); p != nil && first == nil {
					if op, ok := p.(observerPanic); ok {
						first = &op
					} else {
						first = &observerPanic{value: p, stack: debug.Stack()}
					}
				}
			}()
			fn(o)
		}()
	}
	if first != nil {
		panic(*first)
	}
}

// observer calls the Router's Observer, each call under recover.
type observer struct {
	*Observer
	log *slog.Logger
}

func (o observer) startOpen(ctx context.Context, c *Channel) context.Context {
	if o.StartOpen == nil {
		return ctx
	}
	out := ctx
	func() {
		defer o.recover("StartOpen")
		if got := o.StartOpen(ctx, c); got != nil {
			out = got
		}
	}()
	return out
}

func (o observer) open(ctx context.Context, c *Channel) {
	if o.OnOpen != nil {
		defer o.recover("OnOpen")
		o.OnOpen(ctx, c)
	}
}

func (o observer) refused(ctx context.Context, c *Channel, info RefuseInfo) {
	if o.OnOpenRefused != nil {
		defer o.recover("OnOpenRefused")
		o.OnOpenRefused(ctx, c, info)
	}
}

func (o observer) close(ctx context.Context, c *Channel, info CloseInfo) {
	if o.OnClose != nil {
		defer o.recover("OnClose")
		o.OnClose(ctx, c, info)
	}
}

func (o observer) startMessage(ctx context.Context, c *Channel, m *Message) context.Context {
	out := ctx
	func() {
		defer o.recover("StartMessage")
		if got := o.StartMessage(ctx, c, m); got != nil {
			out = got
		}
	}()
	return out
}

func (o observer) message(ctx context.Context, c *Channel, info MessageInfo) {
	defer o.recover("OnMessage")
	o.OnMessage(ctx, c, info)
}

func (o observer) subscribed(c *Channel, topic string) {
	if o.OnSubscribe != nil {
		defer o.recover("OnSubscribe")
		o.OnSubscribe(c, topic)
	}
}

func (o observer) unsubscribed(c *Channel, topic string) {
	if o.OnUnsubscribe != nil {
		defer o.recover("OnUnsubscribe")
		o.OnUnsubscribe(c, topic)
	}
}

// inject returns the headers InjectEnvelope wrote, or nil.
func (o observer) inject(ctx context.Context) map[string]string {
	if o.InjectEnvelope == nil {
		return nil
	}
	h := make(map[string]string, 2)
	func() {
		defer o.recover("InjectEnvelope")
		o.InjectEnvelope(ctx, h)
	}()
	if len(h) == 0 {
		return nil
	}
	return h
}

func (o observer) publish(ctx context.Context, info PublishInfo) {
	if o.OnPublish != nil {
		defer o.recover("OnPublish")
		o.OnPublish(ctx, info)
	}
}

func (o observer) deliver(info DeliverInfo) {
	if o.OnDeliver != nil {
		defer o.recover("OnDeliver")
		o.OnDeliver(info)
	}
}

func (o observer) brokerError(op, topic string, err error) {
	if o.OnBrokerError != nil && err != nil {
		defer o.recover("OnBrokerError")
		o.OnBrokerError(BrokerErrorInfo{Op: op, Topic: topic, Err: err})
	}
}

func (o observer) recover(what string) {
	if p := recover(); p != nil {
		stack := debug.Stack()
		if op, ok := p.(observerPanic); ok {
			p, stack = op.value, op.stack
		}
		o.log.Error("wsroute: panic in Observer."+what, "panic", p, "stack", string(stack))
	}
}
