package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/coder/websocket"
	"github.com/wsroute/wsroute/internal/leakcheck"
)

// recorder is a Handler that records every event and answers $connect with
// connectStatus (200 when zero).
type recorder struct {
	mu            sync.Mutex
	events        []events.APIGatewayWebsocketProxyRequest
	changed       chan struct{}
	connectStatus int
	connectBody   string
	onMessage     func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
	onConnect     func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest)
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (h *recorder) handle(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
	switch ev.RequestContext.EventType {
	case "CONNECT":
		if h.onConnect != nil {
			h.onConnect(ctx, ev)
		}
		st := h.connectStatus
		if st == 0 {
			st = 200
		}
		return events.APIGatewayProxyResponse{StatusCode: st, Body: h.connectBody}, nil
	case "MESSAGE":
		if h.onMessage != nil {
			return h.onMessage(ctx, ev)
		}
	}
	return events.APIGatewayProxyResponse{StatusCode: 200}, nil
}

// wait returns the recorded events once cond accepts them.
func (h *recorder) wait(t *testing.T, cond func([]events.APIGatewayWebsocketProxyRequest) bool) []events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		h.mu.Lock()
		evs := append([]events.APIGatewayWebsocketProxyRequest(nil), h.events...)
		h.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-h.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out; events so far: %v", routeKeys(evs))
		}
	}
}

func routeKeys(evs []events.APIGatewayWebsocketProxyRequest) []string {
	var ks []string
	for _, e := range evs {
		ks = append(ks, e.RequestContext.RouteKey)
	}
	return ks
}

func count(evs []events.APIGatewayWebsocketProxyRequest, routeKey string) int {
	n := 0
	for _, e := range evs {
		if e.RequestContext.RouteKey == routeKey {
			n++
		}
	}
	return n
}

var testCreds = aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local-secret"}

// harness is an emulator on a loopback server and a management client for it.
type harness struct {
	t    *testing.T
	h    *recorder
	emu  *Emulator
	srv  *httptest.Server
	mgmt *ManagementClient
}

func start(t *testing.T, h *recorder, tweak func(*EmulatorOptions)) *harness {
	t.Helper()
	opts := EmulatorOptions{Handler: h.handle, RouteKeys: []string{"create", "list"}, Credentials: &testCreds}
	if tweak != nil {
		tweak(&opts)
	}
	emu, err := NewEmulator(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	mgmt, err := NewManagementClient(ManagementOptions{
		Endpoint:    srv.URL + "/" + emu.opts.Stage,
		Credentials: StaticCredentials(testCreds.AccessKeyID, testCreds.SecretAccessKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, h: h, emu: emu, srv: srv, mgmt: mgmt}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := emu.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return hs
}

func (hs *harness) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(hs.srv.URL, "http") + "/" + hs.emu.opts.Stage
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial connects and returns the socket and its connection id (from the
// $connect event).
func (hs *harness) dial(query string, hdr http.Header) (*websocket.Conn, string) {
	hs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := len(hs.connects())
	ws, _, err := websocket.Dial(ctx, hs.wsURL(query), &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		hs.t.Fatalf("dial: %v", err)
	}
	hs.t.Cleanup(func() { _ = ws.CloseNow() })
	ws.SetReadLimit(1 << 20)
	evs := hs.h.wait(hs.t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteConnect) > before })
	var id string
	for _, e := range evs {
		if e.RequestContext.RouteKey == RouteConnect {
			id = e.RequestContext.ConnectionID
		}
	}
	return ws, id
}

func (hs *harness) connects() []events.APIGatewayWebsocketProxyRequest {
	hs.h.mu.Lock()
	defer hs.h.mu.Unlock()
	var out []events.APIGatewayWebsocketProxyRequest
	for _, e := range hs.h.events {
		if e.RequestContext.RouteKey == RouteConnect {
			out = append(out, e)
		}
	}
	return out
}

func read(t *testing.T, ws *websocket.Conn) (websocket.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(b)
}

// readClose reads until the connection closes and returns the close status.
func readClose(t *testing.T, ws *websocket.Conn) websocket.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read ended without a close frame: %v", err)
		}
		return ce
	}
}

