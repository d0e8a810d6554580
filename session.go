package wsroute

import (
	"reflect"
	"time"
)

// session is the immutable value stored on a Channel. A new one replaces it on
// every change, so readers never lock.
type session struct {
	value   any
	expires time.Time // zero: never
}

// valid reports whether s counts as present at now.
func (s *session) valid(now time.Time) bool {
	return s != nil && (s.expires.IsZero() || now.Before(s.expires))
}

// SetSession sets the channel's session to v, replacing any other, with no
// expiry. A nil v (or a nil pointer, map, slice, func or interface inside v)
// clears the session instead: a session is either a real value or absent.
//
// A session set by a message whose pipeline then fails is undone, so a failed
// log-in leaves the session as it was.
func (c *Channel) SetSession(v any) { c.SetSessionUntil(v, time.Time{}) }

// SetSessionUntil is SetSession with an expiry: from expires on, the session
// counts as absent. On a channel whose opening requires a session the channel
// is then closed with CloseSessionExpired (4401).
func (c *Channel) SetSessionUntil(v any, expires time.Time) {
	if isNil(v) {
		c.ClearSession()
		return
	}
	c.session.Store(&session{value: v, expires: expires})
	c.armExpiry(expires)
}

// ClearSession removes the channel's session (log-out).
func (c *Channel) ClearSession() {
	c.session.Store(nil)
	c.armExpiry(time.Time{})
}

// HasSession reports whether the channel has a session that has not expired.
func (c *Channel) HasSession() bool {
	return c.session.Load().valid(time.Now())
}

// SessionExpiry returns when the current session expires; the zero time means
// it does not, or that there is no session.
func (c *Channel) SessionExpiry() time.Time {
	if s := c.session.Load(); s != nil {
		return s.expires
	}
	return time.Time{}
}

// SessionAs returns the channel's session as a T. ok is false when there is no
// session, it has expired, or it holds another type. It is the typed way to
// read a session: no type assertion in user code.
//
//	user, ok := wsroute.SessionAs[User](ch)
func SessionAs[T any](c *Channel) (v T, ok bool) {
	s := c.session.Load()
	if !s.valid(time.Now()) {
		return v, false
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

// restoreSession puts back a session saved before a failed message.
func (c *Channel) restoreSession(s *session) {
	c.session.Store(s)
	if s == nil {
		c.armExpiry(time.Time{})
	} else {
		c.armExpiry(s.expires)
	}
}

// armExpiry schedules the close of a channel whose opening required a session
// for when its session expires, replacing any earlier schedule. Public
// channels need no timer: an expired session simply counts as absent.
func (c *Channel) armExpiry(expires time.Time) {
	if c.route.cfg.Public {
		return
	}
	c.expiryMu.Lock()
	defer c.expiryMu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	if expires.IsZero() || c.state.Load() == stateClosed {
		return
	}
	c.expiry = time.AfterFunc(time.Until(expires), c.expire)
}

// expire closes the channel if its session has really expired (a later
// SetSession may have raced with the timer).
func (c *Channel) expire() {
	if c.session.Load().valid(time.Now()) {
		return
	}
	c.Close(CloseSessionExpired, "session expired")
}

// stopExpiry cancels the expiry timer at the end of the channel's life.
func (c *Channel) stopExpiry() {
	c.expiryMu.Lock()
	defer c.expiryMu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
}
