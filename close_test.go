package wsroute_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// openHook returns open middleware that runs fn on the channel while it
// opens.
func openHook(fn func(ctx context.Context, c *wsroute.Channel)) []wsroute.Middleware {
	return []wsroute.Middleware{func(next wsroute.Handler) wsroute.Handler {
		return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
			if m.IsOpen() {
				fn(ctx, c)
			}
			return next.Handle(ctx, c, m)
		})
	}}
}

// callbacks counts OnConnect and OnDisconnect calls.
type callbacks struct{ connects, disconnects atomic.Int32 }

func (cb *callbacks) config(cfg wsroute.ChannelConfig) wsroute.ChannelConfig {
	cfg.OnConnect = func(context.Context, *wsroute.Channel) error { cb.connects.Add(1); return nil }
	cfg.OnDisconnect = func(context.Context, *wsroute.Channel, wsroute.CloseInfo) { cb.disconnects.Add(1) }
	return cfg
}

func TestCloseWhileOpening(t *testing.T) {
	t.Parallel()
	var cb callbacks
	r := newRouter(t, wsroute.Options{})
	r.Channel("/c", cb.config(wsroute.ChannelConfig{Public: true, Middleware: openHook(func(_ context.Context, c *wsroute.Channel) {
		c.Close(4000, "go away")
	})}))
	c := wsroutetest.MustDial(t, r, "/c", nil)
	err := c.Wait(t.Context())
	assert.Equal(t, websocket.StatusCode(4000), websocket.CloseStatus(err), "the close takes effect at the upgrade: %v", err)
	assert.Zero(t, cb.connects.Load(), "OnConnect does not run for a channel closed while opening")
	assert.Zero(t, cb.disconnects.Load())
	assert.Zero(t, r.Len())
}

func TestRefusedOpeningLeavesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    wsroute.ChannelConfig
		status int
	}{
		{"401 without a session", wsroute.ChannelConfig{}, 401},
		{"403 by a permission", wsroute.ChannelConfig{Public: true, Permissions: func(context.Context, *wsroute.Channel, *wsroute.Message) error { return errors.New("no") }}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var kept *wsroute.Channel
			var subErr, sendErr error
			cfg := tt.cfg
			cfg.Middleware = openHook(func(ctx context.Context, c *wsroute.Channel) {
				kept = c
				subErr = c.Subscribe("t")
				sendErr = c.Send(ctx, "early")
			})
			r := newRouter(t, wsroute.Options{})
			r.Channel("/c", cfg)
			_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
			var he *wsroutetest.HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tt.status, he.StatusCode)
			assert.ErrorIs(t, subErr, wsroute.ErrNotOpen, "Subscribe while opening")
			assert.ErrorIs(t, sendErr, wsroute.ErrNotOpen, "Send while opening")
			require.NotNil(t, kept)
			assert.ErrorIs(t, kept.Send(t.Context(), "late"), wsroute.ErrClosed)
			assert.ErrorIs(t, kept.SendBinary(t.Context(), []byte("late")), wsroute.ErrClosed)
			assert.ErrorIs(t, kept.Subscribe("t"), wsroute.ErrClosed)
			assert.Empty(t, kept.Topics())
			require.NoError(t, r.Publish(t.Context(), "t", "x", wsroute.PublishOptions{}))
			assert.Zero(t, r.Len())
			select {
			case <-kept.Closing():
			default:
				t.Error("Closing() of a refused channel is not closed")
			}
			assert.Error(t, kept.Context().Err(), "a refused channel's context is cancelled")
		})
	}
}

func TestUpgradeFailure(t *testing.T) {
	t.Parallel()
	var cb callbacks
	var kept *wsroute.Channel
	r := newRouter(t, wsroute.Options{})
	r.Channel("/c", cb.config(wsroute.ChannelConfig{Public: true, Middleware: openHook(func(_ context.Context, c *wsroute.Channel) {
		kept = c
	})}))
	// A valid handshake on a ResponseWriter that cannot be hijacked: the
	// open pipeline succeeds and websocket.Accept fails.
	req := httptest.NewRequest(http.MethodGet, "/c", nil)
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	assert.NotEqual(t, http.StatusSwitchingProtocols, rec.Code)
	require.NotNil(t, kept)
	assert.ErrorIs(t, kept.Send(t.Context(), 1), wsroute.ErrClosed)
	assert.ErrorIs(t, kept.Subscribe("t"), wsroute.ErrClosed)
	assert.Zero(t, cb.connects.Load())
	assert.Zero(t, r.Len())
}

