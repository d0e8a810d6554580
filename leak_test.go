package wsroute_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// TestMain fails the run if any goroutine of wsroute or coder/websocket is
// still alive after every test has shut its Routers down: Shutdown promises
// to wait for every goroutine the Router started.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of library goroutines still running,
// giving goroutines that are already on their way out up to wait to finish
// (like go.uber.org/goleak, it retries instead of asserting at once).
func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay *= 2 {
		leaked := libraryGoroutines()
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(min(delay, 100*time.Millisecond))
	}
}

func libraryGoroutines() []string {
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
		if strings.Contains(s, "leakedGoroutines") {
			continue
		}
		if strings.Contains(s, "github.com/wsroute/wsroute.") || strings.Contains(s, "github.com/wsroute/wsroute/internal/") ||
			strings.Contains(s, "github.com/wsroute/wsroute/wsroutetest.") || strings.Contains(s, "github.com/coder/websocket.") {
			leaked = append(leaked, s)
		}
	}
	return leaked
}

func TestNoGoroutineLeftAfterShutdown(t *testing.T) {
	// Not parallel: it counts every library goroutine of the process.
	cl := newCloses()
	r, url := e2eServer(t, wsroute.Options{}, cl)
	for range 10 {
		c := dial(t, url+"/e", nil)
		_ = c.Write(t.Context(), 1, []byte(`{"action":"echo","title":"x"}`))
		readText(t, c)
	}
	require.Equal(t, 10, r.Len())
	require.NoError(t, r.Shutdown(context.Background()))
	if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
		t.Fatalf("goroutines left after Shutdown:\n%s", leaked)
	}
}
