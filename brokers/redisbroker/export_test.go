package redisbroker

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientOf returns the Redis client b uses, for tests.
func ClientOf(b *Broker) *redis.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.client
}

// SetHealthCheck changes b's subscription health check; call it before
// the Broker is attached.
func SetHealthCheck(b *Broker, idle, pong time.Duration) {
	b.idleTimeout, b.pongTimeout = idle, pong
}

// ErrDetached is the error of a Subscribe after Detach.
var ErrDetached = errDetached