func TestOpeningRacesShutdown(t *testing.T) {
	t.Parallel()
	var cb callbacks
	r := wsroute.New(wsroute.Options{})
	r.Channel("/c", cb.config(wsroute.ChannelConfig{Public: true}))
	const n = 40
	results := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
			if err != nil {
				results <- err
				return
			}
			results <- c.Wait(t.Context())
		})
	}
	require.NoError(t, r.Shutdown(context.Background()))
	wg.Wait()
	close(results)
	for err := range results {
		var he *wsroutetest.HandshakeError
		if errors.As(err, &he) {
			assert.Equal(t, 503, he.StatusCode, "refused while shutting down")
			continue
		}
		assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "opened, then closed by Shutdown: %v", err)
	}
	assert.Equal(t, cb.connects.Load(), cb.disconnects.Load(), "OnDisconnect once for every OnConnect")
	assert.Zero(t, r.Len())
}

func TestShutdownWhileOpening(t *testing.T) {
	t.Parallel()
	var cb callbacks
	entered, release := make(chan struct{}), make(chan struct{})
	r := wsroute.New(wsroute.Options{})
	r.Channel("/c", cb.config(wsroute.ChannelConfig{Public: true, Middleware: openHook(func(context.Context, *wsroute.Channel) {
		close(entered)
		<-release
	})}))
	dialed := make(chan error, 1)
	go func() {
		c, err := wsroutetest.Dial(context.Background(), r, "/c", nil)
		if err == nil {
			err = c.Wait(context.Background())
		}
		dialed <- err
	}()
	<-entered
	done := make(chan error, 1)
	go func() { done <- r.Shutdown(context.Background()) }()
	for { // wait until Shutdown has begun: openings are refused
		_, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
		var he *wsroutetest.HandshakeError
		if errors.As(err, &he) && he.StatusCode == 503 {
			break
		}
		require.Error(t, err, "an opening after Shutdown began") // (never succeeds: the middleware blocks)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned while a channel was opening: %v", err)
	default:
	}
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(<-dialed))
	assert.Equal(t, cb.connects.Load(), cb.disconnects.Load())
}

// TestPanicsInEveryCallback: a panic in any user callback is recovered and
// logged, and leaves nothing behind: Shutdown completes, no channel stays.
func TestPanicsInEveryCallback(t *testing.T) {
	t.Parallel()
	callbacks := []string{"open middleware", "authenticator", "open permission", "OnConnect",
		"message middleware", "message permission", "handler", "OnDisconnect",
		"Observer.OnOpen", "Observer.OnClose", "Observer.OnMessage", "Observer.OnPublish"}
	for _, where := range callbacks {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			boom := func(at string) {
				if at == where {
					panic("boom in " + at)
				}
			}
			var logs logBuffer
			r := wsroute.New(wsroute.Options{
				Logger: logs.logger(),
				Observer: &wsroute.Observer{
					OnOpen:    func(context.Context, *wsroute.Channel) { boom("Observer.OnOpen") },
					OnClose:   func(context.Context, *wsroute.Channel, wsroute.CloseInfo) { boom("Observer.OnClose") },
					OnMessage: func(context.Context, *wsroute.Channel, wsroute.MessageInfo) { boom("Observer.OnMessage") },
					OnPublish: func(context.Context, wsroute.PublishInfo) { boom("Observer.OnPublish") },
				},
				Authenticator: wsroute.AuthenticatorFunc(func(context.Context, *wsroute.Channel) error {
					boom("authenticator")
					return nil
				}),
			})
			ch := r.Channel("/c", wsroute.ChannelConfig{
				Public: true,
				Middleware: []wsroute.Middleware{func(next wsroute.Handler) wsroute.Handler {
					return wsroute.HandlerFunc(func(ctx context.Context, c *wsroute.Channel, m *wsroute.Message) error {
						if m.IsOpen() {
							boom("open middleware")
						} else {
							boom("message middleware")
						}
						return next.Handle(ctx, c, m)
					})
				}},
				Permissions:  func(context.Context, *wsroute.Channel, *wsroute.Message) error { boom("open permission"); return nil },
				OnConnect:    func(context.Context, *wsroute.Channel) error { boom("OnConnect"); return nil },
				OnDisconnect: func(context.Context, *wsroute.Channel, wsroute.CloseInfo) { boom("OnDisconnect") },
			})
			wsroute.Handle(ch, "go", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
				boom("handler")
				return nil, nil
			}, wsroute.RouteConfig{Public: true, Permissions: func(context.Context, *wsroute.Channel, *wsroute.Message) error {
				boom("message permission")
				return nil
			}})
			c, err := wsroutetest.Dial(t.Context(), r, "/c", nil)
			if err == nil {
				_ = c.SendText(`{"action":"go","ref":1}`) // fails once OnConnect's panic closed the channel
				_, _ = c.Received(t.Context())
				_ = r.Publish(t.Context(), "t", 1, wsroute.PublishOptions{})
				c.Drop()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, r.Shutdown(ctx), "Shutdown after a panic in %s", where)
			assert.Zero(t, r.Len())
			assert.Contains(t, logs.String(), "boom in "+where, "the panic is logged")
		})
	}
}