func write(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := leakcheck.Matching(2*time.Second, func(s string) bool {
			return !strings.Contains(s, "testing.tRunner(") &&
				(strings.Contains(s, "wsroute/serverless/apigw.") || strings.Contains(s, "github.com/coder/websocket."))
		}); len(left) > 0 {
			println("leaked goroutines:\n" + strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

func TestConnectEventCarriesQueryHeadersAndContext(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	hdr := http.Header{"X-Token": {"abc"}, "User-Agent": {"wsroute-test"}}
	hdr.Add("X-Multi", "1")
	hdr.Add("X-Multi", "2")
	_, id := hs.dial("token=t1&room=a&room=b", hdr)

	ev := hs.connects()[0]
	rc := ev.RequestContext
	if rc.EventType != "CONNECT" || rc.RouteKey != "$connect" || rc.Stage != "local" || rc.ConnectionID != id {
		t.Fatalf("request context: %+v", rc)
	}
	if len(id) != 16 || !strings.HasSuffix(id, "=") {
		t.Errorf("connection id %q is not shaped like API Gateway's", id)
	}
	if rc.Identity.SourceIP != "127.0.0.1" || rc.Identity.UserAgent != "wsroute-test" {
		t.Errorf("identity: %+v", rc.Identity)
	}
	if rc.ConnectedAt == 0 || rc.RequestTimeEpoch == 0 || rc.RequestID == "" || rc.DomainName == "" || rc.MessageDirection != "IN" {
		t.Errorf("request context fields missing: %+v", rc)
	}
	if ev.QueryStringParameters["token"] != "t1" || ev.QueryStringParameters["room"] != "b" ||
		strings.Join(ev.MultiValueQueryStringParameters["room"], ",") != "a,b" {
		t.Errorf("query: %v %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
	if ev.Headers["X-Token"] != "abc" || ev.Headers["X-Multi"] != "2" || strings.Join(ev.MultiValueHeaders["X-Multi"], ",") != "1,2" {
		t.Errorf("headers: %v", ev.Headers)
	}
	if ev.Headers["Host"] == "" || ev.Headers["X-Forwarded-For"] != "127.0.0.1" || ev.Headers["X-Forwarded-Proto"] != "http" {
		t.Errorf("front-end headers: %v", ev.Headers)
	}
	if ev.Body != "" || ev.Path != "" {
		t.Errorf("$connect has no body or path: %+v", ev)
	}
}

func TestConnectRefusedPassesStatusAndBody(t *testing.T) {
	h := newRecorder()
	h.connectStatus, h.connectBody = 401, `{"error":{"code":"unauthenticated"}}`
	hs := start(t, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, hs.wsURL(""), nil)
	if err == nil {
		t.Fatal("dial succeeded")
	}
	if resp == nil || resp.StatusCode != 401 {
		t.Fatalf("want 401, got %v (%v)", resp, err)
	}
	// A refused connection never existed: no $disconnect.
	time.Sleep(50 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := count(h.events, RouteDisconnect); n != 0 {
		t.Fatalf("$disconnect after a refused $connect: %d", n)
	}
}

func TestConnectHandlerErrorIs500(t *testing.T) {
	hs := start(t, newRecorder(), func(o *EmulatorOptions) {
		o.Handler = func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{}, errors.New("boom")
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, hs.wsURL(""), nil)
	if err == nil || resp == nil || resp.StatusCode != 500 {
		t.Fatalf("want 500, got %v (%v)", resp, err)
	}
}

func TestPostBeforeConnectCompletesIsGone(t *testing.T) {
	h := newRecorder()
	var postErr error
	var hs *harness
	h.onConnect = func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) {
		postErr = hs.mgmt.Post(ctx, ev.RequestContext.ConnectionID, []byte("too early"))
	}
	hs = start(t, h, nil)
	hs.dial("", nil)
	if !errors.Is(postErr, ErrGone) {
		t.Fatalf("post from $connect: want ErrGone, got %v", postErr)
	}
}

func TestRouteSelection(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, _ := hs.dial("", nil)
	msgs := []struct{ body, want string }{
		{`{"action":"create","title":"x"}`, "create"},
		{`{"action":"list"}`, "list"},
		{`{"action":"delete"}`, "$default"}, // not a configured key
		{`{"title":"no action"}`, "$default"},
		{`not json`, "$default"},
		{`{"action":null}`, "$default"},
		{`["create"]`, "$default"},
		{`{"action":"create"} trailing`, "$default"},
	}
	for _, m := range msgs {
		write(t, ws, m.body)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return len(evs) == 1+len(msgs) })
	for i, m := range msgs {
		ev := evs[1+i]
		if ev.RequestContext.EventType != "MESSAGE" || ev.RequestContext.RouteKey != m.want || ev.Body != m.body {
			t.Errorf("%s: got route %q body %q", m.body, ev.RequestContext.RouteKey, ev.Body)
		}
		if ev.RequestContext.MessageID == nil || ev.Headers != nil || ev.QueryStringParameters != nil {
			t.Errorf("%s: message event fields: %+v", m.body, ev)
		}
	}
}

func TestRouteSelectionStringifiesAndNests(t *testing.T) {
	s, err := newRouteSelector("${request.body.meta.kind}", []string{"1", "true", "x", "$default"})
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		`{"meta":{"kind":1}}`:    "1",
		`{"meta":{"kind":true}}`: "true",
		`{"meta":{"kind":"x"}}`:  "x",
		`{"meta":{"kind":"y"}}`:  "$default",
		`{"meta":"kind"}`:        "$default",
	} {
		if got := s.selectRoute([]byte(body)); got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
	if _, err := newRouteSelector("$request.header.x", nil); err == nil {
		t.Error("want an error for a non-body expression")
	}
}

func TestMessagesOfOneConnectionArriveInOrder(t *testing.T) {
	h := newRecorder()
	h.onMessage = func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		time.Sleep(time.Millisecond) // invocations overlap unless serialized
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	hs := start(t, h, nil)
	ws, _ := hs.dial("", nil)
	const n = 50
	for i := range n {
		write(t, ws, `{"action":"create","n":`+strconv.Itoa(i)+`}`)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return len(evs) == 1+n })
	for i := range n {
		var v struct{ N int }
		if err := json.Unmarshal([]byte(evs[1+i].Body), &v); err != nil || v.N != i {
			t.Fatalf("event %d has body %s", i, evs[1+i].Body)
		}
	}
}

func TestManagementPostGetDelete(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, id := hs.dial("", http.Header{"User-Agent": {"ua/1"}})
	ctx := context.Background()

	if err := hs.mgmt.Post(ctx, id, []byte(`{"topic":"todos","data":1}`)); err != nil {
		t.Fatal(err)
	}
	if typ, got := read(t, ws); typ != websocket.MessageText || got != `{"topic":"todos","data":1}` {
		t.Fatalf("client got %v %q", typ, got)
	}
	// Over 32 KiB: sent in several frames, arrives as one message.
	big := strings.Repeat("x", 100<<10)
	if err := hs.mgmt.Post(ctx, id, []byte(big)); err != nil {
		t.Fatal(err)
	}
	if _, got := read(t, ws); got != big {
		t.Fatalf("big message: got %d bytes", len(got))
	}
	// Over 128 KiB: 413.
	var ae *APIError
	if err := hs.mgmt.Post(ctx, id, make([]byte, 129<<10)); !errors.As(err, &ae) || ae.StatusCode != 413 || ae.Type != "PayloadTooLargeException" {
		t.Fatalf("want 413 PayloadTooLargeException, got %v", err)
	}

	info, err := hs.mgmt.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.SourceIP != "127.0.0.1" || info.UserAgent != "ua/1" || info.ConnectedAt.IsZero() || info.LastActiveAt.Before(info.ConnectedAt) {
		t.Fatalf("GetConnection: %+v", info)
	}

	if err := hs.mgmt.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ce := readClose(t, ws); ce.Code != websocket.StatusNormalClosure {
		t.Fatalf("close after DELETE: %v", ce)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteDisconnect) == 1 })
	d := evs[len(evs)-1].RequestContext
	if d.EventType != "DISCONNECT" || d.ConnectionID != id || d.DisconnectStatusCode != 1000 || d.DisconnectReason == nil || *d.DisconnectReason != "Connection Closed Normally" {
		t.Fatalf("$disconnect: %+v", d)
	}
	// Gone now, for every operation.
	if err := hs.mgmt.Post(ctx, id, []byte("x")); !errors.Is(err, ErrGone) {
		t.Fatalf("post after delete: %v", err)
	}
	if _, err := hs.mgmt.Get(ctx, id); !errors.Is(err, ErrGone) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := hs.mgmt.Delete(ctx, id); !errors.Is(err, ErrGone) {
		t.Fatalf("delete after delete: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := count(h.wait(t, func([]events.APIGatewayWebsocketProxyRequest) bool { return true }), RouteDisconnect); n != 1 {
		t.Fatalf("$disconnect ran %d times", n)
	}
}

func TestUnknownConnectionIsGone(t *testing.T) {
	hs := start(t, newRecorder(), nil)
	err := hs.mgmt.Post(context.Background(), "H111mc0HywMCEEf=", []byte("x"))
	var ae *APIError
	if !errors.Is(err, ErrGone) || !errors.As(err, &ae) || ae.StatusCode != 410 || ae.Type != "GoneException" {
		t.Fatalf("want 410 GoneException, got %v", err)
	}
}

func TestClientCloseRunsDisconnectOnceWithItsCode(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, id := hs.dial("", nil)
	write(t, ws, `{"action":"create"}`)
	if err := ws.Close(4000, "bye"); err != nil {
		t.Fatal(err)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteDisconnect) == 1 })
	last := evs[len(evs)-1]
	if last.RequestContext.RouteKey != RouteDisconnect || routeKeys(evs)[1] != "create" {
		t.Fatalf("order: %v", routeKeys(evs))
	}
	if rc := last.RequestContext; rc.DisconnectStatusCode != 4000 || *rc.DisconnectReason != "bye" || rc.ConnectionID != id {
		t.Fatalf("$disconnect: %+v", rc)
	}
	if err := hs.mgmt.Post(context.Background(), id, []byte("x")); !errors.Is(err, ErrGone) {
		t.Fatalf("post after close: %v", err)
	}
}

func TestIdleTimeoutCloses1001(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, func(o *EmulatorOptions) { o.IdleTimeout = 150 * time.Millisecond })
	ws, id := hs.dial("", nil)
	// Activity keeps it open.
	for range 3 {
		time.Sleep(70 * time.Millisecond)
		write(t, ws, `{"action":"list"}`)
	}
	start := time.Now()
	ce := readClose(t, ws)
	if ce.Code != websocket.StatusGoingAway {
		t.Fatalf("idle close: %v", ce)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed %v after the last message", d)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteDisconnect) == 1 })
	if rc := evs[len(evs)-1].RequestContext; rc.DisconnectStatusCode != 1001 || rc.ConnectionID != id {
		t.Fatalf("$disconnect: %+v", rc)
	}
}

func TestMaxDurationCloses(t *testing.T) {
	hs := start(t, newRecorder(), func(o *EmulatorOptions) { o.MaxDuration = 100 * time.Millisecond })
	ws, _ := hs.dial("", nil)
	if ce := readClose(t, ws); ce.Code != websocket.StatusGoingAway {
		t.Fatalf("close: %v", ce)
	}
}

func TestMessageOver128KiBCloses1009(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, _ := hs.dial("", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// In 32 KiB frames, as API Gateway requires, but 129 KiB in total.
	w, err := ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("a", 32<<10))
	for range 4 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = w.Write(chunk[:1<<10])
	_ = w.Close()
	if ce := readClose(t, ws); ce.Code != websocket.StatusMessageTooBig {
		t.Fatalf("close: %v", ce)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteDisconnect) == 1 })
	if count(evs, RouteDefault) != 0 {
		t.Fatal("the oversize message reached the handler")
	}
	if rc := evs[len(evs)-1].RequestContext; rc.DisconnectStatusCode != 1009 {
		t.Fatalf("$disconnect: %+v", rc)
	}
}

