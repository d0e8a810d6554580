//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
)

// runResult is what one run of one mode measured: the echo fields for the
// echo modes, the fan-out fields for the fan-out modes.
type runResult struct {
	Mode string `json:"mode"`
	Run  int    `json:"run"`

	Msgs              int64   `json:"msgs,omitempty"`        // round trips in the window
	WindowS           float64 `json:"window_s"`              // the window's length
	MsgsPerSec        float64 `json:"msgs_per_sec"`          // round trips per second
	P50us             float64 `json:"p50_us"`                // round-trip latency
	P99us             float64 `json:"p99_us"`                //
	CPUPerMsgUs       float64 `json:"server_cpu_per_msg_us"` // server CPU time / messages
	ServerUtil        float64 `json:"server_util"`           // server CPU time / window (cores)
	ClientCPUPerMsgUs float64 `json:"client_cpu_per_msg_us"` // this process's CPU time / messages
	IdleConns         int     `json:"idle_conns,omitempty"`  // connections of the memory phase
	MemPerConn        float64 `json:"mem_per_conn_bytes"`    // heap objects + stacks per idle conn
	HeapPerConn       float64 `json:"heap_per_conn_bytes"`   // heap objects per idle conn
	StackPerConn      float64 `json:"stack_per_conn_bytes"`  // stacks per idle conn
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`   // server goroutines per idle conn

	Subs                   int     `json:"fan_subscribers,omitempty"`                // subscriber connections
	Events                 int     `json:"fan_events,omitempty"`                     // events the server published
	Deliveries             int64   `json:"fan_deliveries,omitempty"`                 // events received, all subscribers
	Lost                   int64   `json:"fan_lost,omitempty"`                       // events × subscribers − deliveries
	ShortSubs              int     `json:"fan_short_subscribers,omitempty"`          // subscribers that missed an event
	BadSeq                 int64   `json:"fan_out_of_order,omitempty"`               // events out of order, repeated or malformed
	PubFailed              int     `json:"fan_publish_failures,omitempty"`           // failed writes (raw) or Publish errors (routed)
	PubLate                int     `json:"fan_publish_late,omitempty"`               // events the publisher sent over an interval late
	SubError               string  `json:"fan_subscriber_error,omitempty"`           // the first subscriber's read error
	EventsPerSec           float64 `json:"fan_events_per_sec,omitempty"`             // events published per second
	DeliveriesPerSec       float64 `json:"fan_deliveries_per_sec,omitempty"`         // deliveries per second of the window
	CPUPerDeliveryUs       float64 `json:"fan_server_cpu_per_delivery_us,omitempty"` // server CPU time / deliveries
	ClientCPUPerDeliveryUs float64 `json:"fan_client_cpu_per_delivery_us,omitempty"` // this process's CPU time / deliveries
	FanP50us               float64 `json:"fan_delivery_p50_us,omitempty"`            // publish stamp → arrival
	FanP99us               float64 `json:"fan_delivery_p99_us,omitempty"`            //
}

// metric is one column of the summary: how to read it from a run.
type metric struct {
	name string
	get  func(r runResult) float64
	fmt  string
}

// metricsTable lists the columns of the echo modes' tables, in order.
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

// fanoutTable lists the columns of the fan-out modes' tables, in order.
var fanoutTable = []metric{
	{"subs", func(r runResult) float64 { return float64(r.Subs) }, "%.0f"},
	{"events", func(r runResult) float64 { return float64(r.Events) }, "%.0f"},
	{"events/s", func(r runResult) float64 { return r.EventsPerSec }, "%.1f"},
	{"late", func(r runResult) float64 { return float64(r.PubLate) }, "%.0f"},
	{"deliveries", func(r runResult) float64 { return float64(r.Deliveries) }, "%.0f"},
	{"lost", func(r runResult) float64 { return float64(r.Lost) }, "%.0f"},
	{"deliv/s", func(r runResult) float64 { return r.DeliveriesPerSec }, "%.0f"},
	{"srv cpu/deliv µs", func(r runResult) float64 { return r.CPUPerDeliveryUs }, "%.3f"},
	{"srv util", func(r runResult) float64 { return r.ServerUtil }, "%.2f"},
	{"cli cpu/deliv µs", func(r runResult) float64 { return r.ClientCPUPerDeliveryUs }, "%.3f"},
	{"p50 µs", func(r runResult) float64 { return r.FanP50us }, "%.0f"},
	{"p99 µs", func(r runResult) float64 { return r.FanP99us }, "%.0f"},
}

// tableOf returns the columns of mode's tables.
func tableOf(mode string) []metric {
	if isFanout(mode) {
		return fanoutTable
	}
	return metricsTable
}

// baselines maps each compared mode to the mode it is compared with in the
// same run: the hand-written server doing the same work.
var baselines = map[string]string{
	"routed":        "raw",
	"routed-schema": "raw",
	"validated":     "hand",
	"fanout-routed": "fanout-raw",
}

// headlineMetrics are the ratios printed first: CPU per unit of work and
// the tail latency.
var headlineMetrics = []string{"srv cpu/msg µs", "srv cpu/deliv µs", "p99 µs"}

// target is a ratio to a baseline that the project asks for.
type target struct {
	Mode   string  `json:"mode"`
	Metric string  `json:"metric"`
	Ratio  float64 `json:"ratio"`
	Max    float64 `json:"max"`
	Met    bool    `json:"met"`
}

// headline is one ratio of a mode's median to its baseline's.
type headline struct {
	Pair   string  `json:"pair"` // "mode/baseline"
	Metric string  `json:"metric"`
	Ratio  float64 `json:"ratio"`
}

// report is the whole invocation's result.
type report struct {
	Config    config                        `json:"config"`
	Pinned    bool                          `json:"pinned"`
	Runs      []runResult                   `json:"runs"`
	Medians   map[string]runResult          `json:"medians"`
	Ratios    map[string]map[string]float64 `json:"ratios_to_baseline"` // "mode/baseline" → metric → ratio
	Headlines []headline                    `json:"headline_ratios"`
	Targets   []target                      `json:"targets"`
}

// medianRun returns a runResult whose numeric fields are the medians of rs's
// (Run holds the number of runs; strings are the first non-empty one).
func medianRun(mode string, rs []runResult) runResult {
	out := runResult{Mode: mode, Run: len(rs)}
	v := reflect.ValueOf(&out).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Mode" || name == "Run" {
			continue
		}
		xs := make([]float64, len(rs))
		for j := range rs {
			f := reflect.ValueOf(rs[j]).Field(i)
			switch f.Kind() {
			case reflect.Float64:
				xs[j] = f.Float()
			case reflect.Int, reflect.Int64:
				xs[j] = float64(f.Int())
			case reflect.String:
				if f.String() != "" && v.Field(i).String() == "" {
					v.Field(i).SetString(f.String())
				}
			}
		}
		switch f := v.Field(i); f.Kind() {
		case reflect.Float64:
			f.SetFloat(median(xs))
		case reflect.Int, reflect.Int64:
			if m := median(xs); !math.IsNaN(m) {
				f.SetInt(int64(math.Round(m)))
			}
		}
	}
	return out
}

// finish computes the medians per mode, their ratios to their baselines and
// the targets.
func (rep *report) finish() *report {
	rep.Medians = map[string]runResult{}
	for _, mode := range rep.Config.Modes {
		var rs []runResult
		for _, r := range rep.Runs {
			if r.Mode == mode {
				rs = append(rs, r)
			}
		}
		if len(rs) > 0 {
			rep.Medians[mode] = medianRun(mode, rs)
		}
	}
	rep.Ratios = map[string]map[string]float64{}
	rep.Headlines, rep.Targets = nil, nil
	// The goals of the performance issue (routed-schema keeps its earlier
	// bound as a guard against regressions).
	limits := map[string]map[string]float64{
		"routed":        {"srv cpu/msg µs": 0.95, "p99 µs": 1.10, "mem/conn B": 1.00},
		"routed-schema": {"srv cpu/msg µs": 1.60, "mem/conn B": 1.00},
		"validated":     {"srv cpu/msg µs": 1.10},
		"fanout-routed": {"srv cpu/deliv µs": 0.90},
	}
	for _, mode := range rep.Config.Modes {
		m, ok := rep.Medians[mode]
		base, ok2 := rep.Medians[baselines[mode]]
		if !ok || !ok2 {
			continue
		}
		pair := mode + "/" + base.Mode
		rs := map[string]float64{}
		for _, mt := range tableOf(mode) {
			rs[mt.name] = ratio(mt.get(m), mt.get(base))
		}
		rep.Ratios[pair] = rs
		for _, name := range headlineMetrics {
			if x, ok := rs[name]; ok {
				rep.Headlines = append(rep.Headlines, headline{Pair: pair, Metric: name, Ratio: x})
			}
		}
		for _, mt := range tableOf(mode) {
			if max, ok := limits[mode][mt.name]; ok {
				x := rs[mt.name]
				rep.Targets = append(rep.Targets, target{Mode: mode, Metric: mt.name, Ratio: x, Max: max, Met: x <= max})
			}
		}
	}
	return rep
}

// writeTables prints the runs, the medians, the ratios and the targets: one
// set of tables for the echo modes, one for the fan-out modes.
func (rep *report) writeTables(w io.Writer) {
	c := rep.Config
	pace := "unpaced"
	if c.Rate > 0 {
		pace = fmt.Sprintf("paced at %.0f msg/s", c.Rate)
	}
	var echoModes, fanModes []string
	for _, m := range c.Modes {
		if isFanout(m) {
			fanModes = append(fanModes, m)
		} else {
			echoModes = append(echoModes, m)
		}
	}
	fmt.Fprintf(w, "wsload: %d run(s) × [%s] interleaved; pinned: %v (server CPU %d, client CPU %d)\n",
		c.Runs, strings.Join(c.Modes, " "), rep.Pinned, c.ServerCPU, c.ClientCPU)
	if len(echoModes) > 0 {
		fmt.Fprintf(w, "echo: %d conns closed-loop (%s), %v warm-up + %v window (max %d msgs); %d idle conns\n",
			c.Conns, pace, c.Warmup, c.Measure, c.MaxMsgs, c.Idle)
		fmt.Fprintf(w, "  raw, routed, routed-schema: {\"action\":\"echo\",\"ref\":N,\"title\":\"<%d characters>\"} (%d bytes with a 5-digit ref)\n", len(msgTitle), len(appendFrame(nil, 12345)))
		fmt.Fprintf(w, "  hand, validated: {\"action\":\"echo\",\"ref\":N,\"data\":{\"user\",\"room\",\"text\":\"<40-100 characters>\",\"n\",\"seq\"}} (%d-%d bytes with a 5-digit ref)\n",
			len(appendValFrame(nil, 12200)), len(appendValFrame(nil, 12260)))
	}
	if len(fanModes) > 0 {
		fmt.Fprintf(w, "fan-out: 1 publisher in the server → %d subscribers, %d events at %.0f/s; event {\"topic\":%q,\"data\":{\"seq\",\"ts\",\"pad\"}} (%d bytes)\n",
			c.FanSubs, c.FanEvents, c.FanRate, fanTopic, len(`{"topic":"fan","data":{"seq":50,"ts":1767225600000000000,"pad":"`+fanPad+`"}}`))
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := func(first string, table []metric) {
		fmt.Fprintf(tw, "%s\t", first)
		for _, mt := range table {
			fmt.Fprintf(tw, "%s\t", mt.name)
		}
		fmt.Fprintln(tw)
	}
	row := func(label string, table []metric, get func(metric) float64, format func(metric) string) {
		fmt.Fprintf(tw, "%s\t", label)
		for _, mt := range table {
			fmt.Fprintf(tw, format(mt)+"\t", get(mt))
		}
		fmt.Fprintln(tw)
	}
	section := func(title string, ms []string, table []metric) {
		if len(ms) == 0 {
			return
		}
		fmt.Fprintf(w, "%s, per run:\n", title)
		header("run mode", table)
		for _, r := range rep.Runs {
			if slices.Contains(ms, r.Mode) {
				row(fmt.Sprintf("%d %s", r.Run, r.Mode), table, func(mt metric) float64 { return mt.get(r) }, func(mt metric) string { return mt.fmt })
			}
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "\n%s, medians:\n", title)
		header("mode", table)
		for _, mode := range ms {
			if m, ok := rep.Medians[mode]; ok {
				row(mode, table, func(mt metric) float64 { return mt.get(m) }, func(mt metric) string { return mt.fmt })
			}
		}
		_ = tw.Flush()
		var pairs []string
		for _, mode := range ms {
			if _, ok := rep.Ratios[mode+"/"+baselines[mode]]; ok {
				pairs = append(pairs, mode+"/"+baselines[mode])
			}
		}
		if len(pairs) > 0 {
			fmt.Fprintf(w, "\n%s, ratios of medians to the baseline:\n", title)
			header("", table)
			for _, p := range pairs {
				rs := rep.Ratios[p]
				row(p, table, func(mt metric) float64 { return rs[mt.name] }, func(metric) string { return "%.2f" })
			}
			_ = tw.Flush()
		}
		fmt.Fprintln(w)
	}
	section("echo", echoModes, metricsTable)
	section("fan-out", fanModes, fanoutTable)
	for _, m := range fanModes {
		if r, ok := rep.Medians[m]; ok && (r.Lost != 0 || r.BadSeq != 0 || r.PubFailed != 0 || r.SubError != "") {
			fmt.Fprintf(w, "fan-out %s (median run): %d deliveries lost, %d subscribers short, %d out of order, %d publish failures; %s\n",
				m, r.Lost, r.ShortSubs, r.BadSeq, r.PubFailed, r.SubError)
		}
	}
	for _, r := range rep.Runs {
		if isFanout(r.Mode) && r.PubLate > 0 {
			fmt.Fprintf(w, "LATE: run %d %s: the publisher sent %d of %d events over an interval late (%.1f events/s of %.0f): the server, or the machine, did not keep the rate\n",
				r.Run, r.Mode, r.PubLate, r.Events, r.EventsPerSec, rep.Config.FanRate)
		}
		if isFanout(r.Mode) && (r.Lost != 0 || r.BadSeq != 0 || r.PubFailed != 0) {
			fmt.Fprintf(w, "LOSS: run %d %s: %d of %d deliveries lost (%d subscribers short), %d out of order, %d publish failures, %d events late\n",
				r.Run, r.Mode, r.Lost, int64(r.Events)*int64(r.Subs), r.ShortSubs, r.BadSeq, r.PubFailed, r.PubLate)
		}
	}

	if len(rep.Headlines) > 0 {
		fmt.Fprintln(w, "headline ratios (median to median, same run):")
		for _, h := range rep.Headlines {
			fmt.Fprintf(w, "  %-24s %-17s %5.2f\n", h.Pair, h.Metric, h.Ratio)
		}
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets (ratio to the baseline):")
		for _, t := range rep.Targets {
			verdict := "MET"
			if !t.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(w, "  %-14s %-17s %5.2f ≤ %.2f  %s\n", t.Mode, t.Metric, t.Ratio, t.Max, verdict)
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
	for i := range rep.Headlines {
		if x := rep.Headlines[i].Ratio; math.IsNaN(x) || math.IsInf(x, 0) {
			rep.Headlines[i].Ratio = 0
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