// blockingBroker is a MemoryBroker whose Subscribe, for topics starting with
// "slow", waits until released or its context ends.
type blockingBroker struct {
	*wsroute.MemoryBroker
	entered chan string
	release chan struct{}
	fail    atomic.Bool // Subscribe fails (for "bad" topics)
	calls   atomic.Int32
}

func newBlockingBroker() *blockingBroker {
	return &blockingBroker{MemoryBroker: wsroute.NewMemoryBroker(), entered: make(chan string, 16), release: make(chan struct{})}
}

func (b *blockingBroker) Subscribe(ctx context.Context, node, topic string) error {
	b.calls.Add(1)
	if b.fail.Load() {
		return fmt.Errorf("engine says no: %w", wsroute.ErrBrokerUnavailable)
	}
	if len(topic) >= 4 && topic[:4] == "slow" {
		b.entered <- topic
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.MemoryBroker.Subscribe(ctx, node, topic)
}

func TestBrokerSubscribeFailure(t *testing.T) {
	t.Parallel()
	b := newBlockingBroker()
	b.fail.Store(true)
	r := newRouter(t, wsroute.Options{Broker: b})
	r.Channel("/c", wsroute.ChannelConfig{Public: true})
	c := wsroutetest.MustDial(t, r, "/c", nil)
	err := c.Channel().Subscribe("t")
	require.ErrorIs(t, err, wsroute.ErrBrokerUnavailable)
	assert.Empty(t, c.Channel().Topics(), "not subscribed after a failure")
	b.fail.Store(false)
	require.NoError(t, c.Channel().Subscribe("t"), "a later Subscribe asks the broker again")
	assert.Equal(t, int32(2), b.calls.Load())
	assert.Equal(t, []string{"t"}, c.Channel().Topics())
}

func TestClosedWhileBrokerSubscribes(t *testing.T) {
	t.Parallel()
	b := newBlockingBroker()
	var cl = newCloses()
	r := newRouter(t, wsroute.Options{Broker: b})
	ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, OnDisconnect: cl.record})
	subErr := make(chan error, 1)
	wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
		subErr <- c.Subscribe("slow")
		return nil, nil
	}, wsroute.RouteConfig{Public: true})
	slow := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, slow.SendText(`{"action":"sub"}`))
	<-b.entered

	// An unrelated channel closes without waiting for the broker.
	other := wsroutetest.MustDial(t, r, "/c", nil)
	require.NoError(t, other.Close(websocket.StatusNormalClosure, "bye"))
	assert.Equal(t, websocket.StatusNormalClosure, cl.wait(t).Code)

	// The subscribing channel closes: its Subscribe is cancelled, and it
	// leaves nothing subscribed.
	slow.Drop()
	assert.ErrorIs(t, <-subErr, context.Canceled)
	cl.wait(t)
	late := wsroutetest.MustDial(t, r, "/c", nil)
	go func() { <-b.entered; close(b.release) }()
	require.NoError(t, late.Channel().Subscribe("slow"), "a new subscriber subscribes the node again")
}
