package wsroute

// Regression tests for the bugs of issue 7 that need internal access (queued
// bytes, a connection whose writes or pings the test controls, the steps of a
// race). See trust_test.go for the others.

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/internal/transport"
)

// trustWait bounds every wait for something the fixed code does at once
// (fake time: these tests run in synctest bubbles).
const trustWait = 5 * time.Second

// trustRoute returns a new Router (not shut down by the test's end) and its
// channel at "/c".
func trustRoute(opts Options, cfg ChannelConfig) (*Router, *ChannelRoute) {
	r := New(opts)
	return r, r.Channel("/c", cfg)
}

// trustHeartbeat sets the heartbeat's limits.
func trustHeartbeat(opts Options, interval, pongTimeout time.Duration) Options {
	opts.Limits.PingInterval, opts.Limits.PongTimeout = interval, pongTimeout
	return opts
}

// trustDial opens r's channel "/c" on conn, the server end of an in-memory
// connection, through the real open lifecycle, as wsroutetest does (which this
// package cannot import). done is closed when the channel's life is over.
func trustDial(t *testing.T, r *Router, conn transport.Conn) (c *Channel, done <-chan struct{}) {
	t.Helper()
	hook := &transport.Hook{Conn: conn, Opened: make(chan struct{})}
	req := httptest.NewRequestWithContext(transport.WithHook(context.Background(), hook), http.MethodGet, "/c", nil)
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "d3Nyb3V0ZS1iZW5jaC1rIQ=="} {
		req.Header.Set(k, v)
	}
	d := make(chan struct{})
	go func() {
		defer close(d)
		r.ServeHTTP(httptest.NewRecorder(), req)
	}()
	select {
	case <-hook.Opened:
	case <-d:
		t.Fatal("opening refused")
	}
	return hook.Channel.(*Channel), d
}

// trustGate is the server end of an in-memory pipe whose writes wait for the
// test: each Write offers its data on writes, then waits for a value on
// proceed — unless open is closed (writes pass freely) or the connection ends.
type trustGate struct {
	*transport.End
	held    []transport.Frame // what Send held: the peer takes nothing without a writer waiting
	heldN   int
	writes  chan []byte
	proceed chan struct{}
	open    chan struct{}
	dead    chan struct{}
	kill    sync.Once
}

func newTrustGate(end *transport.End) *trustGate {
	return &trustGate{End: end, writes: make(chan []byte), proceed: make(chan struct{}), open: make(chan struct{}), dead: make(chan struct{})}
}

func (g *trustGate) Write(ctx context.Context, typ websocket.MessageType, p []byte) error {
	select {
	case g.writes <- p:
	case <-g.open:
	case <-g.dead:
		return net.ErrClosed
	}
	select {
	case <-g.proceed:
	case <-g.open:
	case <-g.dead:
		return net.ErrClosed
	}
	return g.End.Write(ctx, typ, p)
}

// Send holds every frame, as a socket that takes nothing at once would.
func (g *trustGate) Send(frames []transport.Frame) (int, error) {
	for _, f := range frames {
		g.held = append(g.held, transport.Frame{Data: bytes.Clone(f.Data), Binary: f.Binary})
		g.heldN += len(f.Data)
	}
	return g.heldN, nil
}

// Discard drops what Send held.
func (g *trustGate) Discard() { g.held, g.heldN = nil, 0 }

// Flush writes what Send held, one frame at a time through the gate.
func (g *trustGate) Flush() error {
	defer func() { g.held, g.heldN = nil, 0 }()
	for _, f := range g.held {
		typ := websocket.MessageText
		if f.Binary {
			typ = websocket.MessageBinary
		}
		if err := g.Write(context.Background(), typ, f.Data); err != nil {
			return err
		}
	}
	return nil
}

func (g *trustGate) Close(code websocket.StatusCode, reason string) error {
	g.kill.Do(func() { close(g.dead) })
	return g.End.Close(code, reason)
}

func (g *trustGate) CloseNow() error {
	g.kill.Do(func() { close(g.dead) })
	return g.End.CloseNow()
}

// trustSilentPeer is the server end of an in-memory pipe whose peer never
// answers a ping: Ping returns when its context ends.
type trustSilentPeer struct {
	*transport.End
	pinging atomic.Int32 // pings in flight
}

