package wsroute_test

// Adversarial tests where the network matters: the read limit against single
// and fragmented frames, invalid UTF-8 on the wire, a flooding connection, a
// subscriber that never reads, connections cut inside a frame or while a
// handler runs, and WebSocket protocol violations. The helpers (advRouter,
// advTracker, ...) are in adversarial_test.go.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
)

// advServe serves r over loopback TCP and returns the ws:// URL of "/n". The
// server is closed after the Router's Shutdown (see advRouter).
func advServe(t *testing.T, r *wsroute.Router, tr *advTracker) string {
	t.Helper()
	srv := httptest.NewServer(r)
	tr.mu.Lock()
	tr.servers = append(tr.servers, srv)
	tr.mu.Unlock()
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/n"
}

// advDial dials "/n" and reads its hello; it returns the connection and the
// id of its channel.
func advDial(t *testing.T, url string) (*websocket.Conn, string) {
	t.Helper()
	c := dial(t, url, nil)
	var hello struct{ Hello string }
	require.NoError(t, json.Unmarshal([]byte(readText(t, c)), &hello))
	require.NotEmpty(t, hello.Hello)
	return c, hello.Hello
}

// advRoundTrip writes frame and returns the next frame read, within 10s.
func advRoundTrip(t *testing.T, c *websocket.Conn, frame string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(frame)))
	_, b, err := c.Read(ctx)
	require.NoError(t, err)
	return string(b)
}

// advServingNet checks that the server at url still answers a new connection.
func advServingNet(t *testing.T, url string) {
	t.Helper()
	c, _ := advDial(t, url)
	assert.Equal(t, `{"action":"echo","ref":"alive","title":"ok"}`, advRoundTrip(t, c, `{"action":"echo","ref":"alive","title":"ok"}`))
	_ = c.CloseNow()
}

// advRecv waits (bounded) for a signal.
func advRecv(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// advSized returns an echo frame of exactly n bytes (mostly two-byte runes).
func advSized(n int) string {
	const head, tail = `{"action":"echo","title":"`, `"}`
	body := n - len(head) - len(tail)
	return head + strings.Repeat("é", body/2) + strings.Repeat("x", body%2) + tail
}

func TestAdversarialReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 4096
	r, tr := advRouter(t, wsroute.Options{Limits: wsroute.Limits{ReadLimit: limit}})
	url := advServe(t, r, tr)
	t.Run("in memory at the limit", func(t *testing.T) {
		t.Parallel()
		c := advMustDial(t, r)
		f := advSized(limit)
		require.Len(t, f, limit)
		assert.Equal(t, f, one(t, c, f))
		advBadRequest(t, one(t, c, `[`+strings.Repeat(" ", limit-1)), "limit-sized garbage")
	})
	t.Run("in memory one byte over", func(t *testing.T) {
		t.Parallel()
		c := advMustDial(t, r)
		id := c.Channel().ID()
		require.NoError(t, c.SendText(advSized(limit+1)))
		err := c.Wait(t.Context())
		assert.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err), "%v", err)
		assert.Equal(t, websocket.StatusMessageTooBig, tr.wait(t, id).Code)
		advServing(t, r)
	})
	tests := []struct {
		name            string
		size, fragments int
	}{
		{"one frame at the limit", limit, 1},
		{"one frame one byte over", limit + 1, 1},
		{"41 fragments at the limit", limit, 41},
		{"41 fragments one byte over", limit + 1, 41},
		{"400 fragments far over", 16 * limit, 400},
	}
	for _, tt := range tests {
		t.Run("network "+tt.name, func(t *testing.T) {
			t.Parallel()
			c, id := advDial(t, url)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			f := []byte(advSized(tt.size))
			require.Len(t, f, tt.size)
			w, err := c.Writer(ctx, websocket.MessageText)
			require.NoError(t, err)
			step := (len(f) + tt.fragments - 1) / tt.fragments
			for i := 0; i < len(f); i += step {
				if _, err := w.Write(f[i:min(i+step, len(f))]); err != nil {
					break // the server may close before the message ends
				}
			}
			_ = w.Close()
			_, got, err := c.Read(ctx)
			if tt.size <= limit {
				require.NoError(t, err)
				assert.Equal(t, string(f), string(got))
				return
			}
			assert.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err), "%v", err)
			assert.Equal(t, websocket.StatusMessageTooBig, tr.wait(t, id).Code)
			advServingNet(t, url)
		})
	}
}