func TestMessageOf128KiBInFramesIsAccepted(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, _ := hs.dial("", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("a", 32<<10))
	for range 4 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteDefault) == 1 })
	if len(evs[1].Body) != 128<<10 {
		t.Fatalf("body: %d bytes", len(evs[1].Body))
	}
}

func TestFrameOver32KiBCloses1009(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, _ := hs.dial("", nil)
	write(t, ws, strings.Repeat("a", 32<<10+1)) // one frame
	if ce := readClose(t, ws); ce.Code != websocket.StatusMessageTooBig {
		t.Fatalf("close: %v", ce)
	}
}

func TestBinaryFrameCloses1003(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, _ := hs.dial("", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if ce := readClose(t, ws); ce.Code != websocket.StatusUnsupportedData {
		t.Fatalf("close: %v", ce)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteDisconnect) == 1 })
	if rc := evs[len(evs)-1].RequestContext; rc.DisconnectStatusCode != 1003 {
		t.Fatalf("$disconnect: %+v", rc)
	}
}

func TestAllowBinaryPassesBase64(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, func(o *EmulatorOptions) { o.AllowBinary = true })
	ws, _ := hs.dial("", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte{0xff, 0, 1}); err != nil {
		t.Fatal(err)
	}
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return len(evs) == 2 })
	if ev := evs[1]; !ev.IsBase64Encoded || ev.Body != "/wAB" || ev.RequestContext.RouteKey != RouteDefault {
		t.Fatalf("binary event: %+v", ev)
	}
}

