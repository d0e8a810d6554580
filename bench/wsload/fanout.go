//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/wsroute/wsroute"
)

// fanTopic is the topic of the fan-out phase.
const fanTopic = "fan"

// fanPad fills an event's data to about 60 bytes.
const fanPad = "abcdefghijklmno"

// fanEvent is the data of a fan-out event: its sequence number, the
// publisher's clock when the event was published (Unix ns) and padding:
// {"seq":12,"ts":1767225600000000000,"pad":"abcdefghijklmno"}, 57-60 bytes.
type fanEvent struct {
	Seq int64  `json:"seq"`
	TS  int64  `json:"ts"`
	Pad string `json:"pad"`
}

// fanFrame is the raw fan-out server's event frame, the same shape as
// wsroute's topic events.
type fanFrame struct {
	Topic string   `json:"topic"`
	Data  fanEvent `json:"data"`
}

// isFanout reports whether mode is a fan-out mode.
func isFanout(mode string) bool { return mode == "fanout-raw" || mode == "fanout-routed" }

// rawFan is the naive fan-out baseline: its connections in a slice, and a
// publisher that writes each event to them one after the other.
type rawFan struct {
	mu    sync.Mutex
	conns []*websocket.Conn // copied on removal, so a snapshot stays valid
}

// newRawFanServer returns the raw fan-out server's channel handler, its
// publish function and its subscriber count. The handler accepts any
// connection, adds it to the slice and only reads (CloseRead) until it
// closes.
func newRawFanServer() (http.Handler, func(context.Context, fanEvent) int, func() int64) {
	f := &rawFan{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		<-c.CloseRead(context.Background()).Done()
		f.mu.Lock()
		if i := slices.Index(f.conns, c); i >= 0 {
			f.conns = slices.Delete(slices.Clone(f.conns), i, i+1)
		}
		f.mu.Unlock()
	})
	return h, f.publish, func() int64 {
		f.mu.Lock()
		defer f.mu.Unlock()
		return int64(len(f.conns))
	}
}

// publish encodes ev once and writes it to every connection, sequentially,
// with the publisher's context; it returns the number of failed writes.
func (f *rawFan) publish(ctx context.Context, ev fanEvent) int {
	frame, err := json.Marshal(fanFrame{Topic: fanTopic, Data: ev})
	if err != nil {
		return 1
	}
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	failed := 0
	for _, c := range conns {
		if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
			failed++
		}
	}
	return failed
}

// newRoutedFanServer returns wsroute's fan-out: a channel (TokenAuth session
// at open, like the routed echo) whose OnConnect subscribes it to fanTopic,
// a publish function calling Router.Publish, and the topic's subscriber
// count. Default Limits but the rate limit (raised as in the routed echo).
func newRoutedFanServer() (http.Handler, func(context.Context, fanEvent) int, func() int64) {
	r := wsroute.New(wsroute.Options{Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{Rate: 1e9, Burst: 1e9}}})
	r.Channel(echoPath, wsroute.ChannelConfig{
		Name:          "fan",
		Authenticator: wsroute.TokenAuth{Check: checkToken},
		OnConnect:     func(_ context.Context, c *wsroute.Channel) error { return c.Subscribe(fanTopic) },
	})
	publish := func(ctx context.Context, ev fanEvent) int {
		if err := r.Publish(ctx, fanTopic, ev, wsroute.PublishOptions{}); err != nil {
			return 1
		}
		return 0
	}
	return r, publish, func() int64 { return int64(len(r.Subscribers(fanTopic))) }
}

// publishResult is what POST /publish answers.
type publishResult struct {
	Published int     `json:"published"` // events published
	Failed    int     `json:"failed"`    // failed writes (raw) or Publish errors (routed)
	Late      int     `json:"late"`      // events published more than one interval after their slot
	ElapsedS  float64 `json:"elapsed_s"` // from the first event's start to the last one's end
}

