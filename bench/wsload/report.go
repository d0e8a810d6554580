//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"text/tabwriter"
)

// runResult is what one run of one mode measured.
type runResult struct {
	Mode string `json:"mode"`
	Run  int    `json:"run"`

	Msgs              int64   `json:"msgs"`                  // round trips in the window
	WindowS           float64 `json:"window_s"`              // the window's length
	MsgsPerSec        float64 `json:"msgs_per_sec"`          // round trips per second
	P50us             float64 `json:"p50_us"`                // round-trip latency
	P99us             float64 `json:"p99_us"`                //
	CPUPerMsgUs       float64 `json:"server_cpu_per_msg_us"` // server CPU time / messages
	ServerUtil        float64 `json:"server_util"`           // server CPU time / window (cores)
	ClientCPUPerMsgUs float64 `json:"client_cpu_per_msg_us"` // this process's CPU time / messages
	IdleConns         int     `json:"idle_conns"`            // connections of the memory phase
	MemPerConn        float64 `json:"mem_per_conn_bytes"`    // heap objects + stacks per idle conn
	HeapPerConn       float64 `json:"heap_per_conn_bytes"`   // heap objects per idle conn
	StackPerConn      float64 `json:"stack_per_conn_bytes"`  // stacks per idle conn
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`   // server goroutines per idle conn
}

// metric is one column of the summary: how to read it from a run.
type metric struct {
	name string
	get  func(r runResult) float64
	fmt  string
}

// metricsTable lists the columns of the tables, in order.
var metricsTable = []metric{
	{"msgs/s", func(r runResult) float64 { return r.MsgsPerSec }, "%.0f"},
	{"p50 µs", func(r runResult) float64 { return r.P50us }, "%.1f"},
	{"p99 µs", func(r runResult) float64 { return r.P99us }, "%.1f"},
	{"srv cpu/msg µs", func(r runResult) float64 { return r.CPUPerMsgUs }, "%.2f"},
	{"srv util", func(r runResult) float64 { return r.ServerUtil }, "%.2f"},
	{"cli cpu/msg µs", func(r runResult) float64 { return r.ClientCPUPerMsgUs }, "%.2f"},
	{"mem/conn B", func(r runResult) float64 { return r.MemPerConn }, "%.0f"},
	{"heap/conn B", func(r runResult) float64 { return r.HeapPerConn }, "%.0f"},
	{"stack/conn B", func(r runResult) float64 { return r.StackPerConn }, "%.0f"},
	{"gor/conn", func(r runResult) float64 { return r.GoroutinesPerConn }, "%.2f"},
}

// target is a ratio to raw the issue asks for.
type target struct {
	Mode   string  `json:"mode"`
	Metric string  `json:"metric"`
	Ratio  float64 `json:"ratio"`
	Max    float64 `json:"max"`
	Met    bool    `json:"met"`
}

// report is the whole invocation's result.
type report struct {
	Config  config                        `json:"config"`
	Pinned  bool                          `json:"pinned"`
	Runs    []runResult                   `json:"runs"`
	Medians map[string]runResult          `json:"medians"`
	Ratios  map[string]map[string]float64 `json:"ratios_to_raw"`
	Targets []target                      `json:"targets"`
}

// finish computes the medians per mode, their ratios to raw and the targets.
func (rep *report) finish() *report {
	rep.Medians = map[string]runResult{}
	for _, mode := range rep.Config.Modes {
		var rs []runResult
		for _, r := range rep.Runs {
			if r.Mode == mode {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		med := func(get func(runResult) float64) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = get(r)
			}
			return median(xs)
		}
		rep.Medians[mode] = runResult{
			Mode: mode, Run: len(rs), MsgsPerSec: med(metricsTable[0].get), P50us: med(metricsTable[1].get),
			P99us: med(metricsTable[2].get), CPUPerMsgUs: med(metricsTable[3].get), ServerUtil: med(metricsTable[4].get),
			ClientCPUPerMsgUs: med(metricsTable[5].get), MemPerConn: med(metricsTable[6].get),
			HeapPerConn: med(metricsTable[7].get), StackPerConn: med(metricsTable[8].get),
			GoroutinesPerConn: med(metricsTable[9].get), IdleConns: rs[0].IdleConns,
		}
	}
	rep.Ratios = map[string]map[string]float64{}
	rep.Targets = nil
	raw, ok := rep.Medians["raw"]
	if !ok {
		return rep
	}
	limits := map[string]map[string]float64{
		"routed":        {"srv cpu/msg µs": 1.15, "mem/conn B": 1.15},
		"routed-schema": {"srv cpu/msg µs": 1.60, "mem/conn B": 1.15},
	}
	for _, mode := range rep.Config.Modes {
		m, ok := rep.Medians[mode]
		if !ok || mode == "raw" {
			continue
		}
		rs := map[string]float64{}
		for _, mt := range metricsTable {
			rs[mt.name] = ratio(mt.get(m), mt.get(raw))
		}
		rep.Ratios[mode+"/raw"] = rs
		for _, mt := range metricsTable {
			if max, ok := limits[mode][mt.name]; ok {
				x := rs[mt.name]
				rep.Targets = append(rep.Targets, target{Mode: mode, Metric: mt.name, Ratio: x, Max: max, Met: x <= max})
			}
		}
	}
	return rep
}

// writeTables prints the runs, the medians, the ratios and the targets.
func (rep *report) writeTables(w io.Writer) {
	c := rep.Config
	pace := "unpaced"
	if c.Rate > 0 {
		pace = fmt.Sprintf("paced at %.0f msg/s", c.Rate)
	}
	fmt.Fprintf(w, "wsload: %d run(s) × [%s] interleaved; %d conns closed-loop (%s), %v warm-up + %v window (max %d msgs); %d idle conns; pinned: %v (server CPU %d, client CPU %d)\n",
		c.Runs, strings.Join(c.Modes, " "), c.Conns, pace, c.Warmup, c.Measure, c.MaxMsgs, c.Idle, rep.Pinned, c.ServerCPU, c.ClientCPU)
	fmt.Fprintf(w, "message: {\"action\":\"echo\",\"ref\":N,\"title\":\"<%d characters>\"} (%d bytes with a 5-digit ref)\n\n", len(msgTitle), len(appendFrame(nil, 12345)))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := func(first string) {
		fmt.Fprintf(tw, "%s\t", first)
		for _, mt := range metricsTable {
			fmt.Fprintf(tw, "%s\t", mt.name)
		}
		fmt.Fprintln(tw)
	}
	row := func(label string, get func(metric) float64, format func(metric) string) {
		fmt.Fprintf(tw, "%s\t", label)
		for _, mt := range metricsTable {
			fmt.Fprintf(tw, format(mt)+"\t", get(mt))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(w, "per run:")
	header("run mode")
	for _, r := range rep.Runs {
		row(fmt.Sprintf("%d %s", r.Run, r.Mode), func(mt metric) float64 { return mt.get(r) }, func(mt metric) string { return mt.fmt })
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nmedians:")
	header("mode")
	for _, mode := range c.Modes {
		if m, ok := rep.Medians[mode]; ok {
			row(mode, func(mt metric) float64 { return mt.get(m) }, func(mt metric) string { return mt.fmt })
		}
	}
	_ = tw.Flush()

	if len(rep.Ratios) > 0 {
		fmt.Fprintln(w, "\nratios of medians to raw:")
		header("")
		for _, mode := range c.Modes {
			if rs, ok := rep.Ratios[mode+"/raw"]; ok {
				row(mode+"/raw", func(mt metric) float64 { return rs[mt.name] }, func(metric) string { return "%.2f" })
			}
		}
		_ = tw.Flush()
		fmt.Fprintln(w, "\ntargets (ratio to raw):")
		for _, t := range rep.Targets {
			verdict := "MET"
			if !t.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(w, "  %-14s %-15s %5.2f ≤ %.2f  %s\n", t.Mode, t.Metric, t.Ratio, t.Max, verdict)
		}
	}
}

// writeJSON prints the report as indented JSON; a NaN (a figure that could
// not be measured) is written as 0.
func (rep *report) writeJSON(w io.Writer) {
	for i := range rep.Runs {
		zeroNaNs(&rep.Runs[i])
	}
	for k, m := range rep.Medians {
		zeroNaNs(&m)
		rep.Medians[k] = m
	}
	for _, rs := range rep.Ratios {
		for k, x := range rs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				rs[k] = 0
			}
		}
	}
	for i := range rep.Targets {
		if x := rep.Targets[i].Ratio; math.IsNaN(x) || math.IsInf(x, 0) {
			rep.Targets[i].Ratio = 0
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintf(w, "{\"error\":%q}\n", err.Error())
	}
}

// zeroNaNs sets r's NaN and infinite float fields to 0.
func zeroNaNs(r *runResult) {
	v := reflect.ValueOf(r).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Float64 && (math.IsNaN(f.Float()) || math.IsInf(f.Float(), 0)) {
			f.SetFloat(0)
		}
	}
}
