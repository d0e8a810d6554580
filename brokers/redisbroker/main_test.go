package redisbroker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/brokers/redisbroker"
	"github.com/wsroute/wsroute/internal/brokertest"
	"github.com/wsroute/wsroute/internal/leakcheck"
)

// startHint tells how to start the Redis the tests need.
const startHint = `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`

// quiet discards go-redis's own log lines (dial failures during outages).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// TestMain fails the run if a Broker's goroutine, or a go-redis one, is
// still alive after every test has shut its Routers down.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	code := m.Run()
	if code == 0 {
		if left := waitGoroutines(10*time.Second, anyRedis); left != nil {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// anyRedis matches the goroutines of the adapter and of go-redis.
func anyRedis(stack string) bool {
	return strings.Contains(stack, "brokers/redisbroker.") || strings.Contains(stack, "github.com/redis/go-redis/v9")
}

// subscriptions matches the goroutines of the adapter and those reading a
// go-redis PubSub; not the other go-redis goroutines, which some clients
// start and stop by themselves (maintenance notifications).
func subscriptions(stack string) bool {
	return strings.Contains(stack, "brokers/redisbroker.") || strings.Contains(stack, "github.com/redis/go-redis/v9.(*PubSub)")
}

// waitGoroutines waits, at most wait, until no goroutine matches, and
// returns those left if some remain.
func waitGoroutines(wait time.Duration, match func(stack string) bool) []string {
	return leakcheck.Matching(wait, match)
}

// redisAddr is the shared test Redis: WSROUTE_REDIS_ADDR or 127.0.0.1:6379.
func redisAddr() string {
	if a := os.Getenv("WSROUTE_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newRedisClient returns a client of addr, closed when the test ends, after
// failing t if Redis does not answer there.
func newRedisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis does not answer at %s: %v\nstart it with:\n\t%s\nor set WSROUTE_REDIS_ADDR to a running one", addr, err, startHint)
	}
	return c
}

// uniquePrefix returns a Redis channel prefix no other test uses.
func uniquePrefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "wsroute-test:" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + hex.EncodeToString(b[:]) + ":"
}

// newBroker returns a Broker on the shared test Redis (unless opts says
// otherwise), failing t if Redis is down.
func newBroker(t testing.TB, opts redisbroker.Options) *redisbroker.Broker {
	t.Helper()
	if opts.Addr == "" && opts.Client == nil {
		opts.Addr = redisAddr()
		newRedisClient(t, opts.Addr)
	}
	b, err := redisbroker.New(opts)
	require.NoError(t, err)
	return b
}

// node is a Router served over loopback TCP.
type node struct {
	r   *wsroute.Router
	url string // the /chat channel's URL
}

type idOut struct {
	ID string `json:"id"`
}

type sayIn struct {
	Topic   string `json:"topic"`
	Text    string `json:"text"`
	Exclude bool   `json:"exclude"`
}

// newNode serves a Router on b whose /chat channel has the actions sub,
// unsub, say (publish text on topic, excluding the sender if asked) and
// whoami (the channel's id). It is shut down when the test ends.
func newNode(t testing.TB, b wsroute.Broker) *node {
	t.Helper()
	r := wsroute.New(wsroute.Options{Broker: b})
	ch := r.Channel("/chat", wsroute.ChannelConfig{Public: true})
	public := wsroute.RouteConfig{Public: true}
	brokertest.HandleSubscriptions(ch)
	wsroute.Handle(ch, "say", func(ctx context.Context, c *wsroute.Channel, in sayIn) (*struct{}, error) {
		opts := wsroute.PublishOptions{}
		if in.Exclude {
			opts.Exclude = c
		}
		return nil, c.Router().Publish(ctx, in.Topic, in.Text, opts)
	}, public)
	wsroute.Handle(ch, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (idOut, error) {
		return idOut{c.ID()}, nil
	}, public)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
		srv.Close()
	})
	return &node{r: r, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/chat"}
}

// client is a real WebSocket client whose frames a goroutine collects.
type client struct {
	c       *websocket.Conn
	frames  chan string
	stop    chan struct{}
	done    chan struct{}
	readErr error // why reading stopped, once done is closed
}

// dial connects a client to n, closed when the test ends.
func (n *node) dial(t testing.TB) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, n.url, nil)
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	cl := &client{c: c, frames: make(chan string, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(cl.done)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				cl.readErr = err
				return
			}
			select {
			case cl.frames <- string(b):
			case <-cl.stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(cl.stop)
		_ = c.CloseNow()
		<-cl.done
	})
	return cl
}

// send writes v as a JSON text frame.
func (cl *client) send(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cl.c.Write(ctx, websocket.MessageText, b))
}

// next returns the next frame, failing t if none arrives within 10s.
func (cl *client) next(t testing.TB) string {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case f := <-cl.frames:
		return f
	case <-cl.done:
		select {
		case f := <-cl.frames: // received before the end
			return f
		default:
		}
		t.Fatalf("the connection ended: %v", cl.readErr)
		return ""
	case <-timer.C:
		t.Fatal("no frame within 10s")
		return ""
	}
}

// call sends an action and requires the next frame to be its reply,
// returning it.
func (cl *client) call(t testing.TB, action string, fields map[string]any) string {
	t.Helper()
	msg := map[string]any{"action": action}
	for k, v := range fields {
		msg[k] = v
	}
	cl.send(t, msg)
	reply := cl.next(t)
	var r struct {
		Action string          `json:"action"`
		Error  json.RawMessage `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(reply), &r), reply)
	require.Equal(t, action, r.Action, "reply to %s: %s", action, reply)
	require.Empty(t, r.Error, "reply to %s: %s", action, reply)
	return reply
}

// sub subscribes the client to topic.
func (cl *client) sub(t testing.TB, topic string) {
	t.Helper()
	cl.call(t, "sub", map[string]any{"topic": topic})
}

// unsub unsubscribes the client from topic.
func (cl *client) unsub(t testing.TB, topic string) {
	t.Helper()
	cl.call(t, "unsub", map[string]any{"topic": topic})
}

// id returns the client's channel id.
func (cl *client) id(t testing.TB) string {
	t.Helper()
	var out idOut
	require.NoError(t, json.Unmarshal([]byte(cl.call(t, "whoami", nil)), &out))
	require.NotEmpty(t, out.ID)
	return out.ID
}

// event is the frame of a topic event carrying a string.
func event(topic, text string) string {
	return fmt.Sprintf(`{"topic":%q,"data":%q}`, topic, text)
}
