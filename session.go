package wsroute

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/wsroute/wsroute/internal/goid"
)

// session is the immutable value stored on a Channel. A new one replaces it on
// every change, so readers never lock. A cleared session is a session with
// a nil value (never a nil pointer once a session was set), so that each
// change is a distinct pointer and an undo can compare and swap exactly.
type session struct {
	value   any       // nil: cleared
	expires time.Time // zero: never
}

// valid reports whether s counts as present now.
func (s *session) valid() bool {
	// The clock is read only for a session that can expire: most messages
	// of a channel check its session twice (auth, SessionAs in a
	// permission) and most sessions never expire.
	return s != nil && s.value != nil && (s.expires.IsZero() || time.Now().Before(s.expires))
}

// sessionChange is one change a message made, kept to undo it.
type sessionChange struct{ set, prev *session }

// SetSession sets the channel's session to v, replacing any other, with no
// expiry. A nil v (or a nil pointer, map, slice, func or interface inside v)
// clears the session instead: a session is either a real value or absent.
//
// A change made by a handler, on the goroutine that runs it, belongs to its
// message: if the message then fails (its pipeline returns an error), the
// change is undone — but only if the session is still the one it set, so a
// revocation made meanwhile (a ClearSession or SetSession from elsewhere) is
// never undone. Changes made at open, from OnConnect or from other
// goroutines are never undone.
func (c *Channel) SetSession(v any) { c.SetSessionUntil(v, time.Time{}) }

// SetSessionUntil is SetSession with an expiry: from expires on, the session
// counts as absent. On a channel whose opening requires a session the channel
// is then closed with StatusSessionExpired (4401).
func (c *Channel) SetSessionUntil(v any, expires time.Time) {
	if isNil(v) {
		c.ClearSession()
		return
	}
	c.changeSession(&session{value: v, expires: expires})
}

// ClearSession removes the channel's session (log-out).
func (c *Channel) ClearSession() { c.changeSession(&session{}) }

// changeSession stores s, re-arms the expiry timer for it, and records the
// change on the message whose handler made it, if any.
func (c *Channel) changeSession(s *session) {
	m := c.runnerOn(goid.ID())
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	prev := c.session.Swap(s)
	c.armExpiryLocked(s)
	c.router.reindex(c)
	if m != nil {
		m.undo = append(m.undo, sessionChange{set: s, prev: prev})
	}
}

// undoSession reverts the session changes a failed message made, newest
// first, each only if the session is still the one it set.
func (c *Channel) undoSession(m *Message) {
	if len(m.undo) == 0 {
		return
	}
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	for i := len(m.undo) - 1; i >= 0; i-- {
		ch := m.undo[i]
		if !c.session.CompareAndSwap(ch.set, ch.prev) {
			break
		}
		c.armExpiryLocked(ch.prev)
	}
	c.router.reindex(c)
	m.undo = nil
}

// HasSession reports whether the channel has a session that has not expired.
func (c *Channel) HasSession() bool {
	return c.session.Load().valid()
}

// SessionExpiry returns when the current session expires; the zero time means
// it does not, or that there is no session.
func (c *Channel) SessionExpiry() time.Time {
	if s := c.session.Load(); s != nil && s.value != nil {
		return s.expires
	}
	return time.Time{}
}

// SessionAs returns the channel's session as a T. ok is false when there is no
// session, it has expired, or it holds another type. It is the typed way to
// read a session: no type assertion in user code.
//
//	user, ok := wsroute.SessionAs[User](ch)
//
// On a closed channel (in OnDisconnect) it returns the last session the
// channel had, even if it had expired, so that "who left" needs no
// bookkeeping of the application's.
func SessionAs[T any](c *Channel) (v T, ok bool) {
	s := c.session.Load()
	if !s.valid() && (s == nil || s.value == nil || c.state.Load() != stateClosed) {
		return v, false
	}
	if raw, stored := s.value.(storedSession); stored { // a detached channel's (detached.go)
		if err := json.Unmarshal(raw, &v); err != nil {
			return v, false
		}
		return v, true
	}
	v, ok = s.value.(T)
	return v, ok
}

// isNil reports whether v is nil or a nil pointer-like value, which must never
// count as a session.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// armExpiryLocked schedules the close of a channel whose opening required a
// session for when s expires, replacing any earlier schedule. Public
// channels need no timer: an expired session simply counts as absent.
// sessMu must be held, so the timer always belongs to the session stored
// last.
func (c *Channel) armExpiryLocked(s *session) {
	if c.route.cfg.Public || c.detached { // detached: found expired at the next event
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expiryTimer != nil {
		c.expiryTimer.Stop()
		c.expiryTimer = nil
	}
	if s == nil || s.value == nil || s.expires.IsZero() || c.state.Load() == stateClosed {
		return
	}
	c.expiryTimer = time.AfterFunc(time.Until(s.expires), c.expire)
}

// expire closes the channel if its session has really expired.
func (c *Channel) expire() {
	if !c.enter() {
		return
	}
	defer c.exit()
	if !c.session.Load().valid() {
		c.Close(StatusSessionExpired, ReasonSessionExpired)
	}
}
