package apigw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"
)

// signedRequest builds a POST to the emulator signed with creds.
func signedRequest(t *testing.T, hs *harness, id string, body []byte, accessKey, secret string, at time.Time) *http.Request {
	t.Helper()
	url := hs.srv.URL + "/local/@connections/" + escapeSegment(id)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Custom", "signed")
	sum := sha256.Sum256(body)
	creds := testCreds
	creds.AccessKeyID, creds.SecretAccessKey = accessKey, secret
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), SigningService, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (int, string, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), string(b)
}

func TestSigV4Verification(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, id := hs.dial("", nil)
	now := time.Now()
	good := func() *http.Request {
		return signedRequest(t, hs, id, []byte("hello"), testCreds.AccessKeyID, testCreds.SecretAccessKey, now)
	}

	if st, typ, body := do(t, good()); st != 200 {
		t.Fatalf("good signature: %d %s %s", st, typ, body)
	}
	if _, got := read(t, ws); got != "hello" {
		t.Fatalf("client got %q", got)
	}

	cases := map[string]struct {
		req  func() *http.Request
		want string
	}{
		"tampered body": {func() *http.Request {
			r := good()
			r.Body = io.NopCloser(strings.NewReader("hellO"))
			return r
		}, "InvalidSignatureException"},
		"tampered signed header": {func() *http.Request {
			r := good()
			r.Header.Set("X-Custom", "changed")
			return r
		}, "InvalidSignatureException"},
		"tampered path": {func() *http.Request {
			r := good()
			r.URL.Path, r.URL.RawPath = "/local/@connections/AAAAAAAAAAAAAAA=", ""
			return r
		}, "InvalidSignatureException"},
		"wrong secret": {func() *http.Request {
			return signedRequest(t, hs, id, []byte("hello"), testCreds.AccessKeyID, "other", now)
		}, "InvalidSignatureException"},
		"unknown key": {func() *http.Request {
			return signedRequest(t, hs, id, []byte("hello"), "AKIDOTHER", testCreds.SecretAccessKey, now)
		}, "UnrecognizedClientException"},
		"expired": {func() *http.Request {
			return signedRequest(t, hs, id, []byte("hello"), testCreds.AccessKeyID, testCreds.SecretAccessKey, now.Add(-20*time.Minute))
		}, "InvalidSignatureException"},
		"unsigned": {func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, hs.srv.URL+"/local/@connections/"+escapeSegment(id), strings.NewReader("x"))
			return r
		}, "MissingAuthenticationTokenException"},
	}
	for name, c := range cases {
		if st, typ, _ := do(t, c.req()); st != 403 || typ != c.want {
			t.Errorf("%s: got %d %s, want 403 %s", name, st, typ, c.want)
		}
	}
	// None of the refused requests reached the client.
	if err := hs.mgmt.Post(context.Background(), id, []byte("last")); err != nil {
		t.Fatal(err)
	}
	if _, got := read(t, ws); got != "last" {
		t.Fatalf("a refused post reached the client: %q", got)
	}
}

func TestWithoutCredentialsOnlyTheHeaderIsRequired(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, func(o *EmulatorOptions) { o.Credentials = nil })
	ws, id := hs.dial("", nil)
	req := signedRequest(t, hs, id, []byte("any key"), "AKIDANY", "any", time.Now())
	if st, typ, body := do(t, req); st != 200 {
		t.Fatalf("%d %s %s", st, typ, body)
	}
	if _, got := read(t, ws); got != "any key" {
		t.Fatalf("client got %q", got)
	}
	r, _ := http.NewRequest(http.MethodGet, hs.srv.URL+"/local/@connections/"+escapeSegment(id), nil)
	if st, typ, _ := do(t, r); st != 403 || typ != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned: %d %s", st, typ)
	}
}

func TestClientErrorsAndEndpointForms(t *testing.T) {
	srv := http.NewServeMux()
	var gotURI string
	srv.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		gotURI = r.RequestURI
		w.Header().Set("X-Amzn-Errortype", "LimitExceededException:http://internal.amazon.com/coral/com.amazonaws.apigateway/")
		w.Header().Set("X-Amzn-Requestid", "req-1")
		w.WriteHeader(429)
		_, _ = io.WriteString(w, `{"message":"slow down"}`)
	})
	ts := newLoopbackServer(t, srv)
	m, err := NewManagementClient(ManagementOptions{Endpoint: "ws" + strings.TrimPrefix(ts, "http") + "/prod/", Credentials: StaticCredentials("a", "b", "tok")})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Post(context.Background(), "R0oXAdfD0kwCH6w=", []byte("x"))
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Type != "LimitExceededException" || ae.Message != "slow down" || ae.RequestID != "req-1" || errors.Is(err, ErrGone) {
		t.Fatalf("error: %#v", err)
	}
	if gotURI != "/prod/@connections/R0oXAdfD0kwCH6w%3D" {
		t.Fatalf("request URI %q", gotURI)
	}
	if r := regionFromHost("aabbccddee.execute-api.eu-west-3.amazonaws.com"); r != "eu-west-3" {
		t.Fatalf("region %q", r)
	}
	for _, bad := range []string{"", "ftp://x/y", "http://h/s?q=1"} {
		if _, err := NewManagementClient(ManagementOptions{Endpoint: bad, Credentials: StaticCredentials("a", "b", "")}); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
}

func TestSessionTokenIsSignedAndAccepted(t *testing.T) {
	h := newRecorder()
	hs := start(t, h, nil)
	ws, id := hs.dial("", nil)
	m, err := NewManagementClient(ManagementOptions{Endpoint: hs.srv.URL + "/local", Credentials: StaticCredentials(testCreds.AccessKeyID, testCreds.SecretAccessKey, "session-token")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Post(context.Background(), id, []byte("with token")); err != nil {
		t.Fatal(err)
	}
	if _, got := read(t, ws); got != "with token" {
		t.Fatalf("client got %q", got)
	}
	_ = ws.Close(websocket.StatusNormalClosure, "")
}

func TestFrameScanner(t *testing.T) {
	s := &frameScanner{max: 10}
	frame := func(op byte, n int) []byte {
		b := []byte{0x80 | op}
		switch {
		case n < 126:
			b = append(b, 0x80|byte(n))
		case n < 1<<16:
			b = append(b, 0x80|126, byte(n>>8), byte(n))
		}
		b = append(b, 1, 2, 3, 4) // mask key
		return append(b, make([]byte, n)...)
	}
	var stream []byte
	stream = append(stream, frame(1, 10)...)
	stream = append(stream, frame(9, 100)...) // a control frame is not limited here
	for _, b := range stream {                // byte by byte: headers split across reads
		s.feed([]byte{b})
	}
	if s.oversize.Load() {
		t.Fatal("flagged frames within the limit")
	}
	s.feed(frame(0, 300))
	if !s.oversize.Load() {
		t.Fatal("missed a 300-byte continuation frame")
	}
}
