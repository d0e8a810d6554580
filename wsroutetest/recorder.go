package wsroutetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wsroute/wsroute"
)

// Recorder is a real, open Channel for calling one handler function directly,
// without routing: what the handler sends with Channel.Send, and the topic
// events it receives, are recorded.
//
//	rec := wsroutetest.NewRecorder(t)
//	rec.Channel.SetSession(User{ID: "alice"})
//	out, err := createTodo(ctx, rec.Channel, CreateInput{Title: "milk"})
//	sent := rec.Sent(t)
type Recorder struct {
	Channel *wsroute.Channel // the channel to pass to the handler
	Router  *wsroute.Router  // its Router, for Publish and Len
	conn    *Conn
}

// NewRecorder opens a public channel with no routes on a new Router in
// memory. It is closed, and its Router shut down, when the test ends.
func NewRecorder(t testing.TB) *Recorder {
	t.Helper()
	r := wsroute.New(wsroute.Options{})
	r.Channel("/", wsroute.ChannelConfig{Name: "recorder", Public: true})
	c := MustDial(t, r, "/", nil)
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run: give Shutdown its own deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("wsroutetest: recorder: shutdown: %v", err)
		}
	})
	return &Recorder{Channel: c.Channel(), Router: r, conn: c}
}

// Sent returns the frames sent to the channel's peer since the last call.
func (rec *Recorder) Sent(t testing.TB) []json.RawMessage {
	t.Helper()
	frames, err := rec.conn.Received(t.Context())
	if err != nil {
		t.Fatalf("wsroutetest: recorder: %v", err)
	}
	return frames
}
