package natsbroker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/natsbroker"
	"github.com/wsroute/wsroute/internal/brokertest"
)

// wait bounds every wait for something to arrive.
const wait = 10 * time.Second

// natsURL returns the shared NATS of the tests and fails t when it cannot be
// reached.
func natsURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WSROUTE_NATS_URL")
	if u == "" {
		u = natsbroker.DefaultURL
	}
	host := u
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		host = p.Host
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		t.Fatalf("NATS is not reachable at %s (%v): start one with `nats-server -a 127.0.0.1 -p 4222`, or set WSROUTE_NATS_URL", u, err)
	}
	_ = c.Close()
	return u
}

// prefix returns a subject prefix no other test uses.
func prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "wsroute-test." + hex.EncodeToString(b[:]) + "."
}

// connect makes a connection of the test's own, configured as the package
// documentation asks of one passed in Options.Conn, and closes it at the end.
func connect(t testing.TB, u string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	opts := append([]nats.Option{nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}, extra...)
	nc, err := nats.Connect(u, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// node is a Router on a natsbroker.Broker, served over loopback TCP.
type node struct {
	r   *wsroute.Router
	b   *natsbroker.Broker
	url string // ws:// URL of the chat channel
}

type pubIn struct {
	Topic   string          `json:"topic"`
	Data    json.RawMessage `json:"data"`
	Exclude bool            `json:"exclude"` // exclude the sender
}

type idOut struct {
	ID string `json:"id"`
}

// newNode makes a Broker with opts (a fresh prefix unless set, the shared
// NATS unless URL or Conn is set) and a Router on it, shut down at the end.
func newNode(t testing.TB, opts natsbroker.Options) *node {
	t.Helper()
	if opts.URL == "" && opts.Conn == nil {
		opts.URL = natsURL(t)
	}
	b, err := natsbroker.New(opts)
	require.NoError(t, err)
	return serve(t, b)
}

// serve runs a Router on b with a chat channel at /chat: sub, unsub, whoami
// and pub (a handler publishing on this node).
func serve(t testing.TB, b wsroute.Broker) *node {
	t.Helper()
	// A send queue for bursts: the order test publishes hundreds at once.
	r := wsroute.New(wsroute.Options{Broker: b, Limits: wsroute.Limits{SendQueue: 1024}})
	ch := r.Channel("/chat", wsroute.ChannelConfig{Public: true})
	public := wsroute.RouteConfig{Public: true}
	brokertest.HandleSubscriptions(ch)
	wsroute.Handle(ch, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (idOut, error) {
		return idOut{ID: c.ID()}, nil
	}, public)
	wsroute.Handle(ch, "pub", func(ctx context.Context, c *wsroute.Channel, in pubIn) (*struct{}, error) {
		var o wsroute.PublishOptions
		if in.Exclude {
			o.Exclude = c
		}
		return nil, c.Router().Publish(ctx, in.Topic, in.Data, o)
	}, public)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
		srv.Close()
	})
	nb, _ := b.(*natsbroker.Broker)
	return &node{r: r, b: nb, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/chat"}
}

// client is a WebSocket client whose frames are read in the background.
type client struct {
	t      testing.TB
	c      *websocket.Conn
	frames chan string
}

// dial connects a client to n's chat channel; it is closed at the end.
func (n *node) dial(t testing.TB) *client {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), n.url, nil)
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	cl := &client{t: t, c: c, frames: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(cl.frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			cl.frames <- string(b)
		}
	}()
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-done
	})
	return cl
}

// next returns the next frame, failing the test if none comes in time.
func (cl *client) next() string {
	cl.t.Helper()
	select {
	case f, ok := <-cl.frames:
		require.True(cl.t, ok, "connection closed")
		return f
	case <-time.After(wait):
		cl.t.Fatal("no frame arrived")
		return ""
	}
}

// send writes frame.
func (cl *client) send(frame string) {
	cl.t.Helper()
	require.NoError(cl.t, cl.c.Write(cl.t.Context(), websocket.MessageText, []byte(frame)))
}

// call sends a message and returns its reply (no event may be due meanwhile).
func (cl *client) call(action string, fields map[string]any) string {
	cl.t.Helper()
	m := map[string]any{"action": action}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(cl.t, err)
	cl.send(string(b))
	return cl.next()
}

func (cl *client) sub(topic string) {
	cl.t.Helper()
	require.JSONEq(cl.t, `{"action":"sub"}`, cl.call("sub", map[string]any{"topic": topic}))
}

func (cl *client) unsub(topic string) {
	cl.t.Helper()
	require.JSONEq(cl.t, `{"action":"unsub"}`, cl.call("unsub", map[string]any{"topic": topic}))
}

func (cl *client) id() string {
	cl.t.Helper()
	var out idOut
	require.NoError(cl.t, json.Unmarshal([]byte(cl.call("whoami", nil)), &out))
	require.NotEmpty(cl.t, out.ID)
	return out.ID
}

// event is the frame of a topic event.
func event(topic string, data any) string {
	b, err := json.Marshal(map[string]any{"topic": topic, "data": data})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// expect fails unless the next frame is the event.
func (cl *client) expect(topic string, data any) {
	cl.t.Helper()
	require.JSONEq(cl.t, event(topic, data), cl.next())
}

// publish publishes on n from the test, as a handler would.
func (n *node) publish(t testing.TB, topic string, data any, opts wsroute.PublishOptions) {
	t.Helper()
	require.NoError(t, n.r.Publish(t.Context(), topic, data, opts))
}
