package wsroute

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/wsroute/wsroute/internal/goid"
)

// pool runs the work of channels — a worker draining an inbound queue, a
// writer draining a send queue, and a connection's reader for its whole
// life — on goroutines that stay for the next task instead of exiting. A
// message then costs neither a goroutine start nor the growth of a fresh
// 2 KiB stack through the decode and handler call chain (measured: about
// 7 µs of a 13 µs routed echo before the pool).
//
// At most maxIdle goroutines wait for work; beyond that a goroutine exits
// when its task is done, so an idle connection still costs one goroutine
// (its reader) plus a fixed share of the pool. Each task gets the id of the
// goroutine it runs on (read once per goroutine), by which a session change
// is traced to the message whose handler made it. Router.Shutdown stops the
// pool and waits for it.
type pool struct {
	tasks   chan func(gid uint64) // unbuffered: a send succeeds only when a goroutine waits
	quit    chan struct{}
	idle    atomic.Int32 // goroutines waiting on tasks
	maxIdle int32
	wg      sync.WaitGroup
}

func newPool() *pool {
	return &pool{
		tasks:   make(chan func(uint64)),
		quit:    make(chan struct{}),
		maxIdle: int32(max(16, 8*runtime.GOMAXPROCS(0))),
	}
}

// run runs f on a waiting goroutine, or on a new one.
func (p *pool) run(f func(gid uint64)) {
	select {
	case p.tasks <- f:
	default:
		p.wg.Add(1)
		go p.loop(f)
	}
}

func (p *pool) loop(f func(uint64)) {
	defer p.wg.Done()
	gid := goid.ID()
	for {
		f(gid)
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		select {
		case f = <-p.tasks:
			p.idle.Add(-1)
		case <-p.quit:
			p.idle.Add(-1)
			return
		}
	}
}

// stop ends the waiting goroutines and, if wait is set, waits for all of
// them (Shutdown does not wait when its context ended, or when it is called
// from a task). A task run after stop exits when it is done.
func (p *pool) stop(wait bool) {
	close(p.quit)
	if wait {
		p.wg.Wait()
	}
}
