package wsroute

import (
	"log/slog"
	"runtime/debug"
	"time"
)

// Observer is told what happens on a Router; logging, metrics and tracing
// adapters are built on it. Every field is optional. The functions run
// synchronously on the goroutine where the event happens, so they must be
// fast and must not block. A panic in one is recovered and logged: it never
// takes the process down, leaks a channel or holds up Shutdown.
type Observer struct {
	// OnOpen is called when a channel has been upgraded, before OnConnect.
	OnOpen func(c *Channel)
	// OnClose is called at the end of the life of every channel OnOpen saw,
	// after OnDisconnect.
	OnClose func(c *Channel, info CloseInfo)
	// OnMessage is called after each inbound frame was handled.
	OnMessage func(c *Channel, info MessageInfo)
	// OnPublish is called after each Router.Publish.
	OnPublish func(info PublishInfo)
}

// MessageInfo describes one handled frame.
type MessageInfo struct {
	Route    string        // the route's name; "" for the default handler or no route
	Code     string        // the error code sent; "" when the message succeeded
	Duration time.Duration // from classification to the reply being queued
}

// PublishInfo describes one publish.
type PublishInfo struct {
	Topic string
	Local int   // channels of this node the event was queued for
	Err   error // the broker's error, if any
}

// observer calls the Router's Observer, each call under recover.
type observer struct {
	*Observer
	log *slog.Logger
}

func (o observer) open(c *Channel) {
	if o.OnOpen != nil {
		defer o.recover("OnOpen")
		o.OnOpen(c)
	}
}

func (o observer) close(c *Channel, info CloseInfo) {
	if o.OnClose != nil {
		defer o.recover("OnClose")
		o.OnClose(c, info)
	}
}

func (o observer) message(c *Channel, info MessageInfo) {
	defer o.recover("OnMessage")
	o.OnMessage(c, info)
}

func (o observer) publish(info PublishInfo) {
	if o.OnPublish != nil {
		defer o.recover("OnPublish")
		o.OnPublish(info)
	}
}

func (o observer) recover(what string) {
	if p := recover(); p != nil {
		o.log.Error("wsroute: panic in Observer."+what, "panic", p, "stack", string(debug.Stack()))
	}
}
