package natsbroker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/wsroute/wsroute"
)

const (
	// DefaultURL is the server New connects to when Options.URL is empty.
	DefaultURL = "nats://127.0.0.1:4222"
	// DefaultPrefix is the subject prefix when Options.Prefix is empty.
	DefaultPrefix = "wsroute."

	// inboxSize is how many messages may wait for the delivery goroutine;
	// past it nats.go drops messages and reports a slow consumer.
	inboxSize = 1 << 16
	// subscribeFlush bounds the round trip with which Subscribe makes sure
	// the server has registered a new subscription.
	subscribeFlush = 2 * time.Second
	// closeWait bounds how long Detach waits for nats.go to report that the
	// connection it created is closed.
	closeWait = 5 * time.Second
	// maxPlainTopic is the longest topic (in bytes) mapped to its base64
	// encoding; longer ones are mapped to a hash to keep subjects short.
	maxPlainTopic = 192
)

// Options configures a Broker. The zero value connects to DefaultURL.
type Options struct {
	// URL of the NATS server, or a comma-separated list of servers.
	// Default DefaultURL. Ignored when Conn is set.
	URL string
	// Conn is a connection to use instead of one New makes. The caller owns
	// it: Detach removes the broker's subscriptions and leaves it open. For
	// the fault behaviour of the package documentation, create it with
	// nats.ReconnectBufSize(-1), nats.MaxReconnects(-1) and
	// nats.RetryOnFailedConnect(true), and without nats.NoEcho if several
	// Brokers share it.
	Conn *nats.Conn
	// Prefix starts every subject, so that several applications can share
	// one NATS. It is a dot-separated list of tokens without spaces or
	// wildcards; a final "." is added when missing. Default DefaultPrefix.
	Prefix string
	// Codec turns envelopes into message payloads and back. Every node of a
	// deployment must use the same. Default wsroute.JSONCodec.
	Codec wsroute.EnvelopeCodec
	// Logger receives the broker's logs (disconnections, reconnections,
	// dropped messages). Default: silent.
	Logger *slog.Logger
}

// Broker is a wsroute.Broker over NATS core publish/subscribe. Make one per
// Router with New and pass it in wsroute.Options.Broker; Router.Shutdown
// detaches it.
type Broker struct {
	nc     *nats.Conn
	owned  bool          // nc was made by New: Detach closes it
	closed chan struct{} // closed by nats.go's ClosedHandler of an owned nc
	prefix string
	codec  wsroute.EnvelopeCodec
	log    *slog.Logger
	inbox  chan *nats.Msg  // every subscription delivers here, in arrival order
	life   context.Context // cancelled by Detach: ends the delivery goroutine and the waits of Subscribes
	end    context.CancelFunc
	done   chan struct{} // closed when the delivery goroutine has returned
	gone   atomic.Bool   // Detach has begun: Publish refuses

	mu       sync.Mutex // guards the fields below
	node     string
	subs     map[string]*nats.Subscription // topic → its subscription
	attached bool
	detached bool
}

// New returns a Broker on opts.Conn or, without one, on a connection it
// makes to opts.URL with unlimited reconnects and no reconnect buffer. New
// does not wait for NATS: when the server is down, the connection keeps
// trying in the background and publishes fail until it is up. It returns an
// error only for invalid options (a malformed URL or prefix, a closed Conn).
func New(opts Options) (*Broker, error) {
	prefix, err := checkPrefix(opts.Prefix)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		prefix: prefix,
		codec:  opts.Codec,
		log:    opts.Logger,
		inbox:  make(chan *nats.Msg, inboxSize),
		done:   make(chan struct{}),
		subs:   make(map[string]*nats.Subscription),
	}
	b.life, b.end = context.WithCancel(context.Background())
	if b.codec == nil {
		b.codec = wsroute.JSONCodec{}
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if opts.Conn != nil {
		if opts.Conn.IsClosed() {
			return nil, errors.New("natsbroker: Options.Conn is closed")
		}
		b.nc = opts.Conn
		return b, nil
	}
	url := opts.URL
	if url == "" {
		url = DefaultURL
	}
	b.owned, b.closed = true, make(chan struct{})
	b.nc, err = nats.Connect(url, b.connectOptions()...)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connect %s: %w", url, err)
	}
	return b, nil
}

