package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsroute/wsroute"
)

// Options configures a Broker. The zero value connects to a Redis server on
// 127.0.0.1:6379.
type Options struct {
	// Addr is the Redis server's host:port. Default "127.0.0.1:6379".
	// Ignored when Client is set.
	Addr string
	// Client, when set, is the Redis client the Broker uses instead of making
	// its own. The caller owns it: Detach leaves it open. Its own timeouts and
	// retries apply to publishes; set its ContextTimeoutEnabled so that
	// PublishTimeout also bounds socket reads and writes.
	Client *redis.Client
	// Prefix is put before every topic to make the Redis channel name, so
	// that several applications can share one Redis. Default "wsroute:".
	Prefix string
	// Codec turns envelopes into Redis messages and back. Every node of a
	// deployment must use the same one. Default wsroute.JSONCodec.
	Codec wsroute.EnvelopeCodec
	// Logger receives the Broker's logs (lost and restored connections,
	// undecodable messages). Default: silent.
	Logger *slog.Logger
	// PublishTimeout bounds one Publish, and the wait of a Subscribe or
	// Unsubscribe for Redis. Default 2s.
	PublishTimeout time.Duration
}

const (
	defaultAddr           = "127.0.0.1:6379"
	defaultPrefix         = "wsroute:"
	defaultPublishTimeout = 2 * time.Second
)

// Broker states.
const (
	stateNew = iota
	stateAttached
	stateDetached
)

// Broker is a wsroute.Broker over Redis Pub/Sub for one Router: pass it in
// wsroute.Options.Broker. Make one per Router; the Router attaches it in
// wsroute.New and detaches it in Router.Shutdown.
type Broker struct {
	opts      Options
	redisOpts *redis.Options // for the client Attach makes when Options.Client is nil
	log       *slog.Logger

	idleTimeout, pongTimeout time.Duration // the subscription's health check

	publisher atomic.Pointer[redis.Client] // the client while attached, for Publish

	mu      sync.Mutex               // guards the fields below
	state   int                      // stateNew, stateAttached, then stateDetached
	client  *redis.Client            // Options.Client, or made by Attach
	owned   bool                     // client was made by Attach and is closed by Detach
	node    string                   // the attached Router's node id
	deliver func(wsroute.Envelope)   // the attached Router's delivery function
	ps      *redis.PubSub            // the subscription connection, from Attach
	waiters map[string]chan struct{} // PING token of a Subscribe → closed when Redis answers it, or by Detach
	tokens  uint64                   // the last token's number
	cancel  context.CancelFunc       // stops the receiving goroutine
	done    chan struct{}            // closed when the receiving goroutine has returned
}

var _ wsroute.Broker = (*Broker)(nil)

// New returns a Broker configured by opts. It does not connect: a Redis that
// is down or unreachable is not an error here (the Broker connects when
// attached and keeps reconnecting), only invalid options are. Unless
// opts.Client is set, the Broker makes its Redis client when attached.
func New(opts Options) (*Broker, error) {
	if opts.PublishTimeout < 0 {
		return nil, fmt.Errorf("redisbroker: negative PublishTimeout %v", opts.PublishTimeout)
	}
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = defaultPublishTimeout
	}
	if opts.Prefix == "" {
		opts.Prefix = defaultPrefix
	}
	if opts.Codec == nil {
		opts.Codec = wsroute.JSONCodec{}
	}
	b := &Broker{
		opts: opts, client: opts.Client, log: opts.Logger, waiters: make(map[string]chan struct{}),
		idleTimeout: defaultIdleTimeout, pongTimeout: defaultPongTimeout,
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.client == nil {
		if b.opts.Addr == "" {
			b.opts.Addr = defaultAddr
		}
		if _, _, err := net.SplitHostPort(b.opts.Addr); err != nil {
			return nil, fmt.Errorf("redisbroker: Addr %q is not host:port: %w", b.opts.Addr, err)
		}
		b.redisOpts = &redis.Options{
			Addr: b.opts.Addr,
			// Fail fast when Redis is away: one dial attempt of at most a
			// second, one retry (a pooled connection may be stale after a
			// Redis restart), and the caller's context honoured everywhere.
			DialTimeout:           min(opts.PublishTimeout, time.Second),
			DialerRetries:         1,
			MaxRetries:            1,
			ReadTimeout:           opts.PublishTimeout,
			WriteTimeout:          opts.PublishTimeout,
			PoolTimeout:           opts.PublishTimeout,
			ContextTimeoutEnabled: true,
		}
	}
	return b, nil
}