// publishHandler serves POST /publish?events=N&rate=R: it publishes N
// events, one every 1/R s (an event whose slot has passed goes at once),
// each stamped with the time it is published, and answers publishResult
// when done. It runs in the server, so that its CPU time is the server's.
func publishHandler(publish func(context.Context, fanEvent) int) http.Handler {
	var mu sync.Mutex // one publisher at a time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		events, err1 := strconv.Atoi(r.URL.Query().Get("events"))
		rate, err2 := strconv.ParseFloat(r.URL.Query().Get("rate"), 64)
		if err1 != nil || err2 != nil || events < 1 || events > 100_000 || !(rate > 0) || rate > 100_000 || float64(events)/rate > 120 {
			http.Error(w, "want events in [1, 100000], rate in (0, 100000], events/rate ≤ 120 s", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		interval := time.Duration(float64(time.Second) / rate)
		ctx, cancel := context.WithTimeout(r.Context(), time.Duration(events)*interval+30*time.Second)
		defer cancel()
		var res publishResult
		t0 := time.Now()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for i := range events {
			if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
				}
			} else if -d > interval {
				res.Late++
			}
			if ctx.Err() != nil {
				break
			}
			res.Failed += publish(ctx, fanEvent{Seq: int64(i), TS: time.Now().UnixNano(), Pad: fanPad})
			res.Published++
		}
		res.ElapsedS = time.Since(t0).Seconds()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
}

// publish asks the server to publish events at rate and waits for its answer.
func (s *serverProc) publish(ctx context.Context, events int, rate float64) (publishResult, error) {
	var res publishResult
	url := fmt.Sprintf("http://%s/publish?events=%d&rate=%g", s.addr, events, rate)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return res, err
	}
	hc := &http.Client{Timeout: time.Duration(float64(events)/rate*float64(time.Second)) + 60*time.Second, Transport: s.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("/publish: %s", resp.Status)
	}
	return res, json.NewDecoder(resp.Body).Decode(&res)
}

// subscriber is one fan-out client connection's reception record.
type subscriber struct {
	got     int64   // events received
	badSeq  int64   // events out of order or repeated
	next    int64   // the seq expected next
	lat     []int64 // delivery latencies (ns), up to cap
	err     error   // why its read loop ended before the phase did
	stopped bool    // the read loop ended
}

// readEvents receives events on c until it fails, recording each event's
// arrival in s and total. It checks that each frame is a "fan" topic event
// whose seq follows the previous one.
func (s *subscriber) readEvents(c *websocket.Conn, total *atomic.Int64, stopping *atomic.Bool) {
	ctx := context.Background()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			if !stopping.Load() {
				s.err = err
			}
			s.stopped = true
			return
		}
		now := time.Now().UnixNano()
		seq, ts, ok := parseFanEvent(data)
		if typ != websocket.MessageText || !ok {
			if s.err == nil {
				s.err = fmt.Errorf("unexpected frame %.200s", data)
			}
			s.badSeq++
			continue
		}
		if seq != s.next {
			s.badSeq++
		}
		s.next = seq + 1
		if len(s.lat) < cap(s.lat) {
			s.lat = append(s.lat, now-ts)
		}
		s.got++
		total.Add(1)
	}
}

// parseFanEvent scans an event frame for its topic, seq and ts.
func parseFanEvent(data []byte) (seq, ts int64, ok bool) {
	if !bytes.Contains(data, []byte(`"topic":"`+fanTopic+`"`)) {
		return 0, 0, false
	}
	num := func(key string) (int64, bool) {
		i := bytes.Index(data, []byte(key))
		if i < 0 {
			return 0, false
		}
		j := i + len(key)
		k := j
		for k < len(data) && data[k] >= '0' && data[k] <= '9' {
			k++
		}
		n, err := strconv.ParseInt(string(data[j:k]), 10, 64)
		return n, err == nil
	}
	seq, ok1 := num(`"seq":`)
	ts, ok2 := num(`"ts":`)
	return seq, ts, ok1 && ok2
}