func (p *trustSilentPeer) Ping(ctx context.Context) error {
	p.pinging.Add(1)
	defer p.pinging.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

// Bug 7: a connection's queues are bounded in bytes (inbound 256 KiB, send
// 1 MiB), not only in frames.
func TestTrustQueueBytes(t *testing.T) {
	t.Parallel()
	pad := strings.Repeat("x", 60<<10)
	t.Run("inbound", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			r, cr := trustRoute(Options{}, ChannelConfig{Public: true})
			Handle(cr, "block", func(context.Context, *Channel, struct{}) (*struct{}, error) {
				<-release
				return nil, nil
			}, RouteConfig{Public: true})
			server, client := transport.NewPipe()
			c, done := trustDial(t, r, server)
			frame := []byte(`{"action":"block","pad":"` + pad + `"}`)
			for range 40 {
				require.NoError(t, client.Write(context.Background(), websocket.MessageText, frame))
			}
			synctest.Wait() // the reader has read all it reads before pausing
			c.mu.Lock()
			queued, frames, read := 0, c.inQ.len(), c.received
			for i := range c.inQ.n {
				queued += len(c.inQ.buf[(c.inQ.head+i)%len(c.inQ.buf)].data)
			}
			c.mu.Unlock()
			assert.Less(t, queued-len(frame), 256<<10,
				"the reader kept reading past the 256 KiB inbound budget: %d frames read, %d frames (%d KiB) queued", read, frames, queued>>10)
			close(release)
			_ = client.CloseNow()
			<-done
			require.NoError(t, r.Shutdown(context.Background()))
		})
	})
	t.Run("outbound", func(t *testing.T) {
		t.Parallel()
		r, _ := trustRoute(Options{}, ChannelConfig{Public: true})
		server, client := transport.NewPipe()
		g := newTrustGate(server) // the peer reads nothing: the first write never ends
		c, done := trustDial(t, r, g)
		accepted := 0
		var err error
		for range 40 {
			if err = c.Send(context.Background(), pad); err != nil {
				break
			}
			accepted++
		}
		assert.ErrorIs(t, err, ErrSlowConsumer, "%d frames (%d KiB) queued for a peer that reads nothing, and no drop", accepted, accepted*len(pad)>>10)
		assert.LessOrEqual(t, accepted*len(pad), 1<<20+2*len(pad), "accepted past the 1 MiB send budget (plus the frame being written)")
		close(g.open)
		_ = client.CloseNow()
		<-done
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

// Bug 9: the channel's worker writes inline what was queued when it began,
// and more only while none of its connection's messages waits: broadcast
// load must not keep it from the connection's next message.
func TestTrustInlineWrite(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		second := make(chan struct{})
		r, cr := trustRoute(Options{}, ChannelConfig{Public: true})
		Handle(cr, "first", func(context.Context, *Channel, struct{}) (string, error) { return "one", nil }, RouteConfig{Public: true})
		Handle(cr, "second", func(context.Context, *Channel, struct{}) (string, error) {
			close(second)
			return "two", nil
		}, RouteConfig{Public: true})
		server, client := transport.NewPipe()
		g := newTrustGate(server)
		c, done := trustDial(t, r, g)
		require.NoError(t, c.Subscribe("load"))
		for _, f := range []string{`{"action":"first"}`, `{"action":"second"}`} {
			require.NoError(t, client.Write(context.Background(), websocket.MessageText, []byte(f)))
		}
		assert.Equal(t, `{"action":"first","result":"one"}`, string(<-g.writes)) // written inline by the worker
		// A publisher keeps the send queue non-empty:
		for i := range 3 {
			require.NoError(t, r.Publish(context.Background(), "load", i, PublishOptions{}))
			g.proceed <- struct{}{} // the write in progress ends...
			<-g.writes              // ...and the next one begins
		}
		select {
		case <-second:
		case <-time.After(trustWait):
			t.Errorf("the second message was not handled within %v: the worker keeps writing broadcast events", trustWait)
		}
		close(g.open)
		_ = client.CloseNow()
		<-done
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

// Bug 10 (expiry race): when two SetSessionUntil race, the expiry timer
// follows the session that won.
func TestTrustExpiryRace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		closed := make(chan CloseInfo, 1)
		r, _ := trustRoute(Options{}, ChannelConfig{
			Authenticator: AuthenticatorFunc(func(_ context.Context, c *Channel) error { c.SetSession("alice"); return nil }),
			OnDisconnect:  func(_ context.Context, _ *Channel, info CloseInfo) { closed <- info },
		})
		server, client := transport.NewPipe()
		c, done := trustDial(t, r, server)
		soon, later := time.Now().Add(time.Minute), time.Now().Add(10*time.Minute)
		// Two goroutines set a session at once. The session stored last
		// must be the one the expiry timer follows (the old code could arm
		// the timer for the one that lost).
		var wg sync.WaitGroup
		wg.Go(func() { c.SetSessionUntil("a", soon) })
		wg.Go(func() { c.SetSessionUntil("b", later) })
		wg.Wait()
		won := c.SessionExpiry()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		select {
		case info := <-closed:
			assert.Equal(t, soon, won, "closed at +1min although the session that won expires at %v", won)
			assert.Equal(t, StatusSessionExpired, info.Code)
		default:
			assert.Equal(t, later, won, "the session that won expired at +1min, yet the channel is open at +2min")
			time.Sleep(9 * time.Minute)
			synctest.Wait()
			select {
			case info := <-closed:
				assert.Equal(t, StatusSessionExpired, info.Code)
			default:
				t.Errorf("the session expired at +10min, yet the channel is open at +11min")
			}
		}
		_ = client.CloseNow()
		<-done
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

// Bug 10 (timers): when Shutdown returns nil, every goroutine the Router
// started has ended, timer goroutines included.
func TestTrustShutdownTimers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r, _ := trustRoute(trustHeartbeat(Options{}, 30*time.Second, 15*time.Second), ChannelConfig{Public: true})
		server, _ := transport.NewPipe()
		p := &trustSilentPeer{End: server}
		_, done := trustDial(t, r, p)
		time.Sleep(31 * time.Second)
		synctest.Wait()
		require.Equal(t, int32(1), p.pinging.Load(), "a ping is in flight")
		require.NoError(t, r.Shutdown(context.Background()))
		<-done
		assert.Zero(t, p.pinging.Load(), "Shutdown returned nil while the heartbeat timer's goroutine still waited for a pong")
		time.Sleep(15 * time.Second) // on the old code, let that ping time out so that the bubble can end
	})
}
