package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsroute/wsroute"
)

// chanState is where a channel is in its life, as the ledger saw it.
type chanState uint8

// The states of a channel in the ledger, in the order they must come.
const (
	stOpened        chanState = iota // Observer.OnOpen ran
	stConnecting                     // OnConnect is running
	stConnected                      // OnConnect returned nil
	stConnectFailed                  // OnConnect returned an error or panicked
	stDisconnected                   // OnDisconnect ran
)

// stateNames names the states in reports.
var stateNames = [...]string{"opened", "connecting", "connected", "connect-failed", "disconnected"}

// chanRec is the ledger's record of one live channel.
type chanRec struct {
	kind     string
	state    chanState
	inflight int // handlers running now
}

// kindCounts are the server-side figures of one client kind.
type kindCounts struct {
	Opened, ConnectOK, ConnectFailed, Disconnected, Closed int
	Reasons                                                map[string]int // "code reason" of OnClose
}

// ledger follows every channel from Observer.OnOpen to Observer.OnClose and
// records each violation of the lifecycle's promises. A record lives only
// while its channel does, so the ledger's memory does not grow with the run.
type ledger struct {
	mu         sync.Mutex
	live       map[string]*chanRec
	kinds      map[string]*kindCounts
	byCode     map[string]int               // "route code" of Observer.OnMessage
	watched    map[string]wsroute.CloseInfo // cid → how a "stall" or "silent" channel closed, until its client takes it
	violations []string
	nViolation int
	handled    atomic.Int64 // frames handled (Observer.OnMessage)
	boomErrs   atomic.Int64 // boom messages answered with internal
	pubLocal   atomic.Int64 // events queued by Router.Publish (PublishInfo.Local)
}

// newLedger returns an empty ledger.
func newLedger() *ledger {
	return &ledger{live: map[string]*chanRec{}, kinds: map[string]*kindCounts{}, byCode: map[string]int{}, watched: map[string]wsroute.CloseInfo{}}
}

// violate records a violation; mu must be held.
func (l *ledger) violate(format string, args ...any) {
	l.nViolation++
	if len(l.violations) < 50 {
		l.violations = append(l.violations, fmt.Sprintf(format, args...))
	}
}

// kind returns the counts of kind k; mu must be held.
func (l *ledger) kind(k string) *kindCounts {
	kc := l.kinds[k]
	if kc == nil {
		kc = &kindCounts{Reasons: map[string]int{}}
		l.kinds[k] = kc
	}
	return kc
}

// observer returns the Observer that feeds the ledger.
func (l *ledger) observer() *wsroute.Observer {
	return &wsroute.Observer{
		OnOpen:        l.onOpen,
		OnOpenRefused: l.onOpenRefused,
		OnClose:       l.onClose,
		OnMessage: func(_ context.Context, c *wsroute.Channel, info wsroute.MessageInfo) {
			l.handled.Add(1)
			if info.Route == "boom" && info.Code == wsroute.CodeInternal {
				l.boomErrs.Add(1)
			}
			code := info.Code
			if code == "" {
				code = "ok"
			}
			route := info.Route
			if route == "" {
				route = "(none)"
			}
			l.mu.Lock()
			l.byCode[c.Name()+"/"+route+" "+code]++
			l.mu.Unlock()
		},
		OnPublish: func(_ context.Context, info wsroute.PublishInfo) { l.pubLocal.Add(int64(info.Local)) },
	}
}

// onOpen is Observer.OnOpen: a channel was upgraded.
func (l *ledger) onOpen(_ context.Context, c *wsroute.Channel) {
	kind := c.Query().Get("kind")
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec, dup := l.live[c.ID()]; dup {
		l.violate("channel %s (%s) opened twice (state %s)", c.ID(), kind, stateNames[rec.state])
		return
	}
	l.live[c.ID()] = &chanRec{kind: kind, state: stOpened}
	l.kind(kind).Opened++
}

// onOpenRefused is Observer.OnOpenRefused. A channel that Shutdown closed
// after its upgrade but before it opened gets neither OnOpen nor OnClose:
// a "stall" or "silent" client waiting for its close learns it here.
func (l *ledger) onOpenRefused(_ context.Context, c *wsroute.Channel, info wsroute.RefuseInfo) {
	if c == nil || info.Code != wsroute.CodeClosedWhileOpening {
		return
	}
	if kind := c.Query().Get("kind"); kind == "stall" || kind == "silent" {
		l.mu.Lock()
		l.watched[c.Query().Get("cid")] = wsroute.CloseInfo{Code: -1, Reason: wsroute.CodeClosedWhileOpening}
		l.mu.Unlock()
	}
}

