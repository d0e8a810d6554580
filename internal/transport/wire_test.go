package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tcpPair returns a connected loopback TCP pair: the server end wrapped in a
// Wire, and the client end.
func tcpPair(t *testing.T) (*Wire, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server := <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { server.Close(); client.Close() })
	w := NewWire(server)
	require.NotNil(t, w.raw, "a TCP connection writes without blocking")
	return w, client
}

// readFrame reads one unmasked frame: its first byte and payload.
func readFrame(t *testing.T, r io.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	_, err := io.ReadFull(r, h[:])
	require.NoError(t, err)
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(r, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(r, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	require.NoError(t, err)
	require.Zero(t, h[1]&0x80, "server frames are not masked")
	p := make([]byte, n)
	_, err = io.ReadFull(r, p)
	require.NoError(t, err)
	return h[0], p
}

func TestWireSendEncodesFrames(t *testing.T) {
	w, client := tcpPair(t)
	frames := []Frame{
		{Data: []byte(`{"a":1}`)},
		{Data: bytes.Repeat([]byte("x"), 125)},
		{Data: bytes.Repeat([]byte("y"), 126), Binary: true},
		{Data: bytes.Repeat([]byte("z"), 70000)},
		{Data: nil},
	}
	held, err := w.Send(frames)
	require.NoError(t, err)
	if held > 0 { // the socket may not take 70 KB at once
		require.NoError(t, w.Flush())
	}
	require.Nil(t, w.buf, "the buffer goes back to the pool once written")
	r := bufio.NewReader(client)
	for _, f := range frames {
		b0, p := readFrame(t, r)
		want := byte(0x81)
		if f.Binary {
			want = 0x82
		}
		require.Equal(t, want, b0)
		require.Equal(t, len(f.Data), len(p))
		require.True(t, bytes.Equal(f.Data, p))
	}
}

// TestWireHalfFrameOrdersControlFrames fills the peer's socket so that a
// Send writes part of a frame, then checks that a control frame written by
// coder/websocket meanwhile (Write) reaches the peer only after the whole
// frame.
func TestWireHalfFrameOrdersControlFrames(t *testing.T) {
	w, client := tcpPair(t)
	big := bytes.Repeat([]byte("b"), 8<<20) // more than loopback socket buffers take
	held, err := w.Send([]Frame{{Data: big}})
	require.NoError(t, err)
	require.Positive(t, held, "8 MiB cannot all be written at once to a peer that does not read")
	require.True(t, w.half, "a frame was half written")

	pong := []byte{0x8a, 0x01, 'p'}
	wrote := make(chan error, 1)
	go func() { _, err := w.Write(pong); wrote <- err }()
	select {
	case <-wrote:
		t.Fatal("a control frame was written in the middle of a data frame")
	case <-time.After(50 * time.Millisecond):
	}
	flushed := make(chan error, 1)
	go func() { flushed <- w.Flush() }()

	r := bufio.NewReader(client)
	b0, p := readFrame(t, r)
	require.Equal(t, byte(0x81), b0)
	require.Equal(t, len(big), len(p))
	b0, p = readFrame(t, r)
	require.Equal(t, byte(0x8a), b0)
	require.Equal(t, []byte("p"), p)
	require.NoError(t, <-flushed)
	require.NoError(t, <-wrote)
}

func TestWireNoDataAfterCloseFrame(t *testing.T) {
	w, client := tcpPair(t)
	_, err := w.Write([]byte{0x88, 0x02, 0x03, 0xe8}) // close 1000
	require.NoError(t, err)
	_, err = w.Send([]Frame{{Data: []byte("late")}})
	require.True(t, errors.Is(err, net.ErrClosed), "got %v", err)
	require.NoError(t, w.Flush())
	w.Conn.Close()
	rest, _ := io.ReadAll(client)
	require.Equal(t, []byte{0x88, 0x02, 0x03, 0xe8}, rest)
}

func TestWireHijackSmall(t *testing.T) {
	w, _ := tcpPair(t)
	brw := bufio.NewReadWriter(bufio.NewReader(w.Conn), bufio.NewWriter(w.Conn))
	small, err := w.HijackSmall(brw)
	require.NoError(t, err)
	require.Same(t, brw.Reader, small.Reader)
	require.Equal(t, 256, small.Writer.Size())
}

// TestWireWithoutRawConnHolds: a connection without non-blocking writes
// (net.Pipe) holds every frame for Flush.
func TestWireWithoutRawConnHolds(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := NewWire(a)
	held, err := w.Send([]Frame{{Data: []byte("hi")}})
	require.NoError(t, err)
	require.Equal(t, 4, held)
	go func() { _ = w.Flush() }()
	buf := make([]byte, 4)
	_, err = io.ReadFull(b, buf)
	require.NoError(t, err)
	require.Equal(t, []byte{0x81, 2, 'h', 'i'}, buf)
}

// A frame left half written by a connection that is then dropped must not
// hold coder/websocket's writes (a ping, say) forever: Discard lets go.
func TestWireDiscardReleasesHalfFrame(t *testing.T) {
	w, _ := tcpPair(t)
	held, err := w.Send([]Frame{{Data: bytes.Repeat([]byte("b"), 8<<20)}})
	require.NoError(t, err)
	require.Positive(t, held)
	require.True(t, w.half)
	w.Conn.Close() // the drop
	w.Discard()
	require.Nil(t, w.buf)
	done := make(chan struct{})
	go func() {
		_, _ = w.Write([]byte{0x89, 0x00}) // a ping: fails on the closed connection, but returns
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a control frame write waited for a half frame that was discarded")
	}
}
