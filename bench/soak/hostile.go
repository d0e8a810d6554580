package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// hostileKind is one thing a hostile client does, with its relative weight.
type hostileKind struct {
	name   string
	weight int
	run    func(rn *runner, rng *rand.Rand)
}

// hostileKinds are the hostile clients' repertoire.
var hostileKinds = []hostileKind{
	{"protocol", 12, (*runner).protocol},
	{"login", 8, (*runner).login},
	{"flood", 4, (*runner).flood},
	{"idle", 2, (*runner).idle},
	{"silent", 2, (*runner).silent},
	{"utf8", 6, func(rn *runner, rng *rand.Rand) {
		rn.closer(rng, "utf8", websocket.MessageText, []byte(`{"action":"echo","title":"`+"\xff\xfe"+`","n":1}`), websocket.StatusInvalidFramePayloadData)
	}},
	{"binary", 6, func(rn *runner, rng *rand.Rand) {
		rn.closer(rng, "binary", websocket.MessageBinary, []byte(`{"action":"echo","title":"b","n":1}`), websocket.StatusPolicyViolation)
	}},
	{"oversize", 4, func(rn *runner, rng *rand.Rand) {
		big := `{"action":"echo","n":1,"title":"` + strings.Repeat("x", 64<<10) + `"}`
		rn.closer(rng, "oversize", websocket.MessageText, []byte(big), websocket.StatusMessageTooBig)
	}},
	{"stall", 2, (*runner).stall},
	{"midframe", 6, (*runner).midFrame},
	{"midhandshake", 3, (*runner).midHandshake},
	{"midhandler", 8, (*runner).midHandler},
	{"churn", 10, (*runner).churn},
	{"refused", 10, (*runner).refused},
	{"connfail", 5, (*runner).connFail},
	{"expiring", 3, (*runner).expiring},
}

// hostile runs one hostile kind chosen by weight.
func (rn *runner) hostile(rng *rand.Rand) {
	total := 0
	for _, k := range hostileKinds {
		total += k.weight
	}
	n := rng.IntN(total)
	for _, k := range hostileKinds {
		if n -= k.weight; n < 0 {
			k.run(rn, rng)
			return
		}
	}
}

// open dials path with the query q for a hostile kind and starts a
// conversation with a pipelining window; it reports dial failures (a 503
// once Shutdown began is expected) and returns nil.
func (rn *runner) open(kind, path string, q url.Values, window int) *conv {
	c, status, err := rn.dial(kind, path, q, nil)
	if err != nil {
		if !rn.shuttingDown() {
			rn.fail("%s: dial %s: status %d: %v", kind, path, status, err)
		}
		return nil
	}
	return rn.newConv(c, kind, false, window, nil)
}

// token returns a valid token query.
func token(rng *rand.Rand) url.Values {
	return url.Values{"token": {"user-h" + strconv.Itoa(rng.IntN(1000))}}
}