func TestAdversarialInvalidUTF8(t *testing.T) {
	t.Parallel()
	r, tr := advRouter(t, wsroute.Options{})
	url := advServe(t, r, tr)
	tests := []struct{ name, frame string }{
		{"in the route value", "{\"action\":\"ec\xffho\",\"title\":\"x\"}"},
		{"in another value", "{\"action\":\"echo\",\"title\":\"\xc3\x28\"}"},
		{"in a key", "{\"action\":\"echo\",\"ti\xfetle\":\"x\"}"},
		{"in the ref", "{\"action\":\"echo\",\"ref\":\"\x80\"}"},
		{"overlong encoding", "{\"action\":\"echo\",\"title\":\"\xc0\xaf\"}"},
		{"UTF-8 encoded surrogate", "{\"action\":\"echo\",\"title\":\"\xed\xa0\x80\"}"},
		{"beyond U+10FFFF", "{\"action\":\"echo\",\"title\":\"\xf4\x90\x80\x80\"}"},
		{"truncated rune at the end", "{\"action\":\"echo\",\"title\":\"\xe2\x82"},
		{"text that is not JSON", "hello \xff"},
	}
	for _, tt := range tests {
		t.Run("in memory "+tt.name, func(t *testing.T) {
			t.Parallel()
			c := advMustDial(t, r)
			id := c.Channel().ID()
			require.NoError(t, c.SendText(tt.frame))
			err := c.Wait(t.Context())
			assert.Equal(t, websocket.StatusInvalidFramePayloadData, websocket.CloseStatus(err), "%v", err)
			assert.Equal(t, wsroute.CloseInfo{Code: 1007, Reason: "invalid UTF-8"}, tr.wait(t, id))
			advServing(t, r)
		})
		t.Run("network "+tt.name, func(t *testing.T) {
			t.Parallel()
			c, id := advDial(t, url)
			require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(tt.frame)))
			_, _, err := c.Read(t.Context())
			assert.Equal(t, websocket.StatusInvalidFramePayloadData, websocket.CloseStatus(err), "%v", err)
			assert.Equal(t, wsroute.CloseInfo{Code: 1007, Reason: "invalid UTF-8"}, tr.wait(t, id))
			advServingNet(t, url)
		})
	}
	t.Run("an escaped lone surrogate is valid UTF-8 text", func(t *testing.T) {
		t.Parallel()
		reply := one(t, advMustDial(t, r), `{"action":"echo","title":"\udc00"}`)
		assert.Equal(t, "\ufffd", decode(t, reply)["title"])
	})
}

