package natsbroker_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
)

// TestMain fails the run if a goroutine of this package or of nats.go is
// still alive once every test has shut its Routers and connections down.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := lingering(5*time.Second, func() []string { return ours(allStacks()) }); left != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

// lingering returns what find still finds after giving goroutines on their
// way out up to wait to finish.
func lingering(wait time.Duration, find func() []string) string {
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay *= 2 {
		left := find()
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(min(delay, 100*time.Millisecond))
	}
}

func allStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// ours keeps the stacks of the adapter's and nats.go's goroutines.
func ours(stacks []string) []string {
	var out []string
	for _, s := range stacks {
		if strings.Contains(s, "brokers/natsbroker.") || strings.Contains(s, "github.com/nats-io/nats.go") {
			if !strings.Contains(s, "natsbroker_test.") { // the test's own goroutines
				out = append(out, s)
			}
		}
	}
	return out
}

// labelled returns the goroutine groups carrying the pprof label
// test=id that are ours: goroutines inherit the labels of the goroutine
// that starts them, so this finds what one test's broker started while other
// tests run in parallel.
func labelled(id string) []string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	var groups []string
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, fmt.Sprintf(`"test":%q`, id)) {
			groups = append(groups, g)
		}
	}
	return ours(groups)
}

func TestShutdownDetaches(t *testing.T) {
	t.Parallel()
	u := natsURL(t)
	for _, ownConn := range []bool{false, true} {
		t.Run(fmt.Sprint("caller's connection: ", ownConn), func(t *testing.T) {
			t.Parallel()
			id := t.Name()
			var n *node
			var b *natsbroker.Broker
			pprof.Do(t.Context(), pprof.Labels("test", id), func(context.Context) {
				opts := natsbroker.Options{URL: u, Prefix: prefix()}
				if ownConn {
					opts.Conn = connect(t, u)
				}
				var err error
				b, err = natsbroker.New(opts)
				require.NoError(t, err)
				n = serve(t, b)
			})
			c := n.dial(t)
			c.sub("a")
			c.sub("b")
			require.NotEmpty(t, labelled(id), "the label reaches the broker's goroutines")

			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			require.NoError(t, n.r.Shutdown(ctx))
			assert.Empty(t, b.Topics())
			assert.Zero(t, b.Conn().NumSubscriptions())
			if ownConn {
				assert.False(t, b.Conn().IsClosed(), "the caller's connection stays open")
				assert.Empty(t, lingering(5*time.Second, func() []string {
					var runs []string // nats.go's goroutines of the open connection stay
					for _, g := range labelled(id) {
						if strings.Contains(g, "natsbroker.") {
							runs = append(runs, g)
						}
					}
					return runs
				}))
				assert.ErrorIs(t, n.r.Publish(ctx, "a", 1, wsroute.PublishOptions{}), wsroute.ErrBrokerUnavailable, "detached")
				b.Conn().Close()
			} else {
				assert.True(t, b.Conn().IsClosed(), "the connection New made is closed")
			}
			assert.Empty(t, lingering(5*time.Second, func() []string { return labelled(id) }), "goroutines left after Shutdown")
			assert.ErrorIs(t, n.r.Publish(ctx, "a", 1, wsroute.PublishOptions{}), wsroute.ErrBrokerUnavailable)
		})
	}
}
