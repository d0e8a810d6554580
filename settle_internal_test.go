package wsroute

// Router.settle is the barrier behind wsroutetest's Conn.Settle: after it,
// every frame that one channel's handlers (or its OnDisconnect) pushed to
// another has been written. These tests stop a channel at the two moments
// settle used to miss and check that settle waits.

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/internal/transport"
)

// stallRead is the server end of an in-memory pipe whose first Read that
// returns a frame (or, with onError, an error) stops after taking it from
// the pipe and before returning it to the reader: popped is closed, then it
// waits for release.
type stallRead struct {
	*transport.End
	onError bool
	popped  chan struct{}
	release chan struct{}
	once    sync.Once
}

func newStallRead(end *transport.End, onError bool) *stallRead {
	return &stallRead{End: end, onError: onError, popped: make(chan struct{}), release: make(chan struct{})}
}

func (s *stallRead) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	typ, b, err := s.End.Read(ctx)
	if (err != nil) == s.onError {
		s.once.Do(func() {
			close(s.popped)
			<-s.release
		})
	}
	return typ, b, err
}

// settleGo runs r.settle on its own goroutine; the result arrives on the
// channel it returns.
func settleGo(r *Router) <-chan error {
	settled := make(chan error, 1)
	go func() { settled <- r.settle(context.Background()) }()
	return settled
}

// unread returns the frames waiting on a client end, without waiting.
func unread(t *testing.T, client *transport.End) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []string
	for {
		_, b, err := client.Read(ctx)
		if err != nil {
			return out
		}
		out = append(out, string(b))
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	t.Run("waits for a frame read and not yet counted", func(t *testing.T) {
		// The old settle looked at the pipe's unread frames: a frame the
		// reader had taken from the pipe but not yet queued counted as
		// nothing, and settle returned before its handler ran.
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r, cr := trustRoute(Options{}, ChannelConfig{Public: true})
			Handle(cr, "announce", func(ctx context.Context, c *Channel, _ struct{}) (*struct{}, error) {
				return nil, c.Router().Publish(ctx, "room", "hello", PublishOptions{})
			}, RouteConfig{Public: true})
			serverA, clientA := transport.NewPipe()
			stall := newStallRead(serverA, false)
			_, doneA := trustDial(t, r, stall)
			serverB, clientB := transport.NewPipe()
			b, doneB := trustDial(t, r, serverB)
			require.NoError(t, b.Subscribe("room"))
			require.NoError(t, clientA.Write(context.Background(), websocket.MessageText, []byte(`{"action":"announce"}`)))
			<-stall.popped
			settled := settleGo(r)
			synctest.Wait()
			early := returnedEarly(t, settled, "while a frame was read and not yet handled")
			close(stall.release)
			if !early {
				require.NoError(t, <-settled)
				assert.Equal(t, []string{`{"topic":"room","data":"hello"}`}, unread(t, clientB), "B has the event once settle returned")
			}
			_, _ = clientA.CloseNow(), clientB.CloseNow()
			<-doneA
			<-doneB
			require.NoError(t, r.Shutdown(context.Background()))
		})
	})
	t.Run("waits for a closed channel's teardown", func(t *testing.T) {
		// The old settle skipped closed channels: what OnDisconnect
		// publishes (a "left" announcement) could come after it returned.
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			gate := make(chan struct{})
			var leaving atomic.Pointer[Channel]
			r, _ := trustRoute(Options{}, ChannelConfig{Public: true, OnDisconnect: func(ctx context.Context, c *Channel, _ CloseInfo) {
				if c == leaving.Load() {
					<-gate
					_ = c.Router().Publish(ctx, "room", "left", PublishOptions{})
				}
			}})
			serverA, clientA := transport.NewPipe()
			a, doneA := trustDial(t, r, serverA)
			leaving.Store(a)
			serverB, clientB := transport.NewPipe()
			b, doneB := trustDial(t, r, serverB)
			require.NoError(t, b.Subscribe("room"))
			a.Close(4000, "kicked")
			synctest.Wait() // A is closed and its OnDisconnect waits at the gate
			settled := settleGo(r)
			synctest.Wait()
			early := returnedEarly(t, settled, "while a closed channel's OnDisconnect ran")
			close(gate)
			<-doneA
			if !early {
				require.NoError(t, <-settled)
				assert.Equal(t, []string{`{"topic":"room","data":"left"}`}, unread(t, clientB), "B has the event once settle returned")
			}
			_, _ = clientA.CloseNow(), clientB.CloseNow()
			<-doneB
			require.NoError(t, r.Shutdown(context.Background()))
		})
	})
	t.Run("waits for a closing channel to close", func(t *testing.T) {
		// The old settle found a closing channel quiet once its close frame
		// was out, although its reader had yet to end it and run its
		// teardown.
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r, _ := trustRoute(Options{}, ChannelConfig{Public: true, OnDisconnect: func(ctx context.Context, c *Channel, _ CloseInfo) {
				_ = c.Router().Publish(ctx, "room", "left", PublishOptions{Exclude: c})
			}})
			serverA, clientA := transport.NewPipe()
			stall := newStallRead(serverA, true)
			a, doneA := trustDial(t, r, stall)
			serverB, clientB := transport.NewPipe()
			b, doneB := trustDial(t, r, serverB)
			require.NoError(t, b.Subscribe("room"))
			a.Close(4000, "kicked")
			<-stall.popped // the close frame is out; A's reader has its error and waits
			settled := settleGo(r)
			synctest.Wait()
			early := returnedEarly(t, settled, "while a channel was closing")
			close(stall.release)
			<-doneA
			if !early {
				require.NoError(t, <-settled)
				assert.Equal(t, []string{`{"topic":"room","data":"left"}`}, unread(t, clientB), "B has the event once settle returned")
			}
			_, _ = clientA.CloseNow(), clientB.CloseNow()
			<-doneB
			require.NoError(t, r.Shutdown(context.Background()))
		})
	})
}

// returnedEarly reports (as a test error) whether settle has already
// returned, with why it should not have.
func returnedEarly(t *testing.T, settled <-chan error, why string) bool {
	t.Helper()
	select {
	case err := <-settled:
		t.Errorf("settle returned (%v) %s", err, why)
		return true
	default:
		return false
	}
}
