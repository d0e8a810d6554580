package brokertest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Proxy forwards loopback TCP connections to a target, such as a broker's
// engine. It can make a network path die silently (Freeze), or make the
// server, or its answers, late on demand (holding back one direction's
// bytes with Up or Down); it counts the bytes clients sent, the connections
// it accepted and those still open. It knows nothing of the protocol it
// carries: a test that waits for a given command looks at UpBytes, or
// wraps the proxy's target in an engine-aware one of its own.
type Proxy struct {
	// Up holds back the bytes from clients to the server, Down those from
	// the server to clients.
	Up, Down Gate

	l      net.Listener
	target string
	stop   chan struct{} // closed by close: held bytes are dropped
	wg     sync.WaitGroup

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

// NewProxy starts a Proxy to target (host:port) on a free loopback port; it
// is stopped, and every connection through it closed, when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &Proxy{l: l, target: target, stop: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port, to give a client instead of the target's.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// UpBytes returns how many bytes clients have sent so far, held back or not:
// a test learns that a request reached the proxy when it grows.
func (p *Proxy) UpBytes() int64 { return p.upBytes.Load() }

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Open returns how many of them are not yet closed on both sides.
func (p *Proxy) Open() int64 { return p.open.Load() }

func (p *Proxy) accept() {
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
		go p.pipe(pc, down, up, &p.Up, &p.upBytes)
		go p.pipe(pc, up, down, &p.Down, nil)
	}
}

// pipe copies from one end to the other through g, dropping everything
// once frozen; when either end fails it closes both.
func (p *Proxy) pipe(pc *proxyConn, from, to net.Conn, g *Gate, count *atomic.Int64) {
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

// Freeze silences every connection open so far, like a network path that
// died without a reset: what either side sends is dropped. New connections
// work.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.frozen.Store(true)
	}
}

func (p *Proxy) close() {
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

// Gate holds back the bytes of one direction of a Proxy while held.
type Gate struct {
	mu       sync.Mutex
	released chan struct{} // non-nil while held; closed by Release
}

// Hold makes the bytes read from now on wait.
func (g *Gate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.released == nil {
		g.released = make(chan struct{})
	}
}

// Release lets the held bytes, and those after them, through, in order.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.released != nil {
		close(g.released)
		g.released = nil
	}
}

// pass waits while g is held; false if stop came first.
func (g *Gate) pass(stop <-chan struct{}) bool {
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
