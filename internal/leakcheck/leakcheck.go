// Package leakcheck finds goroutines of wsroute or coder/websocket that are
// still running, for tests and the soak command. It makes no public promise.
package leakcheck

import (
	"bytes"
	"runtime"
	"strings"
	"time"
)

// libraryFrames mark a goroutine as the library's.
var libraryFrames = []string{
	"github.com/wsroute/wsroute.",
	"github.com/wsroute/wsroute/internal/",
	"github.com/wsroute/wsroute/wsroutetest.",
	"github.com/coder/websocket.",
}

// Leaked returns the stacks of library goroutines still running, giving
// goroutines already on their way out up to wait to finish (like
// go.uber.org/goleak, it retries rather than asserting at once).
func Leaked(wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay *= 2 {
		leaked := library()
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(min(delay, 100*time.Millisecond))
	}
}

func library() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var leaked []string
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		s := string(g)
		if strings.Contains(s, "internal/leakcheck.library") {
			continue // this one
		}
		for _, f := range libraryFrames {
			if strings.Contains(s, f) {
				leaked = append(leaked, s)
				break
			}
		}
	}
	return leaked
}
