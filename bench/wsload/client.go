//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// msgTitle is the 100-character title of every message.
var msgTitle = strings.Repeat("0123456789", 10)

// appendFrame appends {"action":"echo","ref":ref,"title":msgTitle}.
func appendFrame(b []byte, ref int64) []byte {
	b = append(b, `{"action":"echo","ref":`...)
	b = strconv.AppendInt(b, ref, 10)
	b = append(b, `,"title":"`...)
	b = append(b, msgTitle...)
	return append(b, `"}`...)
}

// wantTitle is the member every reply must carry.
var wantTitle = []byte(`"title":"` + msgTitle + `"`)

// checkReply verifies that data is the echo reply to the frame with ref:
// action echo, the same ref, the same title, no error. It scans instead of
// decoding, to keep the client's cost per message low.
func checkReply(typ websocket.MessageType, data []byte, ref int64) error {
	if typ != websocket.MessageText {
		return errors.New("reply is not a text frame")
	}
	if !bytes.Contains(data, wantTitle) || !bytes.Contains(data, []byte(`"action":"echo"`)) || bytes.Contains(data, []byte(`"error":`)) {
		return fmt.Errorf("unexpected reply %.200s", data)
	}
	return checkRef(data, ref)
}

// valText is the text pool of the validated workload: a frame's text is its
// first 40–100 characters, the length varying with the ref.
var valText = strings.Repeat("the quick brown fox jumps over the lazy dog; ", 3)[:100]

// appendValFrame appends the validated workload's frame for ref:
// {"action":"echo","ref":ref,"data":{"user":"u-123","room":"lobby",
// "text":"<40–100 characters>","n":ref%1000,"seq":ref}}.
func appendValFrame(b []byte, ref int64) []byte {
	b = append(b, `{"action":"echo","ref":`...)
	b = strconv.AppendInt(b, ref, 10)
	b = append(b, `,"data":{"user":"u-123","room":"lobby","text":"`...)
	b = append(b, valText[:40+ref%61]...)
	b = append(b, `","n":`...)
	b = strconv.AppendInt(b, ref%1000, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, ref, 10)
	return append(b, `}}`...)
}

// valData returns the "data" member of a frame appendValFrame built, which
// the reply must carry byte for byte.
func valData(frame []byte) []byte {
	i := bytes.Index(frame, []byte(`"data":`))
	if i < 0 || len(frame) == 0 {
		return nil
	}
	return frame[i : len(frame)-1]
}

// checkValReply verifies that data is the validated echo's reply to frame
// (built by appendValFrame for ref): action echo, the same ref, the same
// "data" member, no error.
func checkValReply(typ websocket.MessageType, data, frame []byte, ref int64) error {
	want := valData(frame)
	if typ != websocket.MessageText {
		return errors.New("reply is not a text frame")
	}
	if len(want) == 0 || !bytes.Contains(data, want) || !bytes.Contains(data, []byte(`"action":"echo"`)) || bytes.Contains(data, []byte(`"error":`)) {
		return fmt.Errorf("unexpected reply %.300s", data)
	}
	return checkRef(data, ref)
}

// checkRef verifies that data's "ref" member is ref.
func checkRef(data []byte, ref int64) error {
	i := bytes.Index(data, []byte(`"ref":`))
	if i < 0 {
		return fmt.Errorf("reply without ref: %.200s", data)
	}
	j := i + len(`"ref":`)
	k := j
	for k < len(data) && data[k] >= '0' && data[k] <= '9' {
		k++
	}
	if got, err := strconv.ParseInt(string(data[j:k]), 10, 64); err != nil || got != ref {
		return fmt.Errorf("reply to ref %d has ref %q", ref, data[j:k])
	}
	return nil
}

// dialer holds the HTTP client used for upgrades (no proxy, loopback only).
var dialer = &http.Client{Transport: &http.Transport{Proxy: nil}}

// dialAll opens n connections to the server's echo, parallel at a time, each
// with the token "user-<i>". On error it closes those it opened.
func dialAll(ctx context.Context, addr string, n, parallel int) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				c, _, err := websocket.Dial(dctx, "ws://"+addr+echoPath+"?token=user-"+strconv.Itoa(i), &websocket.DialOptions{HTTPClient: dialer})
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("dial %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// closeAll drops every connection at once.
func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.CloseNow()
		}
	}
}

// load is the closed-loop traffic of the throughput phase.
type load struct {
	measuring atomic.Bool   // round trips started and ended now are recorded
	stop      atomic.Bool   // workers exit after their round trip
	done      atomic.Int64  // round trips completed
	lat       []latencies   // per worker
	interval  time.Duration // per worker between sends when paced; 0: closed loop
	validated bool          // send the validated workload's frame instead of the title one
	wg        sync.WaitGroup
	errOnce   sync.Once
	err       atomic.Pointer[error]
}

// fail records a worker's error, unless the load is stopping.
func (l *load) fail(err error) {
	if l.stop.Load() {
		return
	}
	l.errOnce.Do(func() { l.err.Store(&err) })
}

// firstErr returns the first worker error, or nil.
func (l *load) firstErr() error {
	if p := l.err.Load(); p != nil {
		return *p
	}
	return nil
}

// worker sends a frame, waits for its reply, checks it, and again, until
// stopped; when paced, it sends at most every l.interval (skipping slots it
// is late for). Reads and writes use context.Background(): stopping is by
// the stop flag, and a stuck peer is cut by closing the connection.
func (l *load) worker(i int, c *websocket.Conn) {
	defer l.wg.Done()
	ctx := context.Background()
	var buf bytes.Buffer
	frame := make([]byte, 0, 256)
	ref := int64(i+1) * 1_000_000_000
	next := time.Now()
	if l.interval > 0 { // spread the workers' slots over one interval
		next = next.Add(l.interval * time.Duration(i) / time.Duration(len(l.lat)))
	}
	for !l.stop.Load() {
		if l.interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(l.interval)
			if now := time.Now(); next.Before(now) {
				next = now
			}
		}
		ref++
		if l.validated {
			frame = appendValFrame(frame[:0], ref)
		} else {
			frame = appendFrame(frame[:0], ref)
		}
		measuring := l.measuring.Load()
		start := time.Now()
		if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
			l.fail(err)
			return
		}
		typ, rd, err := c.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(rd)
		}
		if err != nil {
			l.fail(err)
			return
		}
		d := time.Since(start)
		if l.validated {
			err = checkValReply(typ, buf.Bytes(), frame, ref)
		} else {
			err = checkReply(typ, buf.Bytes(), ref)
		}
		if err != nil {
			l.fail(err)
			return
		}
		if measuring && l.measuring.Load() {
			l.lat[i].add(d)
		}
		l.done.Add(1)
	}
}
