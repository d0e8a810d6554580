package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// upgradeRequest returns a WebSocket opening request for /ordered with a
// valid token, written by hand, and the client connection id it carries.
func (rn *runner) upgradeRequest(rng *rand.Rand, kind string) ([]byte, string) {
	var key [16]byte
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	cid := strconv.FormatInt(rn.cids.Add(1), 10)
	q := url.Values{"token": {"user-r" + strconv.Itoa(rng.IntN(1000))}, "kind": {kind}, "cid": {cid}}
	return fmt.Appendf(nil, "GET /ordered?%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", q.Encode(), rn.addr, base64.StdEncoding.EncodeToString(key[:])), cid
}

// rawOpen opens a WebSocket on /ordered by hand and returns the connection,
// its reader and client connection id; it reports failures (a 503 once
// Shutdown began is expected) and returns nil.
func (rn *runner) rawOpen(rng *rand.Rand, kind string) (*net.TCPConn, *bufio.Reader, string) {
	conn, err := rn.rawDial()
	if err != nil {
		rn.fail("%s: dial: %v", kind, err)
		return nil, nil, ""
	}
	req, cid := rn.upgradeRequest(rng, kind)
	br := bufio.NewReader(conn)
	if _, err := conn.Write(req); err != nil {
		rn.fail("%s: write handshake: %v", kind, err)
		cutTCP(rng, conn)
		return nil, nil, ""
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		rn.fail("%s: read handshake answer: %v", kind, err)
		cutTCP(rng, conn)
		return nil, nil, ""
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSwitchingProtocols {
		if !(rn.shuttingDown() && res.StatusCode == http.StatusServiceUnavailable) {
			rn.fail("%s: handshake answered %d", kind, res.StatusCode)
		}
		cutTCP(rng, conn)
		return nil, nil, ""
	}
	rn.st.countDial(kind)
	return conn, br, cid
}

// rawDial opens a TCP connection to the server, bounded in time.
func (rn *runner) rawDial() (*net.TCPConn, error) {
	conn, err := net.DialTimeout("tcp", rn.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn.(*net.TCPConn), nil
}

// cutTCP closes conn with a FIN, or with a RST (SO_LINGER 0) half the time.
func cutTCP(rng *rand.Rand, conn *net.TCPConn) {
	if rng.IntN(2) == 0 {
		_ = conn.SetLinger(0)
	}
	_ = conn.Close()
}

// maskedFrame encodes a final client frame (masked, as clients must).
func maskedFrame(rng *rand.Rand, opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	mask := rng.Uint32()
	b = binary.BigEndian.AppendUint32(b, mask)
	var key [4]byte
	binary.BigEndian.PutUint32(key[:], mask)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// readServerFrame reads one unmasked server frame and returns its payload.
func readServerFrame(br *bufio.Reader) ([]byte, error) {
	for {
		op, p, err := readServerFrameAny(br)
		if err != nil || (op != 0x9 && op != 0xA) { // skip the heartbeat's pings (and pongs)
			return p, err
		}
	}
}

// readServerFrameAny reads one frame of any kind and returns its opcode and payload.
func readServerFrameAny(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	op := h[0] & 0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return op, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return op, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 1<<20 {
		return op, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return op, p, err
}

// midFrame opens a WebSocket by hand, sometimes exchanges one whole frame,
// then sends a frame cut in its header or payload and hangs up (FIN or RST).
// The channel must end as "connection lost", OnDisconnect once.
func (rn *runner) midFrame(rng *rand.Rand) {
	conn, br, _ := rn.rawOpen(rng, "midframe")
	if conn == nil {
		return
	}
	defer cutTCP(rng, conn)
	if rng.IntN(2) == 0 {
		rn.countSent(false)
		if _, err := conn.Write(maskedFrame(rng, 0x1, []byte(`{"action":"echo","ref":1,"title":"raw","n":1}`))); err != nil {
			rn.fail("midframe: write frame: %v", err)
			return
		}
		p, err := readServerFrame(br)
		switch {
		case err != nil && !rn.shuttingDown():
			rn.fail("midframe: read reply: %v", err)
			return
		case err == nil && !bytes.Equal(p, []byte(`{"action":"echo","ref":1,"title":"raw","n":1}`)) && !rn.shuttingDown():
			rn.fail("midframe: reply %.100q", p)
		}
	}
	payload := []byte(`{"action":"echo","ref":2,"title":"` + strings.Repeat("y", 100+rng.IntN(2000)) + `","n":2}`)
	frame := maskedFrame(rng, 0x1, payload)
	rn.countSent(false)
	_, _ = conn.Write(frame[:1+rng.IntN(len(frame)-1)]) // cut somewhere after the first byte
}

// midHandshake hangs up during the opening: half-way through the request,
// or right after sending it (the Router may have upgraded by then).
func (rn *runner) midHandshake(rng *rand.Rand) {
	conn, err := rn.rawDial()
	if err != nil {
		rn.fail("midhandshake: dial: %v", err)
		return
	}
	req, _ := rn.upgradeRequest(rng, "midhandshake")
	if rng.IntN(2) == 0 {
		req = req[:1+rng.IntN(len(req)-1)]
	}
	_, _ = conn.Write(req)
	cutTCP(rng, conn)
}

// silent opens a WebSocket by hand and then neither reads nor writes, like
// a peer whose network died: the heartbeat must drop it ("heartbeat
// timeout", no close frame) within PingInterval + PongTimeout.
func (rn *runner) silent(rng *rand.Rand) {
	conn, _, cid := rn.rawOpen(rng, "silent")
	if conn == nil {
		return
	}
	defer cutTCP(rng, conn)
	wait := soakPingInterval + soakPongTimeout + 10*time.Second
	info, ok := rn.ledger.waitClose(cid, wait)
	switch {
	case !ok:
		rn.fail("silent: channel %s not dropped %v after its peer fell silent", cid, wait)
	case info.Code == -1 && info.Reason == "heartbeat timeout":
		rn.st.silentDrops.Add(1)
	case rn.shuttingDown():
	default:
		rn.fail("silent: channel closed with %d %q, want a drop as heartbeat timeout", info.Code, info.Reason)
	}
}