// connectOptions are the options of a connection New makes.
func (b *Broker) connectOptions() []nats.Option {
	return []nats.Option{
		nats.Name("wsroute"),
		nats.ReconnectBufSize(-1),           // publishing while disconnected fails instead of buffering
		nats.MaxReconnects(-1),              // never give up
		nats.RetryOnFailedConnect(true),     // New does not fail while NATS is down
		nats.ReconnectWait(time.Second),     // (nats.go adds up to 100 ms of jitter)
		nats.PingInterval(10 * time.Second), // notice a silently dead server within about 30 s
		nats.NoEcho(),                       // this node's own publishes are never sent back to it
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.log.Info("natsbroker: connected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("natsbroker: disconnected; publishes fail until reconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("natsbroker: reconnected; subscriptions restored", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			b.log.Warn("natsbroker: asynchronous error", "subject", subject, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	}
}

// checkPrefix applies the default and the final dot, and refuses prefixes
// that are not literal subject tokens.
func checkPrefix(p string) (string, error) {
	if p == "" {
		return DefaultPrefix, nil
	}
	p = strings.TrimSuffix(p, ".")
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == '*' || r == '>' || r == 0x7f }) {
			return "", fmt.Errorf("natsbroker: invalid Prefix %q: want dot-separated tokens without spaces, control characters or wildcards", p)
		}
	}
	return p + ".", nil
}

// Conn returns the NATS connection the broker uses.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// Subject returns the NATS subject topic is published on: the prefix and
// one token, the unpadded base64url encoding of topic ("=" for the empty
// topic, "=" and the base64url SHA-256 of topic when it is longer than 192
// bytes).
func (b *Broker) Subject(topic string) string {
	switch {
	case topic == "":
		return b.prefix + "="
	case len(topic) > maxPlainTopic:
		sum := sha256.Sum256([]byte(topic))
		return b.prefix + "=" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return b.prefix + base64.RawURLEncoding.EncodeToString([]byte(topic))
}

// Attach implements wsroute.Broker: it starts the goroutine that delivers
// envelopes from other nodes, one at a time. It panics if the Broker was
// attached before: use one Broker per Router.
func (b *Broker) Attach(node string, deliver func(wsroute.Envelope)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.attached {
		panic("natsbroker: Broker attached twice: use one Broker per Router")
	}
	b.attached, b.node = true, node
	go b.run(node, deliver)
}

// run delivers the messages of every subscription from one goroutine, in
// the order the connection received them, until Detach.
func (b *Broker) run(node string, deliver func(wsroute.Envelope)) {
	defer close(b.done)
	for {
		select {
		case <-b.life.Done():
			return
		case m := <-b.inbox:
			e, err := b.codec.Decode(m.Data)
			if err != nil {
				b.log.Warn("natsbroker: undecodable message dropped", "subject", m.Subject, "err", err)
				continue
			}
			if e.Node != node {
				deliver(e)
			}
		}
	}
}

// errDetached is returned for calls after Detach.
var errDetached = fmt.Errorf("%w: natsbroker: detached", wsroute.ErrBrokerUnavailable)

// check returns an error unless node is the attached, not yet detached node.
// b.mu must be held.
func (b *Broker) check(node string) error {
	switch {
	case b.detached:
		return errDetached
	case !b.attached || node != b.node:
		return fmt.Errorf("natsbroker: node %q is not attached to this Broker", node)
	}
	return nil
}

// Subscribe implements wsroute.Broker. It records the subscription with
// nats.go, which sends it now when connected and again after every
// reconnection; during an outage it succeeds. When connected it waits (up
// to 2 s) for the server to confirm, so that publishes made after it
// returns reach this node.
//
// If ctx ends before the server has confirmed, Subscribe removes the
// subscription and returns an error wrapping ctx's cause: a nil return
// always means the topic is subscribed, and an error that it is not.
// Subscribe fails after Detach, and when Detach overtakes it.
func (b *Broker) Subscribe(ctx context.Context, node, topic string) error {
	subject := b.Subject(topic)
	if ctx.Err() != nil {
		return fmt.Errorf("natsbroker: subscribe %s: %w", subject, context.Cause(ctx))
	}
	b.mu.Lock()
	if err := b.check(node); err != nil {
		b.mu.Unlock()
		return err
	}
	if b.subs[topic] != nil {
		b.mu.Unlock()
		return nil
	}
	sub, err := b.nc.ChanSubscribe(subject, b.inbox)
	if err != nil {
		b.mu.Unlock()
		return classify("subscribe", subject, err)
	}
	b.subs[topic] = sub
	b.mu.Unlock()
	if b.nc.IsConnected() {
		fctx, cancel := context.WithTimeout(ctx, subscribeFlush)
		defer cancel()
		// Detach ends the wait: closing a connection of the Broker's own
		// would, but on the caller's it would last until the server answers.
		defer context.AfterFunc(b.life, cancel)()
		// The server handles a connection's messages in order: its PONG
		// comes after it has registered the SUB.
		err = b.nc.FlushWithContext(fctx)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.detached:
		return errDetached // Detach removed the subscription
	case err == nil:
		return nil
	case ctx.Err() != nil:
		// The caller gave up (its channel closed) before the server
		// confirmed: remove the subscription, so that nothing stays
		// subscribed that the Router does not know of.
		if b.subs[topic] == sub {
			delete(b.subs, topic)
		}
		if err := unsubscribe(sub); err != nil {
			b.log.Debug("natsbroker: removing a cancelled subscription", "subject", subject, "err", err)
		}
		return fmt.Errorf("natsbroker: subscribe %s: %w", subject, context.Cause(ctx))
	}
	// The subscription stands; nats.go sends it again on reconnection.
	b.log.Debug("natsbroker: subscription not confirmed", "subject", subject, "err", err)
	return nil
}

// Unsubscribe implements wsroute.Broker. It removes the subscription from
// the connection; during an outage it succeeds (the subscription is simply
// not restored). After Detach, which removed every subscription, it does
// nothing.
func (b *Broker) Unsubscribe(_ context.Context, node, topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return nil
	}
	if err := b.check(node); err != nil {
		return err
	}
	sub := b.subs[topic]
	if sub == nil {
		return nil
	}
	delete(b.subs, topic)
	return unsubscribe(sub)
}

