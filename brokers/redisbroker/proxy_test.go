package redisbroker_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// proxy forwards loopback TCP connections to a target. It can make a
// network path die silently (freeze), or make the server, or its answers,
// late on demand (holding back one direction's bytes); it counts the
// connections it accepted and those still open.
type proxy struct {
	l      net.Listener
	target string
	stop   chan struct{} // closed by close: held bytes are dropped
	wg     sync.WaitGroup

	up   gate // client → server
	down gate // server → client

	upBytes  atomic.Int64 // bytes read from clients, held back or not
	accepted atomic.Int64 // connections accepted
	open     atomic.Int64 // connections not yet closed on both sides

	mu     sync.Mutex // guards conns and closed
	conns  []*proxyConn
	closed bool
}

type proxyConn struct {
	frozen    atomic.Bool
	down, up  net.Conn
	closeOnce sync.Once
	pipes     atomic.Int32 // pipes still running
}

func (pc *proxyConn) close() {
	pc.closeOnce.Do(func() {
		_ = pc.down.Close()
		_ = pc.up.Close()
	})
}

// newProxy starts a proxy to target, stopped when the test ends.
func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{l: l, target: target, stop: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// addr is the proxy's host:port.
func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = down.Close()
			continue
		}
		pc := &proxyConn{down: down, up: up}
		pc.pipes.Store(2)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pc.close()
			return
		}
		p.conns = append(p.conns, pc)
		p.accepted.Add(1)
		p.open.Add(1)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(pc, down, up, &p.up, &p.upBytes)
		go p.pipe(pc, up, down, &p.down, nil)
	}
}

// pipe copies from one end to the other through g, dropping everything
// once frozen; when either end fails it closes both.
func (p *proxy) pipe(pc *proxyConn, from, to net.Conn, g *gate, count *atomic.Int64) {
	defer p.wg.Done()
	defer func() {
		pc.close()
		if pc.pipes.Add(-1) == 0 {
			p.open.Add(-1)
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			return
		}
		if count != nil {
			count.Add(int64(n))
		}
		if pc.frozen.Load() {
			continue
		}
		if !g.pass(p.stop) {
			return
		}
		if _, err := to.Write(buf[:n]); err != nil {
			return
		}
	}
}

// freeze silences every connection open so far, like a network path that
// died without a reset; new connections work.
func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.frozen.Store(true)
	}
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	close(p.stop)
	_ = p.l.Close()
	for _, pc := range p.conns {
		pc.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// gate holds back the bytes of one direction while held.
type gate struct {
	mu       sync.Mutex
	released chan struct{} // non-nil while held; closed by release
}

// hold makes the bytes read from now on wait.
func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.released == nil {
		g.released = make(chan struct{})
	}
}

// release lets the held bytes, and those after them, through, in order.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.released != nil {
		close(g.released)
		g.released = nil
	}
}

// pass waits while g is held; false if stop came first.
func (g *gate) pass(stop <-chan struct{}) bool {
	g.mu.Lock()
	released := g.released
	g.mu.Unlock()
	if released == nil {
		return true
	}
	select {
	case <-released:
		return true
	case <-stop:
		return false
	}
}

// waitUntil polls cond until it holds, failing t after 10s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("not within 10s: %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// result waits, at most 10s, for the error a call sends on ch.
func result(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return within 10s")
		return errors.New("timeout")
	}
}
