//go:build linux

package main

import (
	"bytes"
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
		for name, x := range map[string]float64{"msgs/s": m.MsgsPerSec, "cpu/msg": m.CPUPerMsgUs, "p50": m.P50us, "mem/conn": m.MemPerConn} {
			if math.IsNaN(x) || math.IsInf(x, 0) || (name != "mem/conn" && x <= 0) {
				t.Errorf("%s: %s = %v", mode, name, x)
			}
		}
	}
	if len(rep.Targets) != 4 {
		t.Errorf("targets: %+v", rep.Targets)
	}
	var out strings.Builder
	rep.writeTables(&out)
	if !strings.Contains(out.String(), "routed-schema/raw") {
		t.Errorf("table without ratios:\n%s", out.String())
	}
	out.Reset()
	rep.writeJSON(&out)
	if !strings.Contains(out.String(), `"ratios_to_raw"`) {
		t.Errorf("JSON without ratios:\n%s", out.String())
	}
	if len(live.procs) != 0 {
		t.Errorf("%d servers still running", len(live.procs))
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
