package wsroutetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wsroute/wsroute"
)

// Recorder is a real, open Channel for calling a handler function directly,
// without routing a frame to it: what is sent to the channel (Channel.Send,
// topic events, what OnConnect sent) is recorded for Sent.
//
//	r := newRouter() // the application's Router, with "/rooms/{room}"
//	rec := wsroutetest.NewRecorder(t, r, "/rooms/42?token=alice-token", nil)
//	out, err := say(ctx, rec.Channel, SayInput{Text: "hi"}) // rec.Channel.PathValue("room") == "42"
//	sent := rec.Sent(t)
type Recorder struct {
	Channel *wsroute.Channel // the channel to pass to the handler
	Router  *wsroute.Router  // its Router, for Publish, Len and Lookup
	Conn    *Conn            // the client end: Settle, ReadEvent, Close, ...
}

// NewRecorder opens a channel on r at target (a path with an optional query,
// as for Dial) with opts, in memory, through the real open lifecycle:
// middleware, auth, permissions and OnConnect run, and the channel's path
// values, query, header and session are what they would be for a client.
// A refused opening fails t at once. The channel is dropped when the test
// ends; r is the caller's and is left running.
//
// With r nil, NewRecorder makes a Router of its own with one public channel
// at "/" (which matches any target; "" means "/") that has no routes, no
// authenticator and no OnConnect, and shuts it down when the test ends: the
// zero-setup form for a handler that needs no path value and nothing of the
// application's lifecycle.
//
//	rec := wsroutetest.NewRecorder(t, nil, "", nil)
//	rec.Channel.SetSession(User{ID: "alice"})
//	out, err := createTodo(ctx, rec.Channel, CreateInput{Title: "milk"})
func NewRecorder(t testing.TB, r *wsroute.Router, target string, opts *DialOptions) *Recorder {
	t.Helper()
	if r == nil {
		r = wsroute.New(wsroute.Options{})
		r.Channel("/", wsroute.ChannelConfig{Name: "recorder", Public: true})
		t.Cleanup(func() {
			// t.Context is already cancelled when cleanups run: give Shutdown its own deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Shutdown(ctx); err != nil {
				t.Errorf("wsroutetest: recorder: shutdown: %v", err)
			}
		})
	}
	if target == "" {
		target = "/"
	}
	c, err := Dial(t.Context(), r, target, opts)
	if err != nil {
		t.Fatalf("wsroutetest: recorder: dial %s: %v", target, err)
	}
	t.Cleanup(c.Drop)
	return &Recorder{Channel: c.Channel(), Router: r, Conn: c}
}

// Sent returns, in order, the frames sent to the channel's peer since the
// last call (Conn.Received, which flushes first); it fails t if the test's
// context ends first.
func (rec *Recorder) Sent(t testing.TB) []json.RawMessage {
	t.Helper()
	frames, err := rec.Conn.Received(t.Context())
	if err != nil {
		t.Fatalf("wsroutetest: recorder: %v", err)
	}
	return frames
}
