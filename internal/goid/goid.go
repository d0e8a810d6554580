// Package goid returns the id of the calling goroutine. wsroute uses it to
// tell which message a session change belongs to: a handler's change is
// undone when its message fails, a change made from elsewhere never is. It
// reads the id from the first line of runtime.Stack ("goroutine 18
// [running]:"), which costs about a microsecond, so it is called once per
// pool goroutine and once per session change, never per message. It makes
// no public promise.
package goid

import "runtime"

// ID returns the calling goroutine's id, or 0 if it cannot be read.
func ID() uint64 {
	var buf [40]byte
	n := runtime.Stack(buf[:], false)
	const prefix = "goroutine "
	if n < len(prefix) || string(buf[:len(prefix)]) != prefix {
		return 0
	}
	var id uint64
	for _, b := range buf[len(prefix):n] {
		if b < '0' || b > '9' {
			break
		}
		id = id*10 + uint64(b-'0')
	}
	return id
}
