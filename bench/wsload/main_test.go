//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestMain lets the test binary serve as wsload's server subprocess:
// measureAll re-executes os.Executable() with -serve.
func TestMain(m *testing.M) {
	if code, ok := subprocessMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole measurement in quick mode — server subprocesses,
// load, idle connections, report — and checks only that it completes with
// numbers, never their values.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and loads them for a few seconds")
	}
	cfg := quickConfig()
	cfg.Pin = false // leave the test process's CPUs alone
	cfg.Warmup, cfg.Measure, cfg.Conns, cfg.Idle = 200*time.Millisecond, 500*time.Millisecond, 8, 50
	cfg.FanSubs, cfg.FanEvents, cfg.FanRate = 50, 10, 20
	cfg.Timeout = 60 * time.Second
	var log bytes.Buffer
	rep, err := measureAll(t.Context(), cfg, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range modes {
		m, ok := rep.Medians[mode]
		if !ok {
			t.Fatalf("no result for %s", mode)
		}
		figures := map[string]float64{"msgs/s": m.MsgsPerSec, "cpu/msg": m.CPUPerMsgUs, "p50": m.P50us, "mem/conn": m.MemPerConn}
		if isFanout(mode) {
			figures = map[string]float64{"deliveries/s": m.DeliveriesPerSec, "cpu/delivery": m.CPUPerDeliveryUs, "p50": m.FanP50us, "p99": m.FanP99us}
			if m.Subs != cfg.FanSubs || m.Events != cfg.FanEvents || m.Deliveries <= 0 {
				t.Errorf("%s: %d subscribers, %d events, %d deliveries", mode, m.Subs, m.Events, m.Deliveries)
			}
			if m.Lost != 0 || m.BadSeq != 0 { // a loss is reported, not an error; at this size there is none
				t.Logf("%s: %d lost, %d out of order (%s)", mode, m.Lost, m.BadSeq, m.SubError)
			}
		}
		for name, x := range figures {
			if math.IsNaN(x) || math.IsInf(x, 0) || (name != "mem/conn" && x <= 0) {
				t.Errorf("%s: %s = %v", mode, name, x)
			}
		}
	}
	if len(rep.Targets) != 7 { // see limits in report.go
		t.Errorf("targets: %+v", rep.Targets)
	}
	var out strings.Builder
	rep.writeTables(&out)
	for _, pair := range []string{"routed-schema/raw", "validated/hand", "fanout-routed/fanout-raw"} {
		if !strings.Contains(out.String(), pair) {
			t.Errorf("table without %s:\n%s", pair, out.String())
		}
	}
	var p99 int
	for _, h := range rep.Headlines {
		if h.Metric == "p99 µs" {
			p99++
		}
	}
	if p99 != 4 {
		t.Errorf("%d p99 headline ratios, want 4: %+v", p99, rep.Headlines)
	}
	out.Reset()
	rep.writeJSON(&out)
	for _, key := range []string{`"ratios_to_baseline"`, `"validated/hand"`, `"headline_ratios"`, `"fan_server_cpu_per_delivery_us"`} {
		if !strings.Contains(out.String(), key) {
			t.Errorf("JSON without %s:\n%s", key, out.String())
		}
	}
	if len(live.procs) != 0 {
		t.Errorf("%d servers still running", len(live.procs))
	}
}

// TestHold holds a few idle connections on both servers from two client
// processes and checks that the report has its figures.
func TestHold(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and client processes")
	}
	hc := holdConfig{Conns: 300, Clients: 2, Modes: []string{"raw", "routed"}, Timeout: 30 * time.Second}
	var log bytes.Buffer
	rep, err := measureHold(t.Context(), hc, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("results: %+v", rep.Results)
	}
	for _, r := range rep.Results {
		if r.Reached != hc.Conns || r.Error != "" || !(r.AcceptPerSec > 0) || r.RSSAfter == 0 || r.RSSBefore == 0 || !(r.MemPerConn > 0) || !(r.RSS100k > 0) {
			t.Errorf("%+v", r)
		}
	}
	if x := rep.Ratios["heap_stacks_per_conn"]; !(x > 0) {
		t.Errorf("ratios: %v", rep.Ratios)
	}
	var out strings.Builder
	rep.writeTables(&out)
	if !strings.Contains(out.String(), "routed/raw: RSS/conn") || !strings.Contains(out.String(), "extrapolation") {
		t.Errorf("table:\n%s", out.String())
	}
	if len(live.procs) != 0 {
		t.Errorf("%d processes still running", len(live.procs))
	}
}