// A connection that pipelines thousands of frames gets one answer per frame,
// in order, while another connection is served; it is closed with 1008. Over a
// real network time passes while frames travel, so the rate limit here does
// not refill (one token in 11 days) and counts refusals over an hour: the
// burst of 200 is answered, the next 1,001 frames are refused, and the last
// of them closes the channel — whatever the machine's speed.
func TestAdversarialNetFlood(t *testing.T) {
	t.Parallel()
	const burst, maxRefused = 200, 1000
	r, tr := advRouter(t, wsroute.Options{Limits: wsroute.Limits{RateLimit: wsroute.RateLimit{
		Rate: 1e-6, Burst: burst, MaxRefused: maxRefused, Window: time.Hour,
	}}})
	url := advServe(t, r, tr)
	flooder, fid := advDial(t, url)
	other, _ := advDial(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const n = 5000
	frame := func(i int) string {
		if i%5 == 4 {
			return `{"action":"echo","ref":` // malformed: bad_request
		}
		return `{"action":"echo","ref":` + strconv.Itoa(i) + `,"title":"f"}`
	}
	flooding, written := make(chan struct{}), make(chan struct{})
	go func() { // pipelines every frame without waiting for replies
		defer close(written)
		for i := range n {
			if i == 100 {
				close(flooding)
			}
			if flooder.Write(ctx, websocket.MessageText, []byte(frame(i))) != nil {
				return // closed for flooding
			}
		}
	}()
	var frames []string
	var readErr error
	read := make(chan struct{})
	go func() {
		defer close(read)
		for len(frames) < n && readErr == nil {
			var b []byte
			if _, b, readErr = flooder.Read(ctx); readErr == nil {
				frames = append(frames, string(b))
			}
		}
	}()
	advRecv(t, flooding, "the flood")
	for i := range 50 {
		f := `{"action":"echo","ref":"o` + strconv.Itoa(i) + `","title":"other"}`
		require.Equal(t, f, advRoundTrip(t, other, f), "round trip %d during the flood", i)
	}
	advRecv(t, read, "the flooder's replies")
	advRecv(t, written, "the flooder's writes")
	// One reply per message, in order, until the flood rule closed the
	// channel: the burst is handled, then every frame is refused.
	const refusal = `"error":{"code":"rate_limited","message":"too many messages: slow down"}}`
	require.Equal(t, burst+maxRefused+1, len(frames), "replies before the close; then %v", readErr)
	for i, got := range frames {
		got = retryAfter.ReplaceAllString(got, "")
		switch {
		case i >= burst && i%5 == 4:
			require.Equal(t, `{`+refusal, got, "reply %d", i)
		case i >= burst:
			require.Equal(t, `{"action":"echo","ref":`+strconv.Itoa(i)+`,`+refusal, got, "reply %d", i)
		case i%5 == 4:
			advBadRequest(t, got, frame(i))
		default:
			require.Equal(t, frame(i), got, "reply %d", i)
		}
	}
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(readErr), "%v", readErr)
	assert.Equal(t, wsroute.CloseInfo{Code: websocket.StatusPolicyViolation, Reason: "rate limit exceeded"}, tr.wait(t, fid))
	advServingNet(t, url)
}

func TestAdversarialNetNonReader(t *testing.T) {
	t.Parallel()
	// The frame bound is what this test drives: the byte budget is raised past a burst.
	r, tr := advRouter(t, wsroute.Options{Limits: wsroute.Limits{SendQueue: 64, SendBytes: 4 << 20, WriteTimeout: time.Minute, PingInterval: -1}})
	url := advServe(t, r, tr)
	reader, _ := advDial(t, url)
	reader.SetReadLimit(1 << 20)
	stalled, sid := advDial(t, url)
	idle, _ := advDial(t, url)
	for _, c := range []*websocket.Conn{reader, stalled} {
		require.Equal(t, `{"action":"sub"}`, advRoundTrip(t, c, `{"action":"sub"}`))
	}
	// From now on stalled never reads. Each burst queues 48 events of 32 KiB
	// for both subscribers (within the reader's queue of 64, which it drains).
	tr.mu.Lock()
	dropped := tr.endedChan(sid)
	tr.mu.Unlock()
	const burst, size = 48, 32 << 10
	msg := []byte(`{"action":"publish","n":` + strconv.Itoa(burst) + `,"size":` + strconv.Itoa(size) + `}`)
	ended := func() bool {
		select {
		case <-dropped:
			return true
		default:
			return false
		}
	}
	for i := 0; !ended(); i++ {
		require.Less(t, i, 150, "the subscriber that never reads was not dropped")
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		require.NoError(t, reader.Write(ctx, websocket.MessageText, msg))
		for range burst {
			_, b, err := reader.Read(ctx)
			require.NoError(t, err)
			require.Len(t, b, len(`{"topic":"t","data":""}`)+size)
		}
		_, b, err := reader.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, `{"action":"publish"}`, string(b))
	}
	assert.Equal(t, wsroute.CloseInfo{Code: -1, Reason: "slow consumer"}, tr.wait(t, sid))
	assert.Equal(t, `{"action":"echo","title":"idle"}`, advRoundTrip(t, idle, `{"action":"echo","title":"idle"}`))
	advServingNet(t, url)
}

