package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoakShort runs the whole soak — the same run as the command — for 3
// seconds with 40 clients, so that CI (go test -race) runs a short version.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Router under 40 clients for a few seconds")
	}
	cfg := defaultConfig()
	cfg.Duration, cfg.Clients, cfg.Seed = 3*time.Second, 40, 1
	var progress bytes.Buffer
	rep, err := run(t.Context(), cfg, &progress)
	t.Log(progress.String())
	if rep == nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.write(&out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	if n := rep.Clients.wbAnswered.Load(); n == 0 {
		t.Errorf("no well-behaved reply at all:\n%s", out.String())
	}
}

// TestVerify checks that the reply checker refuses what it must.
func TestVerify(t *testing.T) {
	rn := &runner{st: newClientStats()}
	ok := expect{ref: "7", action: "echo", check: fieldsAre(map[string]string{"n": "7"})}
	for _, tc := range []struct {
		frame string
		e     expect
		good  bool
	}{
		{`{"action":"echo","ref":7,"n":7}`, ok, true},
		{`{"action":"echo","ref":8,"n":7}`, ok, false},
		{`{"action":"echo","n":7}`, ok, false},
		{`{"action":"other","ref":7,"n":7}`, ok, false},
		{`{"action":"echo","ref":7,"n":6}`, ok, false},
		{`{"action":"echo","ref":7,"error":{"code":"internal","message":"internal error"}}`, ok, false},
		{`{"action":"echo","ref":7,"error":{"code":"rate_limited","message":"slow down"}}`, expect{ref: "7", action: "echo", alt: "rate_limited"}, true},
		{`{"action":"boom","ref":7,"error":{"code":"internal","message":"internal error"}}`, expect{ref: "7", action: "boom", code: "internal"}, true},
		{`{"action":"boom","ref":7,"error":{"code":"internal","message":"soak: boom 7"}}`, expect{ref: "7", action: "boom", code: "internal"}, false},
		{`{"action":"echo","ref":7,"error":{"code":"invalid","message":"input is invalid"}}`, expect{ref: "7", action: "echo", code: "invalid"}, false},
		{`{"error":{"code":"bad_request","message":"frame is not valid JSON"}}`, expect{code: "bad_request"}, true},
		{`{"ref":7,"error":{"code":"bad_request","message":"x"}}`, expect{code: "bad_request"}, false},
		{`{"action":"publish","ref":7}`, expect{ref: "7", action: "publish", check: isAck}, true},
		{`{"action":"publish","ref":7,"x":1}`, expect{ref: "7", action: "publish", check: isAck}, false},
	} {
		f := fields{}
		if err := json.Unmarshal([]byte(tc.frame), &f); err != nil {
			t.Fatal(err)
		}
		if err := rn.verify(f, tc.e); (err == nil) != tc.good {
			t.Errorf("verify(%s) = %v, want good=%v", tc.frame, err, tc.good)
		}
	}
}

// TestSubscriberEvents checks the topic-event checker: gaps, reordering and
// the subscriber's own publishes are failures; events after an unsubscribe
// are not.
func TestSubscriberEvents(t *testing.T) {
	rn := &runner{st: newClientStats()}
	s := &subscriber{rn: rn, label: "s1", subscribed: true, last: map[string]int64{}}
	ev := func(from string, seq int) {
		f := fields{}
		if err := json.Unmarshal([]byte(`{"topic":"news","data":{"from":"`+from+`","seq":`+strconv.Itoa(seq)+`}}`), &f); err != nil {
			t.Fatal(err)
		}
		s.event(f)
	}
	ev("o1", 5)
	ev("o1", 6)
	ev("o2", 1)
	if rn.st.nFail != 0 {
		t.Fatalf("failures on a good sequence: %v", rn.st.failures)
	}
	ev("o1", 8) // gap
	ev("o2", 1) // duplicate
	ev("s1", 1) // own
	s.subscribed = false
	ev("o3", 9) // after an unsubscribe: counted, fine
	s.joining.Add(1)
	ev("o3", 10) // before the subscribe's reply: fine
	if rn.st.nFail != 3 || rn.st.late.Load() != 1 || rn.st.early.Load() != 1 {
		t.Errorf("%d failures (%v), %d late, %d early; want 3, 1, 1", rn.st.nFail, rn.st.failures, rn.st.late.Load(), rn.st.early.Load())
	}
}