// protocolFrames are frames that break the protocol in every documented way
// (and a few that merely look odd), with the answer each must get; %d in a
// frame is replaced by the ref, which want receives as text.
var protocolFrames = []struct {
	frame string
	want  func(r string) expect
}{
	{`{"action":`, func(string) expect { return expect{code: "bad_request"} }},
	{`[1,2,3]`, func(string) expect { return expect{code: "not_found"} }},
	{`"just a string"`, func(string) expect { return expect{code: "not_found"} }},
	{strings.Repeat("[", 20000) + strings.Repeat("]", 20000), func(string) expect { return expect{code: "bad_request"} }},
	{`{"action":"nope","ref":%d}`, func(r string) expect { return expect{ref: r, action: "nope", code: "not_found"} }},
	{`{"action":"Echo","ref":%d,"title":"x","n":1}`, func(r string) expect { return expect{ref: r, action: "Echo", code: "not_found"} }},
	{`{"action":123,"ref":%d}`, func(r string) expect { return expect{ref: r, code: "not_found"} }},
	{`{"ref":%d,"title":"x"}`, func(r string) expect { return expect{ref: r, code: "not_found"} }},
	{`{"action":"echo","action":"echo","ref":%d,"title":"x","n":1}`, func(r string) expect { return expect{ref: r, code: "bad_request"} }},
	{`{"action":"echo","ref":%d,"ref":1,"title":"x","n":1}`, func(string) expect { return expect{action: "echo", code: "bad_request"} }},
	{`{"action":"echo","ref":{"x":%d},"title":"x","n":1}`, func(string) expect { return expect{action: "echo", code: "bad_request"} }},
	{`{"action":"echo","ref":%d,"title":5,"n":1}`, func(r string) expect { return expect{ref: r, action: "echo", code: "invalid"} }},
	{`{"action":"echo","ref":%d,"title":"x","n":1,"extra":true}`, func(r string) expect { return expect{ref: r, action: "echo", code: "invalid"} }},
	{`{"action":"echo","ref":%d,"title":"x","n":1e400}`, func(r string) expect { return expect{ref: r, action: "echo", code: "invalid"} }},
	{`{"action":"echo","ref":%d,"title":"x","n":1.5}`, func(r string) expect { return expect{ref: r, action: "echo", code: "invalid"} }},
	{`{"action":"slow","ref":%d,"ms":"soon"}`, func(r string) expect { return expect{ref: r, action: "slow", code: "invalid"} }},
	{`{"action":"echo","ref":"s-%d","title":"x","n":1}`, func(r string) expect { return expect{ref: `"s-` + r + `"`, action: "echo"} }},
	{`{"action":"echo","ref":%d.50e+3,"title":"x","n":1}`, func(r string) expect { return expect{ref: r + ".50e+3", action: "echo"} }},
	{`{"action":"boom","ref":%d,"n":8}`, func(r string) expect { return expect{ref: r, action: "boom", code: "internal"} }},
}

// protocol sends a random series of protocol-breaking frames on /ordered
// and checks that each got its documented error, in order, on a connection
// that stays open.
func (rn *runner) protocol(rng *rand.Rand) {
	v := rn.open("protocol", "/ordered", token(rng), 8)
	if v == nil {
		return
	}
	for ref := 1; ref <= 5+rng.IntN(30); ref++ {
		p := protocolFrames[rng.IntN(len(protocolFrames))]
		frame := p.frame
		if strings.Contains(frame, "%d") {
			frame = fmt.Sprintf(frame, ref)
		}
		if v.send([]byte(frame), p.want(strconv.Itoa(ref))) != nil {
			break
		}
	}
	v.closeNormally()
}

// login opens the public lobby without a session: calls that need one are
// refused, a failed log-in changes nothing, a good one opens the secret,
// log-out closes it again; the default handler answers the rest.
func (rn *runner) login(rng *rand.Rand) {
	v := rn.open("login", "/lobby", nil, 4)
	if v == nil {
		return
	}
	who := "user-l" + strconv.Itoa(rng.IntN(1000))
	steps := []struct {
		frame string
		want  expect
	}{
		{`{"action":"secret","ref":1}`, expect{ref: "1", action: "secret", code: "unauthenticated"}},
		{`{"action":"login","ref":2,"token":"bogus"}`, expect{ref: "2", action: "login", code: "unauthenticated"}},
		{`{"action":"secret","ref":3}`, expect{ref: "3", action: "secret", code: "unauthenticated"}},
		{`{"action":"login","ref":4,"token":"` + who + `"}`, expect{ref: "4", action: "login", check: isAck}},
		{`{"action":"secret","ref":5}`, expect{ref: "5", action: "secret", check: fieldsAre(map[string]string{"user": `"` + who + `"`})}},
		{`not json at all`, defaultReply(`not json at all`, false)},
		{`{"action":"nope","ref":7}`, defaultReply(`{"action":"nope","ref":7}`, true)},
		{`{"action":"logout","ref":8}`, expect{ref: "8", action: "logout", check: isAck}},
		{`{"action":"secret","ref":9}`, expect{ref: "9", action: "secret", code: "unauthenticated"}},
		{`{"action":"echo","ref":10,"title":"lobby","n":10}`, expect{ref: "10", action: "echo", check: fieldsAre(map[string]string{"title": `"lobby"`})}},
	}
	for _, s := range steps {
		if v.send([]byte(s.frame), s.want) != nil {
			break
		}
	}
	if rng.IntN(4) == 0 {
		v.abort()
		return
	}
	v.closeNormally()
}

