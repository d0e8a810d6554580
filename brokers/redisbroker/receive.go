package redisbroker

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// defaultIdleTimeout is how long the subscription connection may stay
	// silent before a PING checks that it is alive.
	defaultIdleTimeout = 5 * time.Second
	// defaultPongTimeout bounds the wait for the PING's answer, and a dial
	// made by the receiving goroutine.
	defaultPongTimeout = 2 * time.Second
	// minBackoff and maxBackoff bound the wait between reconnection attempts.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// receive reads the subscription connection until ctx is cancelled or ps is
// closed, delivering messages one at a time, in the order Redis sent them.
//
// Reconnection is go-redis's: when a read fails, PubSub drops the connection,
// and the next read dials a new one and subscribes again to every channel
// recorded by Subscribe and not removed by Unsubscribe (see PubSub.conn and
// PubSub.resubscribe in go-redis's pubsub.go). This loop only waits between
// attempts and detects a dead connection that never errors: after
// idleTimeout (5s) of silence it sends PING, and if no answer arrives within
// pongTimeout (2s) the read times out with a deadline go-redis treats as fatal,
// so the connection is replaced.
func (b *Broker) receive(ctx context.Context, ps *redis.PubSub, done chan<- struct{}) {
	defer close(done)
	var (
		awaitingPong bool
		failures     int
	)
	for {
		msg, err := b.next(ctx, ps, awaitingPong)
		switch {
		case err == nil:
			awaitingPong = false
			b.connected(&failures)
			b.handle(msg)
			continue
		case errors.Is(err, redis.ErrClosed) || ctx.Err() != nil:
			return
		case !awaitingPong && isIdle(err):
			b.connected(&failures)
			pctx, cancel := context.WithTimeout(ctx, b.pongTimeout)
			err = ps.Ping(pctx)
			cancel()
			if err == nil {
				awaitingPong = true
				continue
			}
		}
		awaitingPong = false
		failures++
		if failures == 1 {
			b.log.Warn("redisbroker: Redis connection lost; reconnecting", "err", err)
		} else {
			b.log.Debug("redisbroker: reconnection failed", "attempt", failures, "err", err)
		}
		t := time.NewTimer(min(minBackoff<<min(failures-1, 10), maxBackoff))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// next returns the next message of ps. Waiting for a PONG, a timeout makes
// go-redis drop the connection; otherwise it only reports silence.
func (b *Broker) next(ctx context.Context, ps *redis.PubSub, awaitingPong bool) (any, error) {
	if awaitingPong {
		rctx, cancel := context.WithTimeout(ctx, b.pongTimeout)
		defer cancel()
		return ps.Receive(rctx)
	}
	// The context bounds a dial, made under PubSub's lock, that would hold
	// up Subscribe and Unsubscribe; the read itself times out at idleTimeout.
	rctx, cancel := context.WithTimeout(ctx, b.idleTimeout+b.pongTimeout)
	defer cancel()
	return ps.ReceiveTimeout(rctx, b.idleTimeout)
}

// isIdle reports whether err is a read timing out on a live connection,
// rather than a failed dial.
func isIdle(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) && netErr.Timeout() &&
		!errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &opErr) && opErr.Op == "dial")
}

// connected notes that the connection works, logging a recovery.
func (b *Broker) connected(failures *int) {
	if *failures > 0 {
		b.log.Info("redisbroker: Redis connection restored; subscriptions renewed", "attempts", *failures)
		*failures = 0
	}
}

// handle delivers a message from another node, and wakes the Subscribe
// waiting for the answer to its PING.
func (b *Broker) handle(msg any) {
	switch m := msg.(type) {
	case *redis.Message:
		topic, ok := strings.CutPrefix(m.Channel, b.opts.Prefix)
		if !ok {
			return
		}
		e, err := b.opts.Codec.Decode([]byte(m.Payload))
		if err != nil {
			b.log.Warn("redisbroker: dropping a message that does not decode", "channel", m.Channel, "err", err)
			return
		}
		if e.Node == b.node {
			return // this node's own publish, echoed: the Router has delivered it
		}
		e.Topic = topic
		b.deliver(e)
	case *redis.Pong:
		b.confirm(m.Payload)
	}
}