func TestHandlerErrorSendsAPIGatewayErrorFrame(t *testing.T) {
	h := newRecorder()
	h.onMessage = func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{}, errors.New("boom")
	}
	hs := start(t, h, nil)
	ws, id := hs.dial("", nil)
	write(t, ws, `{"action":"create"}`)
	_, got := read(t, ws)
	var f struct{ Message, ConnectionID, RequestID string }
	if err := json.Unmarshal([]byte(got), &f); err != nil || f.Message != "Internal server error" || f.ConnectionID != id || f.RequestID == "" {
		t.Fatalf("error frame: %s", got)
	}
}

func TestResponseBodyOnlyWithTwoWay(t *testing.T) {
	for _, twoWay := range []bool{false, true} {
		h := newRecorder()
		h.onMessage = func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "reply"}, nil
		}
		hs := start(t, h, func(o *EmulatorOptions) { o.TwoWay = twoWay })
		ws, id := hs.dial("", nil)
		write(t, ws, `{"action":"create"}`)
		h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return len(evs) == 2 })
		// A marker posted after the invocation tells whether a reply came first.
		if err := hs.mgmt.Post(context.Background(), id, []byte("marker")); err != nil {
			t.Fatal(err)
		}
		_, got := read(t, ws)
		if want := map[bool]string{false: "marker", true: "reply"}[twoWay]; got != want {
			t.Fatalf("TwoWay=%v: first message %q, want %q", twoWay, got, want)
		}
	}
}

