package redisbroker_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
)

// blackholeProxy forwards TCP connections to a target. After freeze, the
// connections open so far stay open but carry nothing, like a network path
// that died without a reset; new connections work.
type blackholeProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex // guards conns and closed
	conns  []*proxyConn
	closed bool
}

type proxyConn struct {
	frozen     atomic.Bool
	down, up   net.Conn
	closeOnce  sync.Once
	closeError error
}

func (pc *proxyConn) close() {
	pc.closeOnce.Do(func() { pc.closeError = twoErrs(pc.down.Close(), pc.up.Close()) })
}

func twoErrs(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// newProxy starts a proxy to target, stopped when the test ends.
func newProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &blackholeProxy{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *blackholeProxy) addr() string { return p.l.Addr().String() }

func (p *blackholeProxy) accept() {
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
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pc.close()
			return
		}
		p.conns = append(p.conns, pc)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(pc, down, up)
		go p.pipe(pc, up, down)
	}
}

// pipe copies from one end to the other, dropping everything once frozen.
func (p *blackholeProxy) pipe(pc *proxyConn, from, to net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			pc.close()
			return
		}
		if pc.frozen.Load() {
			continue
		}
		if _, err := to.Write(buf[:n]); err != nil {
			pc.close()
			return
		}
	}
}

// freeze silences every connection open so far.
func (p *blackholeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.frozen.Store(true)
	}
}

func (p *blackholeProxy) close() {
	p.mu.Lock()
	p.closed = true
	_ = p.l.Close()
	for _, pc := range p.conns {
		pc.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestSilentConnectionIsReplaced: a subscription connection that stops
// carrying anything, without any error, is detected by the PING health check
// and replaced, and its subscriptions restored.
func TestSilentConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	newRedisClient(t, redisAddr())
	proxy := newProxy(t, redisAddr())
	prefix := uniquePrefix(t)
	ba := newBroker(t, redisbroker.Options{Addr: proxy.addr(), Prefix: prefix})
	redisbroker.SetHealthCheck(ba, 200*time.Millisecond, 300*time.Millisecond)
	na, nb := newNode(t, ba), newNode(t, newBroker(t, redisbroker.Options{Prefix: prefix}))
	a := na.dial(t)
	a.sub(t, "room")
	require.NoError(t, nb.r.Publish(t.Context(), "room", "before", wsroute.PublishOptions{}))
	assert.Equal(t, event("room", "before"), a.next(t))

	proxy.freeze()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			require.NoError(t, nb.r.Publish(t.Context(), "room", "after", wsroute.PublishOptions{}))
		case f := <-a.frames:
			assert.Equal(t, event("room", "after"), f)
			return
		case <-deadline.C:
			t.Fatal("the silent subscription connection was not replaced within 15s")
		}
	}
}
