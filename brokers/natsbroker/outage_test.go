package natsbroker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
)

// runServer starts an embedded NATS server on a loopback port (a free one
// for port 0), shut down at the end of the test if still running.
func runServer(t testing.TB, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(wait), "embedded NATS did not start")
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func serverURL(s *server.Server) string { return fmt.Sprintf("nats://%s", s.Addr()) }

func serverPort(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// stop shuts s down and waits until it has.
func stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// serverSubs returns how many of s's subscriptions match the subject.
func serverSubs(t testing.TB, s *server.Server, subject string) int {
	t.Helper()
	sz, err := s.Subsz(&server.SubszOptions{Subscriptions: true, Test: subject})
	require.NoError(t, err)
	return sz.Total
}

// waitStatus waits, bounded by ctx, until nc is in status (or already is).
func waitStatus(ctx context.Context, t testing.TB, nc *nats.Conn, status nats.Status) {
	t.Helper()
	ch := nc.StatusChanged(status)
	defer nc.RemoveStatusListener(ch)
	if nc.Status() == status {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("connection not %v in time; it is %v", status, nc.Status())
	}
}

// until calls try every 100 ms until it reports true, bounded by about 15 s.
func until(t testing.TB, what string, try func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !try() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s: not within 15 s", what)
		}
	}
}

// receivedWhilePublishing publishes on from every 100 ms until cl receives
// the event, bounded by about 15 s, and returns the errors Publish returned.
// Extra copies of this or earlier such events are skipped.
func receivedWhilePublishing(t testing.TB, from *node, cl *client, topic string) []error {
	t.Helper()
	var errs []error
	until(t, "publishes on "+topic+" to reach the other node", func() bool {
		if err := from.r.Publish(t.Context(), topic, "again", wsroute.PublishOptions{}); err != nil {
			errs = append(errs, err)
		}
		for {
			select {
			case f := <-cl.frames:
				var e struct{ Topic, Data string }
				require.NoError(t, json.Unmarshal([]byte(f), &e), f)
				require.Equal(t, "again", e.Data, "unexpected frame %s", f)
				if e.Topic == topic {
					return true
				}
			default:
				return false
			}
		}
	})
	return errs
}

func TestOutageAndRecovery(t *testing.T) {
	t.Parallel()
	srv := runServer(t, 0)
	u, p := serverURL(srv), prefix()
	// A on a connection of its own with short reconnect waits, B on one New makes.
	a := newNode(t, natsbroker.Options{Prefix: p, Conn: connect(t, u, nats.ReconnectWait(100*time.Millisecond))})
	logs := &logBuffer{}
	b := newNode(t, natsbroker.Options{Prefix: p, URL: u, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	a1, b1 := a.dial(t), b.dial(t)
	a1.sub("t")
	b1.sub("t")
	b.publish(t, "t", "before", wsroute.PublishOptions{})
	b1.expect("t", "before")
	a1.expect("t", "before")
	require.Equal(t, 2, serverSubs(t, srv, b.b.Subject("t")))

	port := serverPort(srv)
	stop(srv)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	waitStatus(ctx, t, b.b.Conn(), nats.RECONNECTING)
	err := b.r.Publish(ctx, "t", "during", wsroute.PublishOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, wsroute.ErrBrokerUnavailable)
	assert.ErrorIs(t, err, nats.ErrConnectionReconnecting)
	b1.expect("t", "during") // the local subscriber still gets it
	// nats.go itself refuses too, for the reconnect buffer is off.
	assert.ErrorIs(t, b.b.Conn().Publish("x", nil), nats.ErrReconnectBufExceeded)
	// Subscribing and unsubscribing work during the outage.
	b2 := b.dial(t)
	b2.sub("t2")
	a1.sub("t3")
	a1.unsub("t3")
	a1.sub("t4")

	srv = runServer(t, port)
	errs := receivedWhilePublishing(t, b, a1, "t")
	for _, err := range errs {
		assert.ErrorIs(t, err, wsroute.ErrBrokerUnavailable, "while B reconnects")
	}
	receivedWhilePublishing(t, a, b2, "t2") // made during the outage
	receivedWhilePublishing(t, b, a1, "t4")
	b1.expect("t", "again")
	assert.Equal(t, 2, serverSubs(t, srv, b.b.Subject("t")), "restored without the application")
	assert.Equal(t, 1, serverSubs(t, srv, b.b.Subject("t2")))
	assert.Zero(t, serverSubs(t, srv, b.b.Subject("t3")))
	assert.Equal(t, 1, serverSubs(t, srv, b.b.Subject("t4")))
	assert.Contains(t, logs.String(), "natsbroker: disconnected")
	assert.Contains(t, logs.String(), "natsbroker: reconnected")
}

// logBuffer collects log output.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestNATSDownAtStart(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	u, p := fmt.Sprintf("nats://127.0.0.1:%d", port), prefix()

	a := newNode(t, natsbroker.Options{Prefix: p, URL: u}) // nothing listens yet
	a1 := a.dial(t)
	a1.sub("t") // recorded, sent once connected
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	err = a.r.Publish(ctx, "t", "alone", wsroute.PublishOptions{})
	assert.ErrorIs(t, err, wsroute.ErrBrokerUnavailable)
	a1.expect("t", "alone")
	assert.ErrorIs(t, a.b.Conn().Publish("x", nil), nats.ErrReconnectBufExceeded, "not connected yet")

	runServer(t, port)
	b := newNode(t, natsbroker.Options{Prefix: p, URL: u})
	receivedWhilePublishing(t, b, a1, "t")
}

func TestUnsubscribeRemovesServerSubscription(t *testing.T) {
	t.Parallel()
	srv := runServer(t, 0)
	a := newNode(t, natsbroker.Options{URL: serverURL(srv), Prefix: prefix()})
	subject := a.b.Subject("t")
	a1, a2 := a.dial(t), a.dial(t)
	a1.sub("t")
	a2.sub("t")
	assert.Equal(t, 1, serverSubs(t, srv, subject), "one subscription per node, not per channel")
	a1.unsub("t")
	a2.unsub("t")
	require.NoError(t, a.b.Conn().Flush()) // the server has read the UNSUB
	until(t, "the server subscription to go", func() bool { return serverSubs(t, srv, subject) == 0 })
}

func TestPublishFailsOnClosedConn(t *testing.T) {
	t.Parallel()
	srv := runServer(t, 0)
	nc := connect(t, serverURL(srv))
	b := newNode(t, natsbroker.Options{Conn: nc, Prefix: prefix()})
	nc.Close() // the owner closes it under the Router
	err := b.r.Publish(t.Context(), "t", 1, wsroute.PublishOptions{})
	assert.ErrorIs(t, err, wsroute.ErrBrokerUnavailable)
	assert.True(t, errors.Is(err, nats.ErrConnectionClosed), "%v", err)
}
