// Package servicetest finds the real services (Redis, NATS) that tests of
// several modules talk to, with one rule for their absence: outside CI a
// test skips, saying how to start the service; with the environment
// variable CI set it fails, so CI cannot pass without running it.
package servicetest

import (
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Start commands for the hints.
const (
	RedisHint = `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`
	NATSHint  = "nats-server -a 127.0.0.1 -p 4222"
)

// RedisAddr is the test Redis: $WSROUTE_REDIS_ADDR, else 127.0.0.1:6379.
func RedisAddr() string {
	if a := os.Getenv("WSROUTE_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// NATSURL is the test NATS: $WSROUTE_NATS_URL, else nats://127.0.0.1:4222.
func NATSURL() string {
	if u := os.Getenv("WSROUTE_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// HostOf returns the host:port of a service URL (nats://host:port), or s.
func HostOf(s string) string {
	if p, err := url.Parse(s); err == nil && p.Host != "" {
		return p.Host
	}
	return s
}

// Need skips t when nothing answers at addr (fails it when CI is set),
// naming the service and how to start it.
func Need(t testing.TB, name, addr, hint string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = c.Close()
		return
	}
	msg := name + " does not answer at " + addr + " (" + err.Error() + "); start it with:\n\t" + hint
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + "\n(skipped outside CI; with CI set this fails)")
}