// fanoutPhase opens cfg.FanSubs subscriber connections on a fresh fan-out
// server, waits until the server counts them all as subscribers, asks it to
// publish cfg.FanEvents events at cfg.FanRate per second, and waits until
// every subscriber got every event (or 10 s after the publisher finished).
// It fills r with the server's CPU time per delivered event (deliveries
// counted by the client), the losses and the delivery latency.
func fanoutPhase(ctx context.Context, cfg config, r *runResult) error {
	srv, err := startServer(ctx, cfg, r.Mode, profileFile(cfg, r, "cpu"), "")
	if err != nil {
		return err
	}
	defer srv.stop()
	conns, err := dialAll(ctx, srv.addr, cfg.FanSubs, 32)
	if err != nil {
		return err
	}
	var (
		total    atomic.Int64
		stopping atomic.Bool
		wg       sync.WaitGroup
	)
	subs := make([]subscriber, len(conns))
	for i, c := range conns {
		subs[i].lat = make([]int64, 0, cfg.FanEvents)
		wg.Go(func() { subs[i].readEvents(c, &total, &stopping) })
	}
	defer func() {
		stopping.Store(true)
		closeAll(conns)
		wg.Wait()
	}()
	if err := waitConns(ctx, srv, cfg.FanSubs, 30*time.Second); err != nil {
		return err
	}
	cpu0, err := srv.cpuTime()
	if err != nil {
		return err
	}
	ccpu0, _ := processCPU(os.Getpid())
	t0 := time.Now()
	pub, err := srv.publish(ctx, cfg.FanEvents, cfg.FanRate)
	if err != nil {
		return err
	}
	want := int64(pub.Published) * int64(cfg.FanSubs)
	drain := time.Now().Add(10 * time.Second)
	for total.Load() < want && time.Now().Before(drain) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	t1 := time.Now()
	cpu1, err := srv.cpuTime()
	if err != nil {
		return err
	}
	ccpu1, _ := processCPU(os.Getpid())
	if err := ctx.Err(); err != nil {
		return err
	}
	stopping.Store(true)
	closeAll(conns)
	wg.Wait()

	got := total.Load()
	if got <= 0 {
		return errors.New("no event delivered")
	}
	var all []int64
	var firstErr error
	for _, s := range subs {
		all = append(all, s.lat...)
		r.BadSeq += s.badSeq
		if s.got < int64(pub.Published) {
			r.ShortSubs++
		}
		if s.err != nil && firstErr == nil {
			firstErr = s.err
		}
	}
	window := t1.Sub(t0)
	r.Subs, r.Events, r.Deliveries = cfg.FanSubs, pub.Published, got
	r.Lost = want - got
	r.PubFailed, r.PubLate = pub.Failed, pub.Late
	r.WindowS = window.Seconds()
	r.EventsPerSec = float64(pub.Published) / pub.ElapsedS
	r.DeliveriesPerSec = float64(got) / window.Seconds()
	r.CPUPerDeliveryUs = float64(cpu1-cpu0) / float64(got) / 1e3
	r.ServerUtil = float64(cpu1-cpu0) / float64(window)
	r.ClientCPUPerDeliveryUs = float64(ccpu1-ccpu0) / float64(got) / 1e3
	p := percentiles(all, 0.50, 0.99)
	r.FanP50us, r.FanP99us = p[0], p[1]
	if firstErr != nil {
		r.SubError = firstErr.Error()
	}
	return nil
}

// waitConns waits until the server counts n connections (subscribers in
// the fan-out modes), for at most d.
func waitConns(ctx context.Context, srv *serverProc, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		st, err := srv.stats(ctx, false)
		if err != nil {
			return err
		}
		if st.Conns >= int64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server reports %d of %d connections after %v", st.Conns, n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
