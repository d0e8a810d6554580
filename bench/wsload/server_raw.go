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
			var m rawMsg
			if err := json.Unmarshal(data, &m); err != nil {
				c.Close(websocket.StatusInvalidFramePayloadData, "bad JSON")
				return
			}
			out, err := json.Marshal(rawMsg{Action: m.Action, Ref: m.Ref, Title: m.Title})
			if err != nil {
				return
			}
			if err := c.Write(ctx, websocket.MessageText, out); err != nil {
				return
			}
		}
	})
	return h, open.Load
}
