package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// The share of the clients that are well-behaved, per ten: clients 0-2 of
// every ten send ordered requests, client 3 subscribes, the rest are hostile.
const (
	orderedPerTen    = 3
	subscriberPerTen = 1
)

// orderedPace is the most requests per second an ordered client sends on
// average, well below /ordered's rate limit: well-behaved clients are never
// refused with rate_limited.
const orderedPace = 1000

// client runs client i until the soak ends, in the role its index gives it.
func (rn *runner) client(i int) {
	rng := rand.New(rand.NewPCG(rn.cfg.Seed, uint64(i)))
	switch role := i % 10; {
	case role < orderedPerTen:
		rn.wellBehaved(i, rng, rn.orderedSession)
	case role < orderedPerTen+subscriberPerTen:
		rn.wellBehaved(i, rng, rn.subscriberSession)
	default:
		for !rn.quitting() {
			rn.hostile(rng)
			sleepUpTo(rng, 5*time.Millisecond)
		}
	}
}

// wellBehaved runs sessions one after the other until the load phase ends,
// then waits for the Router to close the last one with 1001. It tells the
// runner (parked) when no reply is awaited any more, so that Shutdown never
// discards a well-behaved request.
func (rn *runner) wellBehaved(i int, rng *rand.Rand, session func(i int, rng *rand.Rand, v *conv) bool) {
	var park sync.Once
	defer park.Do(rn.parked.Done)
	kind := "ordered"
	if i%10 >= orderedPerTen {
		kind = "subscriber"
	}
	for !rn.stopping() {
		token := "user-" + strconv.Itoa(i)
		c, status, err := rn.dial(kind, "/ordered", url.Values{"token": {token}}, nil)
		if err != nil {
			rn.fail("%s: dial: status %d: %v", kind, status, err)
			sleepUpTo(rng, 100*time.Millisecond)
			continue
		}
		v := rn.newConv(c, kind, true, 16, nil)
		if session(i, rng, v) { // the load phase ended during the session
			if !v.drain(15*time.Second) && !v.ended() {
				rn.fail("%s: %d replies missing 15s after the load phase", kind, v.pending())
			}
			park.Do(rn.parked.Done)
			v.end(websocket.StatusGoingAway, rn.cfg.ShutdownTimeout+30*time.Second, false)
			return
		}
		v.closeNormally()
	}
}

// orderedSession sends pipelined requests with increasing refs: echo (with
// a schema), slow, boom (panics for every boomEvery-th ref), publish,
// whoami, and invalid echoes; each reply is checked in order. It returns
// true when it ended because the load phase did.
func (rn *runner) orderedSession(i int, rng *rand.Rand, v *conv) bool {
	label := "o" + strconv.FormatInt(rn.cids.Add(1), 10)
	user := `"user-` + strconv.Itoa(i) + `"`
	var seq int64
	n := 100 + rng.IntN(3000)
	next := time.Now() // pacing: when the next request is due
	for ref := int64(1); ref <= int64(n); ref++ {
		if rn.stopping() {
			return true
		}
		if d := time.Until(next); d > 5*time.Millisecond {
			time.Sleep(d)
		}
		next = next.Add(time.Second / orderedPace)
		frame, e := orderedRequest(rng, ref, label, user, &seq)
		if err := v.send(frame, e); err != nil {
			rn.fail("ordered: connection ended while sending ref %d: %v (close %d)", ref, err, websocket.CloseStatus(v.err))
			return rn.stopping()
		}
		if rng.IntN(8) == 0 {
			sleepUpTo(rng, 2*time.Millisecond)
		}
	}
	return rn.stopping()
}

// orderedRequest returns a random well-formed request with ref and what its
// reply must be.
func orderedRequest(rng *rand.Rand, ref int64, label, user string, seq *int64) ([]byte, expect) {
	r := strconv.FormatInt(ref, 10)
	switch p := rng.IntN(100); {
	case p < 50:
		return fmt.Appendf(nil, `{"action":"echo","ref":%d,"title":"t%d","n":%d}`, ref, ref, ref),
			expect{ref: r, action: "echo", check: fieldsAre(map[string]string{"title": `"t` + r + `"`, "n": r})}
	case p < 55:
		title := `"é\"\\` + r + `"`
		return fmt.Appendf(nil, `{"n":0,"title":%s,"ref":%d,"action":"echo"}`, title, ref),
			expect{ref: r, action: "echo", check: fieldsAre(map[string]string{"title": `"é\"\\` + r + `"`})}
	case p < 65:
		ms := strconv.Itoa(rng.IntN(15))
		return fmt.Appendf(nil, `{"action":"slow","ref":%d,"ms":%s}`, ref, ms),
			expect{ref: r, action: "slow", check: fieldsAre(map[string]string{"slept": ms})}
	case p < 75:
		e := expect{ref: r, action: "boom", check: fieldsAre(map[string]string{"result": r})}
		if ref%boomEvery == 0 {
			e = expect{ref: r, action: "boom", code: "internal"}
		}
		return fmt.Appendf(nil, `{"action":"boom","ref":%d,"n":%d}`, ref, ref), e
	case p < 80:
		*seq++
		return fmt.Appendf(nil, `{"action":"publish","ref":%d,"topic":%q,"from":%q,"seq":%d}`, ref, newsTopic, label, *seq),
			expect{ref: r, action: "publish", check: isAck}
	case p < 88:
		return fmt.Appendf(nil, `{"ref":%d,"action":"whoami"}`, ref),
			expect{ref: r, action: "whoami", check: fieldsAre(map[string]string{"user": user})}
	default:
		return fmt.Appendf(nil, `{"action":"echo","ref":%d,"title":%d,"n":-1}`, ref, ref),
			expect{ref: r, action: "echo", code: "invalid"}
	}
}

