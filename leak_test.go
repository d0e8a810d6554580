package wsroute_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/leakcheck"
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

// leakedGoroutines returns the stacks of library goroutines still running
// after up to wait, joined, or "".
func leakedGoroutines(wait time.Duration) string {
	return strings.Join(leakcheck.Leaked(wait), "\n\n")
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
