package wsroute

import "time"

// Observer is told what happens on a Router; logging, metrics and tracing
// adapters are built on it. Every field is optional. The functions run
// synchronously on the goroutine where the event happens, so they must be
// fast and must not block.
type Observer struct {
	// OnOpen is called when a channel has been upgraded, before OnConnect.
	OnOpen func(c *Channel)
	// OnClose is called at the end of a channel's life, after OnDisconnect.
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

func (o *Observer) open(c *Channel) {
	if o.OnOpen != nil {
		o.OnOpen(c)
	}
}

func (o *Observer) close(c *Channel, info CloseInfo) {
	if o.OnClose != nil {
		o.OnClose(c, info)
	}
}

func (o *Observer) publish(info PublishInfo) {
	if o.OnPublish != nil {
		o.OnPublish(info)
	}
}
