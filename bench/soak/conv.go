package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// fields is a received frame decoded one level deep.
type fields map[string]json.RawMessage

// expect is what the reply to one sent frame must be.
type expect struct {
	ref    string // the ref the reply echoes, as JSON text; "": it must carry none
	action string // the action the reply echoes; "": it must carry none
	code   string // the error code; "": a success
	alt    string // another error code accepted instead of the expected answer
	raw    bool   // a default-handler reply: no action or ref added
	check  func(f fields) error
}

// wireErr is the "error" member of an error frame.
type wireErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Pointer string `json:"pointer"`
		Message string `json:"message"`
	} `json:"details"`
}

// errGone is returned by send when the connection has ended.
var errGone = errors.New("connection ended")

// conv is one client connection whose every frame sent with an expectation
// must get exactly one reply, in the order sent: a reader goroutine matches
// each reply with the oldest expectation. Topic events go to onEvent.
type conv struct {
	rn      *runner
	kind    string
	wb      bool // well-behaved: counted apart, parked before Shutdown
	c       *websocket.Conn
	slots   chan struct{} // pipelining window
	onEvent func(f fields)
	done    chan struct{} // closed when the reader has ended
	err     error         // the read error that ended it; set before done closes
	hungUp  bool          // our Close completed the closing handshake

	mu   sync.Mutex
	fifo []expect
}

// newConv starts the reader of c with a pipelining window.
func (rn *runner) newConv(c *websocket.Conn, kind string, wb bool, window int, onEvent func(f fields)) *conv {
	v := &conv{rn: rn, kind: kind, wb: wb, c: c, slots: make(chan struct{}, window), onEvent: onEvent, done: make(chan struct{})}
	go v.read()
	return v
}

// read is the reader: it checks every frame received until the connection ends.
func (v *conv) read() {
	defer close(v.done)
	for {
		_, data, err := v.c.Read(context.Background())
		if err != nil {
			v.err = err
			return
		}
		var f fields
		if err := json.Unmarshal(data, &f); err != nil {
			v.rn.fail("%s: frame is not a JSON object: %.160s", v.kind, data)
			continue
		}
		if _, ok := f["topic"]; ok {
			if v.onEvent == nil {
				v.rn.fail("%s: unexpected topic event %.160s", v.kind, data)
			} else {
				v.onEvent(f)
			}
			continue
		}
		v.mu.Lock()
		if len(v.fifo) == 0 {
			v.mu.Unlock()
			v.rn.fail("%s: frame that answers nothing sent: %.160s", v.kind, data)
			continue
		}
		e := v.fifo[0]
		v.fifo = v.fifo[1:]
		v.mu.Unlock()
		<-v.slots
		if err := v.rn.verify(f, e); err != nil {
			v.rn.fail("%s: reply to ref %s (%s): %v: %.200s", v.kind, e.ref, e.action, err, data)
		}
		v.rn.st.countAnswered(v.wb)
	}
}

// verify checks a reply against its expectation and counts error codes.
func (rn *runner) verify(f fields, e expect) error {
	if !e.raw {
		ref, hasRef := f["ref"]
		if e.ref != "" && string(ref) != e.ref {
			return fmt.Errorf("ref %s, want %s (out of order, lost or duplicated reply)", ref, e.ref)
		}
		if e.ref == "" && hasRef {
			return fmt.Errorf("unexpected ref %s", ref)
		}
		act, hasAct := f["action"]
		if e.action != "" && string(act) != strconv.Quote(e.action) {
			return fmt.Errorf("action %s, want %q", act, e.action)
		}
		if e.action == "" && hasAct {
			return fmt.Errorf("unexpected action %s", act)
		}
	}
	if raw, ok := f["error"]; ok {
		var we wireErr
		if err := json.Unmarshal(raw, &we); err != nil || we.Code == "" || we.Message == "" {
			return fmt.Errorf("malformed error member %s", raw)
		}
		rn.st.countErr(we.Code)
		switch {
		case we.Code == e.alt:
		case we.Code != e.code:
			return fmt.Errorf("error %q, want %q", we.Code, cmpOr(e.code, "success"))
		case we.Code == "internal" && we.Message != "internal error":
			return fmt.Errorf("internal error message leaks %q", we.Message)
		case we.Code == "invalid" && len(we.Details) == 0:
			return errors.New("invalid without details")
		}
		return nil
	}
	if e.code != "" {
		return fmt.Errorf("success, want error %q", e.code)
	}
	if e.check != nil {
		return e.check(f)
	}
	return nil
}

// cmpOr returns s, or def when s is empty.
func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// send writes a text frame whose reply must match e, waiting for a slot of
// the window first.
func (v *conv) send(frame []byte, e expect) error {
	select {
	case v.slots <- struct{}{}:
	case <-v.done:
		return errGone
	}
	v.mu.Lock()
	v.fifo = append(v.fifo, e)
	v.mu.Unlock()
	return v.write(websocket.MessageText, frame)
}

// write writes one frame that expects no reply of its own.
func (v *conv) write(typ websocket.MessageType, frame []byte) error {
	v.rn.countSent(v.wb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return v.c.Write(ctx, typ, frame)
}

// pending returns how many replies are still awaited.
func (v *conv) pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.fifo)
}

// drain waits until every reply has arrived or the connection ended, at
// most d, and reports whether none is missing.
func (v *conv) drain(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for v.pending() > 0 {
		select {
		case <-v.done:
			return v.pending() == 0
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// end waits, at most d, for the connection to end, records the close code
// the client saw and checks it is want. During Shutdown 1001 and a dropped
// connection (-1) are accepted too. Unless missingOK, replies still awaited
// are failures.
func (v *conv) end(want websocket.StatusCode, d time.Duration, missingOK bool) websocket.StatusCode {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.done:
	case <-t.C:
		v.rn.fail("%s: connection still open %v after it should have closed with %d", v.kind, d, want)
		_ = v.c.CloseNow()
		<-v.done
	}
	code := websocket.CloseStatus(v.err)
	if code == -1 && v.hungUp {
		code = websocket.StatusNormalClosure // our Close read the server's close frame itself
	}
	v.rn.st.countClose(v.kind, code)
	late := v.rn.shuttingDown() && (code == websocket.StatusGoingAway || code == -1)
	if code != want && !late {
		v.rn.fail("%s: closed with %d (%v), want %d", v.kind, code, v.err, want)
	}
	if n := v.pending(); n > 0 && !missingOK && !late {
		v.rn.fail("%s: %d replies never arrived (closed with %d)", v.kind, n, code)
	}
	return code
}

// closeNormally drains the replies, closes with 1000 and checks the end.
func (v *conv) closeNormally() {
	if !v.drain(15*time.Second) && !v.ended() { // when it ended, end says why
		v.rn.fail("%s: %d replies missing after 15s", v.kind, v.pending())
	}
	v.hangUp("bye", false)
}

// ended reports whether the connection has ended.
func (v *conv) ended() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

// hangUp closes with 1000 now, whatever is still awaited, and checks the
// end; unless missingOK, replies still awaited are failures.
func (v *conv) hangUp(reason string, missingOK bool) {
	v.hungUp = v.c.Close(websocket.StatusNormalClosure, reason) == nil
	v.end(websocket.StatusNormalClosure, 10*time.Second, missingOK)
}

// abort ends the connection at once, without checks.
func (v *conv) abort() {
	_ = v.c.CloseNow()
	<-v.done
}
