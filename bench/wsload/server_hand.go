//go:build linux

package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// handData is the validated workload's payload.
type handData struct {
	User string `json:"user"`
	Room string `json:"room"`
	Text string `json:"text"`
	N    int    `json:"n"`
	Seq  int    `json:"seq"`
}

// handMsg is what the hand server decodes from each frame and encodes back.
type handMsg struct {
	Action string      `json:"action"`
	Ref    json.Number `json:"ref"`
	Data   *handData   `json:"data"`
}

// handError is the hand server's error reply.
type handError struct {
	Action string      `json:"action"`
	Ref    json.Number `json:"ref"`
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// handCheck is valSchema written as if statements: it returns the reason m
// is refused, or "". What json.Unmarshal into handMsg already enforces
// (strings are strings, n and seq integers) is not checked again; what it
// cannot see — an unknown key, an n or seq that is missing rather than 0 —
// is not checked at all, so the hand server does a little less than the
// schema.
func handCheck(m *handMsg) string {
	switch d := m.Data; {
	case d == nil:
		return "data is required"
	case !runesWithin(d.User, 1, 64):
		return "data.user: length out of bounds"
	case !runesWithin(d.Room, 1, 64):
		return "data.room: length out of bounds"
	case !runesWithin(d.Text, 1, 200):
		return "data.text: length out of bounds"
	case d.N < 0:
		return "data.n: below minimum"
	case d.Seq < 0:
		return "data.seq: below minimum"
	}
	return ""
}

// runesWithin reports whether s has between lo and hi runes.
func runesWithin(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

// newHandServer returns the validated workload's baseline: a hand-written
// coder/websocket server that does the validated route's work by hand. At
// open it requires ?token=user-<id> (401 otherwise) and keeps the user; for
// each text frame it json.Unmarshals a handMsg, refuses it with an error
// reply when the user is banned (the permission), the action is not "echo"
// or handCheck fails, and otherwise writes the json.Marshal of
// {"action","ref","data"} back. The second result counts open connections.
func newHandServer() (http.Handler, func() int64) {
	var open atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Query().Get("token"), "user-")
		if !ok || id == "" {
			http.Error(w, "unknown token", http.StatusUnauthorized)
			return
		}
		u := &user{ID: id}
		serveRawLoop(w, r, &open, func(data []byte) ([]byte, bool) {
			var m handMsg
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, false
			}
			code, why := "", ""
			switch {
			case u.Banned:
				code, why = "forbidden", "banned"
			case m.Action != "echo":
				code, why = "not_found", "unknown action"
			default:
				if why = handCheck(&m); why != "" {
					code = "invalid"
				}
			}
			var out []byte
			var err error
			if code != "" {
				e := handError{Action: m.Action, Ref: m.Ref}
				e.Error.Code, e.Error.Message = code, why
				out, err = json.Marshal(e)
			} else {
				out, err = json.Marshal(handMsg{Action: m.Action, Ref: m.Ref, Data: m.Data})
			}
			return out, err == nil
		})
	})
	return h, open.Load
}