// unsubscribe removes sub; a connection already closed has no subscription left.
func unsubscribe(sub *nats.Subscription) error {
	err := sub.Unsubscribe()
	if err == nil || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		return nil
	}
	return classify("unsubscribe", sub.Subject, err)
}

// Publish implements wsroute.Broker. It fails fast with an error wrapping
// wsroute.ErrBrokerUnavailable (and the nats.go error) when the connection
// is not up: disconnected, reconnecting, not connected yet, or closed.
// nats.go sends the message asynchronously; Publish does not wait for it.
func (b *Broker) Publish(ctx context.Context, e wsroute.Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.gone.Load() {
		return errDetached
	}
	subject := b.Subject(e.Topic)
	if !b.nc.IsConnected() {
		// Do not rely on the connection's reconnect buffer being disabled.
		return classify("publish", subject, statusErr(b.nc.Status()))
	}
	data, err := b.codec.Encode(e)
	if err != nil {
		return fmt.Errorf("natsbroker: publish %s: encode: %w", subject, err)
	}
	if err := b.nc.Publish(subject, data); err != nil {
		return classify("publish", subject, err)
	}
	return nil
}

// statusErr is the nats.go error for a connection that is not connected.
func statusErr(s nats.Status) error {
	switch s {
	case nats.CLOSED:
		return nats.ErrConnectionClosed
	case nats.DRAINING_PUBS, nats.DRAINING_SUBS:
		return nats.ErrConnectionDraining
	case nats.RECONNECTING, nats.CONNECTING:
		return nats.ErrConnectionReconnecting
	}
	return nats.ErrDisconnected
}

// classify wraps err, adding wsroute.ErrBrokerUnavailable unless the request
// itself was at fault.
func classify(op, subject string, err error) error {
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
		return fmt.Errorf("natsbroker: %s %s: %w", op, subject, err)
	}
	return fmt.Errorf("%w: natsbroker: %s %s: %w", wsroute.ErrBrokerUnavailable, op, subject, err)
}

// Detach implements wsroute.Broker: it removes every subscription, stops
// the delivery goroutine and waits for it, and closes the connection if New
// made it (Close, not Drain: the Router has closed its channels, so
// messages still in flight have nobody to go to, and Close still writes out
// what was published). A connection passed in Options.Conn stays open. A
// Subscribe still waiting for the server returns an error. Later calls of
// Detach return nil; afterwards Subscribe and Publish fail, and Unsubscribe
// does nothing (Router.Shutdown may leave background Unsubscribes running
// past Detach).
func (b *Broker) Detach(node string) error {
	b.mu.Lock()
	if b.detached {
		b.mu.Unlock()
		return nil
	}
	if b.attached && node != b.node {
		b.mu.Unlock()
		return fmt.Errorf("natsbroker: node %q is not attached to this Broker", node)
	}
	b.gone.Store(true)
	var errs []error
	for topic, sub := range b.subs {
		if err := unsubscribe(sub); err != nil {
			errs = append(errs, err)
		}
		delete(b.subs, topic)
	}
	b.detached = true
	b.end()
	attached := b.attached
	b.mu.Unlock()
	if attached {
		<-b.done
	}
	if b.owned {
		b.nc.Close()
		select { // the ClosedHandler runs last on nats.go's callback goroutine
		case <-b.closed:
		case <-time.After(closeWait):
			errs = append(errs, errors.New("natsbroker: connection did not report closing"))
		}
	}
	return errors.Join(errs...)
}

var _ wsroute.Broker = (*Broker)(nil)