// fieldsAre checks that the reply's members have exactly these JSON texts.
func fieldsAre(want map[string]string) func(f fields) error {
	return func(f fields) error {
		for k, w := range want {
			if got := string(f[k]); got != w {
				return fmt.Errorf("%s is %s, want %s", k, got, w)
			}
		}
		return nil
	}
}

// isAck checks that a reply has nothing but its action and ref.
func isAck(f fields) error {
	if len(f) != 2 {
		return fmt.Errorf("ack with %d members", len(f))
	}
	return nil
}

// subscriber follows the topic events one subscriber receives. Its methods
// run on the reader goroutine of its connection, in the order of the frames.
type subscriber struct {
	rn         *runner
	label      string
	subscribed bool
	joining    atomic.Int32     // subscribe requests sent and not yet acknowledged
	last       map[string]int64 // publisher → last seq seen while subscribed
}

// event checks a topic event: never the subscriber's own publish; while
// subscribed, each publisher's seqs in order and without gaps.
func (s *subscriber) event(f fields) {
	var ev event
	if string(f["topic"]) != strconv.Quote(newsTopic) || json.Unmarshal(f["data"], &ev) != nil || ev.From == "" || len(f) != 2 {
		s.rn.fail("subscriber: malformed event %v", f)
		return
	}
	if ev.From == s.label {
		s.rn.fail("subscriber %s: received its own publish %d despite Exclude", s.label, ev.Seq)
	}
	if !s.subscribed {
		if s.joining.Load() > 0 {
			s.rn.st.early.Add(1) // queued between Subscribe and its reply
		} else {
			s.rn.st.late.Add(1) // queued after the unsubscribe's reply
		}
		return
	}
	if last, ok := s.last[ev.From]; ok && ev.Seq != last+1 {
		s.rn.fail("subscriber %s: from %s seq %d after %d (lost, duplicated or reordered event)", s.label, ev.From, ev.Seq, last)
	}
	s.last[ev.From] = ev.Seq
	s.rn.st.events.Add(1)
}

// subscriberSession subscribes to the news topic and, while events arrive,
// publishes its own, echoes, and leaves and rejoins the topic. It returns
// true when it ended because the load phase did.
func (rn *runner) subscriberSession(_ int, rng *rand.Rand, v *conv) bool {
	s := &subscriber{rn: rn, label: "s" + strconv.FormatInt(rn.cids.Add(1), 10)}
	v.onEvent = s.event // set before the first send: no event can arrive earlier
	join := expect{action: "subscribe", check: func(fields) error {
		s.subscribed, s.last = true, map[string]int64{}
		s.joining.Add(-1)
		return nil
	}}
	leave := expect{action: "unsubscribe", check: func(fields) error { s.subscribed = false; return nil }}
	var seq int64
	n := 50 + rng.IntN(500)
	for ref := int64(1); ref <= int64(n) && !rn.stopping(); ref++ {
		r := strconv.FormatInt(ref, 10)
		var err error
		switch p := rng.IntN(10); {
		case ref == 1 || p == 0:
			join.ref = r
			s.joining.Add(1)
			err = v.send(fmt.Appendf(nil, `{"action":"subscribe","ref":%d,"topic":%q}`, ref, newsTopic), join)
		case p == 1:
			leave.ref = r
			err = v.send(fmt.Appendf(nil, `{"action":"unsubscribe","ref":%d,"topic":%q}`, ref, newsTopic), leave)
		case p < 4:
			seq++
			err = v.send(fmt.Appendf(nil, `{"action":"publish","ref":%d,"topic":%q,"from":%q,"seq":%d}`, ref, newsTopic, s.label, seq),
				expect{ref: r, action: "publish", check: isAck})
		case p < 6:
			err = v.send(fmt.Appendf(nil, `{"action":"echo","ref":%d,"title":"s","n":%d}`, ref, ref),
				expect{ref: r, action: "echo", check: fieldsAre(map[string]string{"n": r})})
		default:
			sleepUpTo(rng, 10*time.Millisecond) // events keep arriving meanwhile
		}
		if err != nil {
			rn.fail("subscriber: connection ended while sending ref %d: %v (close %d)", ref, err, websocket.CloseStatus(v.err))
			return rn.stopping()
		}
	}
	return rn.stopping()
}

// dial opens a WebSocket to path with the query q (plus kind and, unless q
// has one, a unique cid) and the header h. It returns the HTTP status when refused.
func (rn *runner) dial(kind, path string, q url.Values, h http.Header) (*websocket.Conn, int, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("kind", kind)
	if q.Get("cid") == "" {
		q.Set("cid", strconv.FormatInt(rn.cids.Add(1), 10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, rn.wsURL+path+"?"+q.Encode(), &websocket.DialOptions{HTTPClient: rn.hc, HTTPHeader: h})
	status := 0
	if res != nil {
		status = res.StatusCode
	}
	if err != nil {
		return nil, status, err
	}
	c.SetReadLimit(1 << 20)
	rn.st.countDial(kind)
	return c, status, nil
}

// sleepUpTo sleeps a random time below d.
func sleepUpTo(rng *rand.Rand, d time.Duration) {
	time.Sleep(time.Duration(rng.Int64N(int64(d))))
}
