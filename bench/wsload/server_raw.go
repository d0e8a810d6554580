//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"

	"github.com/coder/websocket"
)

// rawMsg is what the raw server decodes from each frame and encodes back.
type rawMsg struct {
	Action string      `json:"action"`
	Ref    json.Number `json:"ref"`
	Title  string      `json:"title"`
}

// newRawServer returns the reference: a hand-written coder/websocket echo
// that, in the connection's handler goroutine, reads each text frame with
// context.Background() (as wsroute's reader does), json.Unmarshals it into
// a struct and writes the json.Marshal of {"action","ref","title"} back. It
// has no auth, no routing table, no queues: the least a JSON echo costs. The
// second result counts open connections.
func newRawServer() (http.Handler, func() int64) {
	var open atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveRawLoop(w, r, &open, func(data []byte) ([]byte, bool) {
			var m rawMsg
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, false
			}
			out, err := json.Marshal(rawMsg{Action: m.Action, Ref: m.Ref, Title: m.Title})
			return out, err == nil
		})
	})
	return h, open.Load
}

// serveRawLoop is the connection handling both hand-written servers share:
// it accepts (compression off, wsroute's 64 KiB read limit), counts the
// connection in open, and, in the handler's goroutine, reads each text frame
// with context.Background() (as wsroute's reader does) and writes back what
// handle returns. A binary frame closes with 1008, a frame handle cannot
// decode (ok false) with 1007.
func serveRawLoop(w http.ResponseWriter, r *http.Request, open *atomic.Int64, handle func(frame []byte) (reply []byte, ok bool)) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 10) // wsroute's default
	open.Add(1)
	defer open.Add(-1)
	ctx := context.Background()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			c.Close(websocket.StatusPolicyViolation, "binary frames are not accepted")
			return
		}
		out, ok := handle(data)
		if !ok {
			c.Close(websocket.StatusInvalidFramePayloadData, "bad JSON")
			return
		}
		if err := c.Write(ctx, websocket.MessageText, out); err != nil {
			return
		}
	}
}
