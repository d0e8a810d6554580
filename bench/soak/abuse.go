package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// stall asks for a burst of pushes and stops reading. The Router must drop
// the connection without a close frame ("slow consumer" when the send queue
// overflows, "write timeout" when a write hangs, "heartbeat timeout" when
// the pong stays unread) — the client waits until
// the ledger saw the channel close, then reads what TCP buffered and must
// find the connection cut, with no close frame and no ack.
func (rn *runner) stall(rng *rand.Rand) {
	cid := strconv.FormatInt(rn.cids.Add(1), 10)
	q := token(rng)
	q.Set("cid", cid)
	c, status, err := rn.dial("stall", "/ordered", q, nil)
	if err != nil {
		if !rn.shuttingDown() {
			rn.fail("stall: dial: status %d: %v", status, err)
		}
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rn.countSent(false)
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"burst","ref":1,"n":50000,"size":1024}`)); err != nil {
		rn.fail("stall: write: %v", err)
		return
	}
	info, ok := rn.ledger.waitClose(cid, soakWriteTimeout+15*time.Second)
	switch {
	case !ok:
		rn.fail("stall: channel %s not dropped %v after it stopped reading", cid, soakWriteTimeout+15*time.Second)
		return
	case info.Code == -1 && (info.Reason == "slow consumer" || info.Reason == "write timeout" || info.Reason == "heartbeat timeout"):
		rn.st.stallDrops.Add(1)
	case rn.shuttingDown():
	default:
		rn.fail("stall: channel closed with %d %q, want a drop as slow consumer or write timeout", info.Code, info.Reason)
	}
	pushes := 0
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			code := websocket.CloseStatus(err)
			rn.st.countClose("stall", code)
			if code != -1 && !(rn.shuttingDown() && code == websocket.StatusGoingAway) {
				rn.fail("stall: after %d pushes the connection ended with %d (%v), want no close frame", pushes, code, err)
			}
			return
		}
		if len(data) > 0 && data[0] == '{' {
			rn.fail("stall: burst answered %.100s after %d pushes: never dropped", data, pushes)
		}
		pushes++
	}
}

// midHandler sends a slow request and leaves while it runs: at once
// (CloseNow) or politely (1000). The handler's context must be cancelled and
// OnDisconnect run once.
func (rn *runner) midHandler(rng *rand.Rand) {
	v := rn.open("midhandler", "/ordered", token(rng), 4)
	if v == nil {
		return
	}
	ms := strconv.Itoa(50 + rng.IntN(250))
	_ = v.send([]byte(`{"action":"slow","ref":1,"ms":`+ms+`}`), expect{ref: "1", action: "slow", check: fieldsAre(map[string]string{"slept": ms})})
	sleepUpTo(rng, 30*time.Millisecond)
	if rng.IntN(2) == 0 {
		v.abort()
		return
	}
	v.hangUp("leaving", true)
}

// churn opens and closes connections quickly, on both channels, sometimes
// while the lobby's OnConnect still runs, closing politely or not.
func (rn *runner) churn(rng *rand.Rand) {
	for range 2 + rng.IntN(6) {
		if rn.quitting() {
			return
		}
		path, q := "/ordered", token(rng)
		if rng.IntN(3) == 0 {
			path, q = "/lobby", url.Values{}
			if rng.IntN(2) == 0 {
				q.Set("slowconnect", "1")
			}
		}
		v := rn.open("churn", path, q, 2)
		if v == nil {
			return
		}
		if rng.IntN(2) == 0 {
			_ = v.send([]byte(`{"action":"echo","ref":1,"title":"c","n":1}`), expect{ref: "1", action: "echo", check: fieldsAre(map[string]string{"title": `"c"`})})
		}
		switch rng.IntN(3) {
		case 0:
			v.abort()
		case 1:
			v.closeNormally()
		default:
			v.hangUp("churn", true)
		}
	}
}

// refused tries openings the Router must refuse before upgrading, each with
// its documented HTTP status (503 is accepted once Shutdown began).
func (rn *runner) refused(rng *rand.Rand) {
	cases := []struct {
		path string
		q    url.Values
		h    http.Header
		want int
	}{
		{"/ordered", nil, nil, http.StatusUnauthorized},
		{"/ordered", url.Values{"token": {"bogus"}}, nil, http.StatusUnauthorized},
		{"/nowhere", nil, nil, http.StatusNotFound},
		{"/lobby", url.Values{"deny": {"1"}}, nil, http.StatusForbidden},
		{"/ordered", token(rng), http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"", nil, nil, http.StatusUpgradeRequired},
		{"", nil, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"12"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}, http.StatusBadRequest},
	}
	tc := cases[rng.IntN(len(cases))]
	var status int
	if tc.path == "" { // plain HTTP requests: not an upgrade, or a bad one
		req, _ := http.NewRequest(http.MethodGet, "http://"+rn.addr+"/ordered?kind=refused", nil)
		for k, v := range tc.h {
			req.Header[k] = v
		}
		res, err := rn.hc.Do(req)
		if err != nil {
			rn.fail("refused: %v", err)
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		_ = res.Body.Close()
		status = res.StatusCode
	} else {
		c, st, err := rn.dial("refused", tc.path, tc.q, tc.h)
		if err == nil {
			_ = c.CloseNow()
			rn.fail("refused: %s %v was accepted, want %d", tc.path, tc.q, tc.want)
			return
		}
		status = st
	}
	rn.st.countRefused(status)
	if status != tc.want && !(rn.shuttingDown() && status == http.StatusServiceUnavailable) {
		rn.fail("refused: %s %v %v: status %d, want %d", tc.path, tc.q, tc.h, status, tc.want)
	}
}

// connFail opens the lobby with an OnConnect that fails or panics: the
// channel closes with 1011, no message is handled, OnDisconnect never runs.
func (rn *runner) connFail(rng *rand.Rand) {
	how := [...]string{"error", "panic"}[rng.IntN(2)]
	v := rn.open("connfail", "/lobby", url.Values{"fail": {how}}, 1)
	if v == nil {
		return
	}
	_ = v.write(websocket.MessageText, []byte(`{"action":"echo","ref":1,"title":"x","n":1}`)) // must not be answered
	v.end(websocket.StatusInternalError, 10*time.Second, false)
}

// expiring opens /ordered with a session that expires after 50-300 ms and
// keeps sending: replies succeed, then say unauthenticated, and the channel
// is closed with 4401.
func (rn *runner) expiring(rng *rand.Rand) {
	tok := fmt.Sprintf("brief-%d-x%d", 50+rng.IntN(250), rng.IntN(1000))
	v := rn.open("expiring", "/ordered", url.Values{"token": {tok}}, 2)
	if v == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for ref := 1; time.Now().Before(deadline); ref++ {
		r := strconv.Itoa(ref)
		e := expect{ref: r, action: "echo", alt: "unauthenticated", check: fieldsAre(map[string]string{"n": r})}
		if v.send(fmt.Appendf(nil, `{"action":"echo","ref":%d,"title":"e","n":%d}`, ref, ref), e) != nil {
			break
		}
		time.Sleep(5*time.Millisecond + time.Duration(rng.IntN(15))*time.Millisecond)
	}
	v.end(4401, 10*time.Second, true)
}