// onConnect returns an OnConnect that records its start and outcome around
// fn (nil: succeed).
func (l *ledger) onConnect(fn func(ctx context.Context, c *wsroute.Channel) error) func(ctx context.Context, c *wsroute.Channel) error {
	return func(ctx context.Context, c *wsroute.Channel) (err error) {
		l.transition(c, stOpened, stConnecting, "OnConnect")
		ok := false
		defer func() { l.connected(c, ok) }() // also when fn panics
		if fn != nil {
			if err = fn(ctx, c); err != nil {
				return err
			}
		}
		ok = true
		return nil
	}
}

// transition moves c from state from to to, or records a violation.
func (l *ledger) transition(c *wsroute.Channel, from, to chanState, what string) *chanRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.live[c.ID()]
	switch {
	case rec == nil:
		l.violate("%s for channel %s that is not open (never opened, or already closed)", what, c.ID())
	case rec.state != from:
		l.violate("%s for channel %s (%s) in state %s, want %s", what, c.ID(), rec.kind, stateNames[rec.state], stateNames[from])
	default:
		rec.state = to
	}
	return rec
}

// connected records how OnConnect ended.
func (l *ledger) connected(c *wsroute.Channel, ok bool) {
	to := stConnectFailed
	if ok {
		to = stConnected
	}
	if rec := l.transition(c, stConnecting, to, "end of OnConnect"); rec != nil {
		l.mu.Lock()
		if ok {
			l.kind(rec.kind).ConnectOK++
		} else {
			l.kind(rec.kind).ConnectFailed++
		}
		l.mu.Unlock()
	}
}

// onDisconnect is every channel's OnDisconnect: it must come once, after a
// successful OnConnect, with no handler running.
func (l *ledger) onDisconnect(_ context.Context, c *wsroute.Channel, _ wsroute.CloseInfo) {
	l.mu.Lock()
	if rec := l.live[c.ID()]; rec != nil && rec.inflight != 0 {
		l.violate("OnDisconnect for channel %s (%s) while %d handlers run", c.ID(), rec.kind, rec.inflight)
	}
	l.mu.Unlock()
	if rec := l.transition(c, stConnected, stDisconnected, "OnDisconnect"); rec != nil {
		l.mu.Lock()
		l.kind(rec.kind).Disconnected++
		l.mu.Unlock()
	}
}

// onClose is Observer.OnClose, the end of a channel's life: OnDisconnect
// must have run if OnConnect succeeded. The record is dropped.
func (l *ledger) onClose(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.live[c.ID()]
	if rec == nil {
		l.violate("Observer.OnClose for channel %s that is not open (twice, or never opened)", c.ID())
		return
	}
	switch rec.state {
	case stDisconnected, stConnectFailed:
	case stConnected:
		l.violate("channel %s (%s) closed (%d %q) without OnDisconnect", c.ID(), rec.kind, info.Code, info.Reason)
	default:
		l.violate("channel %s (%s) closed in state %s", c.ID(), rec.kind, stateNames[rec.state])
	}
	delete(l.live, c.ID())
	kc := l.kind(rec.kind)
	kc.Closed++
	by := ""
	if info.ByPeer {
		by = " (peer)"
	}
	kc.Reasons[fmt.Sprintf("%d %s%s", info.Code, info.Reason, by)]++
	if rec.kind == "stall" || rec.kind == "silent" {
		l.watched[c.Query().Get("cid")] = info
	}
}

// waitClose waits, at most d, until the "stall" or "silent" channel of
// client connection cid has closed, and returns how.
func (l *ledger) waitClose(cid string, d time.Duration) (wsroute.CloseInfo, bool) {
	deadline := time.Now().Add(d)
	for {
		l.mu.Lock()
		info, ok := l.watched[cid]
		delete(l.watched, cid)
		l.mu.Unlock()
		if ok || time.Now().After(deadline) {
			return info, ok
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// middleware checks, for every message, that the channel's OnConnect has
// returned nil and its OnDisconnect has not begun, and counts the handlers
// running so that OnDisconnect can check none is.
func (l *ledger) middleware(next wsroute.Handler) wsroute.Handler {
	return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
		if m.IsOpen() {
			return next.Handle(ctx, c, m)
		}
		l.mu.Lock()
		rec, counted := l.live[c.ID()], false
		switch {
		case rec == nil:
			l.violate("message %q handled on channel %s that is not open", m.Route(), c.ID())
		case rec.state != stConnected:
			l.violate("message %q handled on channel %s (%s) in state %s", m.Route(), c.ID(), rec.kind, stateNames[rec.state])
		default:
			rec.inflight++
			counted = true
		}
		l.mu.Unlock()
		defer func() {
			if counted {
				l.mu.Lock()
				rec.inflight--
				l.mu.Unlock()
			}
		}()
		return next.Handle(ctx, c, m)
	})
}

// leftovers records a violation for every channel still in the ledger, and
// returns how many there were. Call it after Shutdown returned.
func (l *ledger) leftovers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, rec := range l.live {
		l.violate("channel %s (%s) never closed (state %s)", id, rec.kind, stateNames[rec.state])
	}
	return len(l.live)
}