// advRawDial opens "/n" over a raw TCP connection with a hand-written
// handshake, reads the hello, and returns the connection, its reader and the
// channel's id. Every read and write is bounded by a deadline.
func advRawDial(t *testing.T, wsURL string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	u, err := url.Parse(wsURL)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(conn, "GET /n HTTP/1.1\r\nHost: "+u.Host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
	op, payload, err := advReadFrame(br)
	require.NoError(t, err)
	require.Equal(t, byte(1), op)
	var hello struct{ Hello string }
	require.NoError(t, json.Unmarshal(payload, &hello))
	return conn, br, hello.Hello
}

// advReadFrame reads one unmasked server frame.
func advReadFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		_, err = io.ReadFull(br, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, err = io.ReadFull(br, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	if err != nil || n > 1<<20 {
		return 0, nil, io.ErrUnexpectedEOF
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0x0f, payload, err
}

// advClientFrame encodes a masked client frame whose header claims length
// claimed; payload may be shorter or longer.
func advClientFrame(b0 byte, payload []byte, claimed uint64) []byte {
	out := []byte{b0}
	switch {
	case claimed < 126:
		out = append(out, 0x80|byte(claimed))
	case claimed <= 0xffff:
		out = binary.BigEndian.AppendUint16(append(out, 0x80|126), uint16(claimed))
	default:
		out = binary.BigEndian.AppendUint64(append(out, 0x80|127), claimed)
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// Frame first bytes: FIN plus an opcode.
const advFin, advText, advContinuation, advPing = 0x80, 0x01, 0x00, 0x09

func advFrame(b0 byte, payload string) []byte {
	return advClientFrame(b0, []byte(payload), uint64(len(payload)))
}

func TestAdversarialNetAbruptDrop(t *testing.T) {
	t.Parallel()
	r, tr := advRouter(t, wsroute.Options{})
	url := advServe(t, r, tr)
	echo := advFrame(advFin|advText, `{"action":"echo","title":"x"}`)
	first := advFrame(advText, `{"action":"ec`) // FIN unset: a fragmented message begins
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"inside the header", []byte{advFin | advText}},
		{"before the mask key", []byte{advFin | advText, 0x80 | 29}},
		{"inside the mask key", []byte{advFin | advText, 0x80 | 29, 1, 2}},
		{"inside the extended length", []byte{advFin | advText, 0x80 | 127, 0, 0}},
		{"inside the payload", echo[:len(echo)-7]},
		{"after a header claiming 1 GiB", advClientFrame(advFin|advText, []byte(`{"action":"echo"`), 1<<30)},
		{"after a first fragment", first},
		{"inside a continuation", append(append([]byte{}, first...), advFrame(advFin|advContinuation, `ho","title":"x"}`)[:9]...)},
		{"after a ping inside a fragmented message", append(append([]byte{}, first...), advFrame(advFin|advPing, "p")...)},
		{"after a complete frame, inside the next", append(append([]byte{}, echo...), echo[:4]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, _, id := advRawDial(t, url)
			_, err := conn.Write(tt.bytes)
			require.NoError(t, err)
			require.NoError(t, conn.Close())
			assert.Equal(t, wsroute.CloseInfo{Code: -1, Reason: "connection lost", ByPeer: true}, tr.wait(t, id))
			advServingNet(t, url)
		})
	}
}

func TestAdversarialNetProtocolViolations(t *testing.T) {
	t.Parallel()
	r, tr := advRouter(t, wsroute.Options{Limits: wsroute.Limits{ReadLimit: 4096}})
	url := advServe(t, r, tr)
	first := advFrame(advText, `{"action":"ec`)
	tests := []struct {
		name  string
		bytes []byte
		code  websocket.StatusCode // the close frame the client gets; 0: none
	}{
		{"unmasked frame", append([]byte{advFin | advText, 17}, `{"action":"echo"}`...), 0},
		{"unknown opcode", advFrame(advFin|0x03, "x"), websocket.StatusProtocolError},
		{"reserved bits", advFrame(advFin|0x70|advText, `{"action":"echo"}`), websocket.StatusProtocolError},
		{"continuation first", advFrame(advFin|advContinuation, `{"action":"echo"}`), websocket.StatusProtocolError},
		{"new message inside a fragmented one", append(append([]byte{}, first...), advFrame(advFin|advText, `{}`)...), websocket.StatusProtocolError},
		{"ping of 126 bytes", advFrame(advFin|advPing, strings.Repeat("p", 126)), websocket.StatusProtocolError},
		{"fragmented ping", advFrame(advPing, "p"), websocket.StatusProtocolError},
		{"header claiming 1 GiB, then more than the limit", advClientFrame(advFin|advText, []byte(strings.Repeat(" ", 5000)), 1<<30), websocket.StatusMessageTooBig},
	}
	infos := make([]wsroute.CloseInfo, len(tests))
	t.Run("each", func(t *testing.T) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				conn, br, id := advRawDial(t, url)
				_, err := conn.Write(tt.bytes)
				require.NoError(t, err)
				var code websocket.StatusCode
				for { // read until the server ends the connection
					op, payload, err := advReadFrame(br)
					if err != nil {
						break
					}
					if op == 0x08 && len(payload) >= 2 {
						code = websocket.StatusCode(binary.BigEndian.Uint16(payload))
					}
				}
				assert.Equal(t, tt.code, code, "close frame")
				infos[i] = tr.wait(t, id) // exactly once: checked when the test ends
				advServingNet(t, url)
			})
		}
	})
	// OnDisconnect and the Observer see the close frame the server sent: a hostile client is
	// not reported as an ordinary network loss (this suite found that it was).
	t.Run("CloseInfo matches the close frame sent", func(t *testing.T) {
		for i, tt := range tests {
			if tt.code != 0 {
				assert.Equal(t, tt.code, infos[i].Code, "%s: %+v", tt.name, infos[i])
				assert.False(t, infos[i].ByPeer, "%s: %+v", tt.name, infos[i])
			}
		}
	})
}

func TestAdversarialDropMidHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// start opens a channel, sends {"action":"block"} and returns how to
		// end the connection (without waiting) and the channel's id.
		start func(t *testing.T, r *wsroute.Router, url string) (end func(), id string)
		want  wsroute.CloseInfo
	}{
		{"network drop", func(t *testing.T, _ *wsroute.Router, url string) (func(), string) {
			c, id := advDial(t, url)
			require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"block"}`)))
			return func() { _ = c.CloseNow() }, id
		}, wsroute.CloseInfo{Code: -1, Reason: "connection lost", ByPeer: true}},
		{"close frame", func(t *testing.T, _ *wsroute.Router, url string) (func(), string) {
			c, id := advDial(t, url)
			require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"block"}`)))
			return func() { go func() { _ = c.Close(websocket.StatusNormalClosure, "bye") }() }, id
		}, wsroute.CloseInfo{Code: 1000, Reason: "bye", ByPeer: true}},
		{"in-memory drop", func(t *testing.T, r *wsroute.Router, _ string) (func(), string) {
			c := advMustDial(t, r)
			require.NoError(t, c.SendText(`{"action":"block"}`))
			return func() { go c.Drop() }, c.Channel().ID()
		}, wsroute.CloseInfo{Code: -1, Reason: "connection lost", ByPeer: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, tr := advRouter(t, wsroute.Options{})
			url := advServe(t, r, tr)
			end, id := tt.start(t, r, url)
			advRecv(t, tr.started, "the handler to start")
			end()
			advRecv(t, tr.cancelled, "the handler's context to be cancelled")
			assert.Zero(t, tr.count(id), "OnDisconnect waits for the running handler")
			close(tr.release)
			assert.Equal(t, tt.want, tr.wait(t, id))
			tr.mu.Lock()
			assert.True(t, tr.returnedAtEnd[id], "OnDisconnect ran after the handler returned")
			tr.mu.Unlock()
			advServingNet(t, url)
			advServing(t, r)
		})
	}
}