func TestShutdownClosesConnectionsAndRunsDisconnect(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws1, _ := hs.dial("", nil)
	ws2, _ := hs.dial("", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- hs.emu.Shutdown(ctx) }()
	for _, ws := range []*websocket.Conn{ws1, ws2} {
		if ce := readClose(t, ws); ce.Code != websocket.StatusGoingAway {
			t.Fatalf("close: %v", ce)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := count(h.wait(t, func([]events.APIGatewayWebsocketProxyRequest) bool { return true }), RouteDisconnect); n != 2 {
		t.Fatalf("$disconnect ran %d times", n)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if _, resp, err := websocket.Dial(dctx, hs.wsURL(""), nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("connect during shutdown: %v %v", resp, err)
	}
}

func TestNotAnUpgradeAndUnknownPaths(t *testing.T) {
	hs := start(t, newRecorder(), nil)
	for path, want := range map[string]int{"/local": 426, "/other": 404, "/local/x": 404} {
		resp, err := http.Get(hs.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// newLoopbackServer serves h on 127.0.0.1 for the test's duration.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestIntegrationTimeoutAndPanic(t *testing.T) {
	h := newRecorder()
	h.onMessage = func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if ev.Body == "panic" {
			panic("handler bug")
		}
		<-ctx.Done() // the deadline is the integration timeout
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	hs := start(t, h, func(o *EmulatorOptions) { o.IntegrationTimeout = 50 * time.Millisecond })
	ws, _ := hs.dial("", nil)
	write(t, ws, "slow")
	if _, got := read(t, ws); !strings.Contains(got, `"message": "Endpoint request timed out"`) {
		t.Fatalf("timeout frame: %s", got)
	}
	write(t, ws, "panic")
	if _, got := read(t, ws); !strings.Contains(got, `"message": "Internal server error"`) {
		t.Fatalf("panic frame: %s", got)
	}
}

func TestConnectResponseSelectsSubprotocol(t *testing.T) {
	hs := start(t, newRecorder(), func(o *EmulatorOptions) {
		o.Handler = func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			if ev.RequestContext.EventType != "CONNECT" {
				return events.APIGatewayProxyResponse{StatusCode: 200}, nil
			}
			return events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Sec-WebSocket-Protocol": "wsroute.v1"}}, nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, hs.wsURL(""), &websocket.DialOptions{Subprotocols: []string{"other", "wsroute.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != "wsroute.v1" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
}

func TestRefusedConnectBodyAndDroppedConnection(t *testing.T) {
	h := newRecorder()
	h.connectStatus, h.connectBody = 403, `{"error":{"code":"forbidden"}}`
	hs := start(t, h, nil)
	req, _ := http.NewRequest(http.MethodGet, hs.srv.URL+"/local", nil)
	req.Header = http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(b) != h.connectBody {
		t.Fatalf("refused connect: %d %q", resp.StatusCode, b)
	}

	h.connectStatus, h.connectBody = 200, ""
	ws, id := hs.dial("", nil)
	_ = ws.CloseNow() // no close frame
	evs := h.wait(t, func(evs []events.APIGatewayWebsocketProxyRequest) bool { return count(evs, RouteDisconnect) == 1 })
	if rc := evs[len(evs)-1].RequestContext; rc.DisconnectStatusCode != 1006 || rc.ConnectionID != id {
		t.Fatalf("$disconnect after a drop: %+v", rc)
	}
}