// Attach implements wsroute.Broker. It makes the Redis client unless
// Options.Client is set, and starts the goroutine that reads the
// subscription connection (opened at once, and reopened whenever lost). A
// Broker serves one Router: it panics if attached a second time.
func (b *Broker) Attach(node string, deliver func(wsroute.Envelope)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != stateNew {
		panic(fmt.Sprintf("redisbroker: Attach(%q): this Broker was already attached to the Router of node %q; "+
			"make one Broker per Router", node, b.node))
	}
	b.state, b.node, b.deliver = stateAttached, node, deliver
	if b.client == nil {
		b.client, b.owned = redis.NewClient(b.redisOpts), true
	}
	b.publisher.Store(b.client)
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	b.ps = b.client.Subscribe(ctx) // no channel yet: nothing is sent
	go b.receive(ctx, b.ps, b.done)
}

// errDetached is returned by Subscribe after Detach.
var errDetached = errors.New("redisbroker: Broker detached")

// pubsub returns the subscription connection if node is attached.
func (b *Broker) pubsub(node string) (*redis.PubSub, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pubsubLocked(node)
}

// pubsubLocked is pubsub with b.mu held.
func (b *Broker) pubsubLocked(node string) (*redis.PubSub, error) {
	switch {
	case b.state == stateNew:
		return nil, errors.New("redisbroker: Broker not attached to a Router")
	case b.state == stateDetached:
		return nil, errDetached
	case node != b.node:
		return nil, fmt.Errorf("redisbroker: node %q is not the one attached (%q)", node, b.node)
	}
	return b.ps, nil
}

// detached reports whether Detach has begun.
func (b *Broker) detached() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == stateDetached
}

// Subscribe implements wsroute.Broker: it subscribes the node to the Redis
// channel Prefix+topic and waits, at most PublishTimeout, until Redis has
// taken the subscription, so that a publish made anywhere after Subscribe
// returns reaches the node. While Redis is unreachable (or slower than
// PublishTimeout) it logs and returns nil: the subscription is recorded and
// made when the connection is restored.
//
// If ctx ends before Redis has taken the subscription, Subscribe undoes it
// and returns an error wrapping ctx's cause: a nil return always means the
// topic is wanted, and an error that it is not. Subscribe fails after
// Detach, and when Detach overtakes it.
func (b *Broker) Subscribe(ctx context.Context, node, topic string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redisbroker: subscribe %q: %w", topic, context.Cause(ctx))
	}
	// The waiter is registered under the same lock as the state check, so
	// that Detach, which wakes every waiter, cannot miss it.
	b.mu.Lock()
	ps, err := b.pubsubLocked(node)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	b.tokens++
	token := fmt.Sprintf("%s%d", tokenPrefix, b.tokens)
	confirmed := make(chan struct{})
	b.waiters[token] = confirmed
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiters, token)
		b.mu.Unlock()
	}()

	channel := b.opts.Prefix + topic
	wctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	// go-redis records the channel before sending SUBSCRIBE, even when that
	// fails, and subscribes every recorded channel again on each new
	// connection: an error here only delays the subscription.
	err = ps.Subscribe(wctx, channel)
	if err == nil {
		// Redis answers a connection's commands in order, so the answer to
		// this PING, carrying a token of this call's own, comes once the
		// SUBSCRIBE has taken effect: on this connection, or on the one that
		// replaced it meanwhile, where go-redis subscribed every recorded
		// channel before sending anything else. Waiting for Redis's
		// "subscribe" reply instead could take a late one to an earlier
		// SUBSCRIBE of the same channel (by a Subscribe that gave up) for
		// this one's.
		err = ps.Ping(wctx, token)
	}
	if err == nil {
		select {
		case <-confirmed:
			if b.detached() {
				return errDetached
			}
			return nil
		case <-wctx.Done():
		}
	}
	switch {
	case b.detached() || errors.Is(err, redis.ErrClosed):
		return errDetached
	case ctx.Err() != nil:
		// The caller gave up (its channel closed) before Redis took the
		// subscription: withdraw it, so that nothing stays subscribed that
		// the Router does not know of. go-redis forgets the channel before
		// sending UNSUBSCRIBE, so it is not restored even if that fails.
		uctx, cancel := context.WithTimeout(context.Background(), b.opts.PublishTimeout)
		defer cancel()
		if err := ps.Unsubscribe(uctx, channel); err != nil {
			b.log.Debug("redisbroker: withdrawing a cancelled subscription", "topic", topic, "err", err)
		}
		return fmt.Errorf("redisbroker: subscribe %q: %w", topic, context.Cause(ctx))
	case err != nil:
		b.log.Warn("redisbroker: Redis unreachable; the subscription will be made on reconnection",
			"topic", topic, "err", err)
	default:
		b.log.Warn("redisbroker: Redis did not confirm a subscription in time", "topic", topic)
	}
	return nil
}

