package apigw

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// coder/websocket reads whole messages and does not show their frames, so
// the 32 KB frame quota is enforced by watching the frame headers of the
// client's byte stream on the hijacked connection.

// frameWatch is an http.ResponseWriter whose Hijack returns a connection that
// scans the frames the client sends.
type frameWatch struct {
	http.ResponseWriter
	scan *frameScanner
}

func (fw frameWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(fw.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	fc := &scanConn{Conn: nc, r: io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), nc), scan: fw.scan}
	return fc, bufio.NewReadWriter(bufio.NewReader(fc), brw.Writer), nil
}

// scanConn passes every byte read through the scanner.
type scanConn struct {
	net.Conn
	r    io.Reader
	scan *frameScanner
}

func (c *scanConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.scan.feed(p[:n])
	return n, err
}

// frameScanner follows RFC 6455 frame headers in a byte stream. feed is
// called by the one goroutine reading the connection; oversize is read by
// others.
type frameScanner struct {
	max       uint64
	hdr       [14]byte
	hn, need  int
	remaining uint64
	oversize  atomic.Bool // a data frame's payload exceeded max
}

func (s *frameScanner) feed(p []byte) {
	for len(p) > 0 {
		if s.remaining > 0 {
			k := min(uint64(len(p)), s.remaining)
			p = p[k:]
			s.remaining -= k
			continue
		}
		s.hdr[s.hn] = p[0]
		s.hn++
		p = p[1:]
		if s.hn == 2 {
			s.need = 2
			switch s.hdr[1] & 0x7f {
			case 126:
				s.need += 2
			case 127:
				s.need += 8
			}
			if s.hdr[1]&0x80 != 0 { // masked, as every client frame must be
				s.need += 4
			}
		}
		if s.hn < 2 || s.hn < s.need {
			continue
		}
		var n uint64
		switch l := s.hdr[1] & 0x7f; l {
		case 126:
			n = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
		case 127:
			n = binary.BigEndian.Uint64(s.hdr[2:10])
		default:
			n = uint64(l)
		}
		if s.hdr[0]&0x08 == 0 && n > s.max { // opcodes 0–7: data and continuation frames
			s.oversize.Store(true)
		}
		s.remaining, s.hn, s.need = n, 0, 0
	}
}