// TestCheckValReply checks that the client refuses wrong validated replies
// and that the frame's text length varies from 40 to 100 characters.
func TestCheckValReply(t *testing.T) {
	frame := appendValFrame(nil, 42)
	good := []byte(`{"action":"echo","ref":42,` + string(valData(frame)) + `}`)
	if err := checkValReply(websocket.MessageText, good, frame, 42); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{
		strings.Replace(string(good), `"ref":42`, `"ref":43`, 1),
		strings.Replace(string(good), `"seq":42`, `"seq":41`, 1),
		strings.Replace(string(good), "quick", "quack", 1),
		`{"action":"echo","ref":42,"error":{"code":"invalid"}}`,
	} {
		if err := checkValReply(websocket.MessageText, []byte(bad), frame, 42); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	lens := map[int]bool{}
	for ref := range int64(200) {
		var m handMsg
		if err := json.Unmarshal(appendValFrame(nil, ref), &m); err != nil {
			t.Fatal(err)
		}
		if why := handCheck(&m); why != "" || m.Data.Seq != int(ref) {
			t.Fatalf("ref %d: %q %+v", ref, why, m.Data)
		}
		lens[len(m.Data.Text)] = true
	}
	if !lens[40] || !lens[100] || len(lens) != 61 {
		t.Errorf("text lengths: %v", lens)
	}
	for _, m := range []handMsg{{}, {Data: &handData{Room: "r", Text: "t"}}, {Data: &handData{User: "u", Room: "r", Text: strings.Repeat("é", 201)}}, {Data: &handData{User: "u", Room: "r", Text: "t", Seq: -1}}} {
		if handCheck(&m) == "" {
			t.Errorf("accepted %+v", m.Data)
		}
	}
}

// TestParseFanEvent checks the fan-out client's scan of an event frame.
func TestParseFanEvent(t *testing.T) {
	frame, _ := json.Marshal(fanFrame{Topic: fanTopic, Data: fanEvent{Seq: 7, TS: 123456789, Pad: fanPad}})
	if seq, ts, ok := parseFanEvent(frame); !ok || seq != 7 || ts != 123456789 {
		t.Errorf("parseFanEvent(%s) = %d, %d, %v", frame, seq, ts, ok)
	}
	if _, _, ok := parseFanEvent([]byte(`{"topic":"other","data":{"seq":1,"ts":2}}`)); ok {
		t.Error("accepted another topic")
	}
}

// TestCheckReply checks that the client refuses wrong replies.
func TestCheckReply(t *testing.T) {
	good := appendFrame(nil, 42)
	if err := checkReply(websocket.MessageText, good, 42); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct {
		data string
		typ  websocket.MessageType
	}{
		{string(good), websocket.MessageBinary},
		{strings.Replace(string(good), "42", "43", 1), websocket.MessageText},
		{strings.Replace(string(good), "0123", "x123", 1), websocket.MessageText},
		{`{"action":"echo","ref":42,"error":{"code":"internal"}}`, websocket.MessageText},
	} {
		if err := checkReply(bad.typ, []byte(bad.data), 42); err == nil {
			t.Errorf("accepted %s", bad.data)
		}
	}
}

// TestStatsMath checks percentiles, median, ratio and the CPU reading.
func TestStatsMath(t *testing.T) {
	p := percentiles([]int64{5000, 1000, 3000, 2000, 4000}, 0.5, 0.99)
	if p[0] != 3 || p[1] != 5 {
		t.Errorf("percentiles = %v", p)
	}
	if m := median([]float64{3, 1, math.NaN(), 2, 10}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
	if !math.IsNaN(ratio(1, 0)) {
		t.Error("ratio by 0")
	}
	if cpu, err := processCPU(os.Getpid()); err != nil || cpu <= 0 {
		t.Errorf("processCPU = %v, %v", cpu, err)
	}
}

// TestServeRefusesNonLoopback checks that servers listen on loopback only.
func TestServeRefusesNonLoopback(t *testing.T) {
	if code := serveMain([]string{"-serve", "raw", "-listen", "0.0.0.0:0"}); code != 2 {
		t.Errorf("exit code %d", code)
	}
}
