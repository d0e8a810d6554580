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
func Leaked(wait time.Duration) []string { return Matching(wait, isLibrary) }

// Matching is Leaked for the goroutines whose stack match accepts (an
// adapter's tests look for their engine client's goroutines, say).
func Matching(wait time.Duration, match func(stack string) bool) []string {
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay *= 2 {
		left := goroutines(match)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(min(delay, 100*time.Millisecond))
	}
}

func isLibrary(stack string) bool {
	if strings.Contains(stack, "testing.tRunner(") {
		return false // a test function of the library's own package, running or parallel-paused
	}
	for _, f := range libraryFrames {
		if strings.Contains(stack, f) {
			return true
		}
	}
	return false
}

// goroutines returns the stacks that match, leaving out the caller's own.
func goroutines(match func(stack string) bool) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if s := string(g); !strings.Contains(s, "internal/leakcheck.goroutines") && match(s) {
			found = append(found, s)
		}
	}
	return found
}