// tokenPrefix starts the payload of the PINGs by which Subscribe learns
// that Redis has taken a subscription (the health check's PING has none).
const tokenPrefix = "redisbroker-subscribed:"

// confirm wakes the Subscribe whose PING carried token.
func (b *Broker) confirm(token string) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w := b.waiters[token]; w != nil {
		close(w)
		delete(b.waiters, token)
	}
}

// Unsubscribe implements wsroute.Broker: it unsubscribes the node from the
// Redis channel Prefix+topic. While Redis is unreachable it logs and returns
// nil: the channel is forgotten, and not subscribed again on reconnection.
// After Detach, which ended every subscription, it does nothing.
func (b *Broker) Unsubscribe(ctx context.Context, node, topic string) error {
	ps, err := b.pubsub(node)
	if errors.Is(err, errDetached) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	// go-redis forgets the channel before sending UNSUBSCRIBE; should that
	// fail, the connection is replaced and the channel is not restored.
	if err := ps.Unsubscribe(ctx, b.opts.Prefix+topic); err != nil && !errors.Is(err, redis.ErrClosed) {
		b.log.Warn("redisbroker: Redis unreachable; unsubscribed on reconnection", "topic", topic, "err", err)
	}
	return nil
}

// Publish implements wsroute.Broker: it publishes the encoded envelope on the
// Redis channel Prefix+e.Topic. It returns within PublishTimeout; when Redis
// cannot be reached or refuses the command, the error wraps
// wsroute.ErrBrokerUnavailable, and nothing is buffered or retried later. If
// ctx ends first, the error wraps ctx's cause instead.
func (b *Broker) Publish(ctx context.Context, e wsroute.Envelope) error {
	client := b.publisher.Load()
	if client == nil {
		return fmt.Errorf("redisbroker: %w: Broker not attached", wsroute.ErrBrokerUnavailable)
	}
	msg, err := b.opts.Codec.Encode(e)
	if err != nil {
		return fmt.Errorf("redisbroker: encode envelope: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	if err := client.Publish(pctx, b.opts.Prefix+e.Topic, msg).Err(); err != nil {
		if ctx.Err() != nil { // the caller gave up; Redis is not to blame
			return fmt.Errorf("redisbroker: publish: %w", context.Cause(ctx))
		}
		return fmt.Errorf("redisbroker: %w: %w", wsroute.ErrBrokerUnavailable, err)
	}
	return nil
}

// Detach implements wsroute.Broker: it closes the subscription connection,
// waits for the goroutine reading it to return, and closes the Redis client
// if the Broker made it; a Subscribe still waiting for Redis returns an
// error. Later calls of Detach return nil; afterwards Subscribe and Publish
// fail, and Unsubscribe does nothing (Router.Shutdown may leave background
// Unsubscribes running past Detach).
func (b *Broker) Detach(node string) error {
	b.mu.Lock()
	switch {
	case b.state == stateNew:
		b.mu.Unlock()
		return errors.New("redisbroker: Detach of a Broker never attached")
	case node != b.node:
		b.mu.Unlock()
		return fmt.Errorf("redisbroker: Detach(%q): attached to node %q", node, b.node)
	case b.state == stateDetached:
		b.mu.Unlock()
		return nil
	}
	b.state = stateDetached
	b.publisher.Store(nil)
	for ch, w := range b.waiters {
		close(w)
		delete(b.waiters, ch)
	}
	ps, cancel, done, client, owned := b.ps, b.cancel, b.done, b.client, b.owned
	b.mu.Unlock()

	cancel() // abandons a dial in progress
	err := ps.Close()
	<-done
	if owned {
		err = errors.Join(err, client.Close())
	}
	if err != nil {
		return fmt.Errorf("redisbroker: detach: %w", err)
	}
	return nil
}