// defaultReply is the lobby default handler's answer to frame: as it is,
// without action or ref.
func defaultReply(frame string, isJSON bool) expect {
	return expect{raw: true, check: fieldsAre(map[string]string{
		"default": "true", "json": strconv.FormatBool(isJSON), "len": strconv.Itoa(len(frame)),
	})}
}

// flood sends hundreds of frames as fast as TCP takes them (valid, broken,
// unknown and panicking ones) to the rate-limited channel while reading:
// the first limitedBurst get their own answers, later ones may get
// rate_limited instead, all in order, until the Router closes the flood with
// 1008 (the frames it then discards get no answer).
func (rn *runner) flood(rng *rand.Rand) {
	v := rn.open("flood", "/limited", token(rng), 4096)
	if v == nil {
		return
	}
	for ref := int64(1); ref <= int64(400+rng.IntN(1100)); ref++ {
		r := strconv.FormatInt(ref, 10)
		frame, e := fmt.Appendf(nil, `{"action":"echo","ref":%d,"title":"f","n":%d}`, ref, ref), expect{ref: r, action: "echo", check: fieldsAre(map[string]string{"n": r})}
		switch rng.IntN(10) {
		case 0:
			frame, e = []byte(`{"action":"echo"`), expect{code: "bad_request"}
		case 1:
			frame, e = fmt.Appendf(nil, `{"action":"flood-%d","ref":%d}`, ref, ref), expect{ref: r, action: "flood-" + r, code: "not_found"}
		case 2:
			frame, e = fmt.Appendf(nil, `{"action":"boom","ref":%d,"n":%d}`, ref, ref), expect{ref: r, action: "boom", check: fieldsAre(map[string]string{"result": r})}
			if ref%boomEvery == 0 {
				e = expect{ref: r, action: "boom", code: "internal"}
			}
		}
		if ref > limitedBurst {
			e.alt = "rate_limited"
		}
		if v.send(frame, e) != nil {
			break
		}
	}
	v.end(websocket.StatusPolicyViolation, 20*time.Second, true)
}

// idle opens the lobby and sends nothing: the Router must close it with 1008
// after soakFirstMessage.
func (rn *runner) idle(*rand.Rand) {
	if v := rn.open("idle", "/lobby", nil, 1); v != nil {
		v.end(websocket.StatusPolicyViolation, soakFirstMessage+10*time.Second, false)
	}
}

// closer sends a valid request or two, then a frame that must close the
// connection with want (1007, 1008, 1009).
func (rn *runner) closer(rng *rand.Rand, kind string, typ websocket.MessageType, bad []byte, want websocket.StatusCode) {
	v := rn.open(kind, "/ordered", token(rng), 4)
	if v == nil {
		return
	}
	for ref := 1; ref <= rng.IntN(3); ref++ {
		r := strconv.Itoa(ref)
		_ = v.send(fmt.Appendf(nil, `{"action":"echo","ref":%d,"title":"c","n":%d}`, ref, ref), expect{ref: r, action: "echo", check: fieldsAre(map[string]string{"n": r})})
	}
	if !v.drain(10*time.Second) && !v.ended() {
		rn.fail("%s: %d replies missing before the bad frame", kind, v.pending())
	}
	_ = v.write(typ, bad) // the server may close before the frame is all written
	v.end(want, 10*time.Second, false)
}
