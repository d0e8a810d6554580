package wsroutetest_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

func TestParseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  wsroutetest.ErrorFrame
		ok    bool
	}{
		{"every member", `{"action":"create","ref":7,"error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/title","message":"required"}],"retryAfterMs":1500}}`,
			wsroutetest.ErrorFrame{Route: "create", Ref: json.RawMessage(`7`), Code: "invalid", Message: "input is invalid",
				Details: []wsroute.Detail{{Pointer: "/title", Message: "required"}}, RetryAfter: 1500 * time.Millisecond}, true},
		{"string ref, byte for byte", `{"action":"a","ref":"\u0031","error":{"code":"x","message":"m"}}`,
			wsroutetest.ErrorFrame{Route: "a", Ref: json.RawMessage(`"\u0031"`), Code: "x", Message: "m"}, true},
		{"number ref keeps its literal", `{"ref":1.50,"error":{"code":"x","message":"m"}}`,
			wsroutetest.ErrorFrame{Ref: json.RawMessage(`1.50`), Code: "x", Message: "m"}, true},
		{"no route, no ref: an HTTP refusal's body", `{"error":{"code":"unauthenticated","message":"authentication required"}}`,
			wsroutetest.ErrorFrame{Code: "unauthenticated", Message: "authentication required"}, true},
		{"other members are ignored", `{"type":"a","id":1,"error":{"code":"x","message":"m","extra":true}}`,
			wsroutetest.ErrorFrame{Code: "x", Message: "m"}, true},
		{"a reply", `{"action":"create","ref":1,"todo":{}}`, wsroutetest.ErrorFrame{}, false},
		{"an event", `{"topic":"t","data":{"error":{"code":"x"}}}`, wsroutetest.ErrorFrame{}, false},
		{"not JSON", `not json`, wsroutetest.ErrorFrame{}, false},
		{"not an object", `"error"`, wsroutetest.ErrorFrame{}, false},
		{"null", `null`, wsroutetest.ErrorFrame{}, false},
		{"error is not an object", `{"error":"x"}`, wsroutetest.ErrorFrame{}, false},
		{"error is null", `{"error":null}`, wsroutetest.ErrorFrame{}, false},
		{"no code", `{"error":{"message":"m"}}`, wsroutetest.ErrorFrame{}, false},
		{"empty code", `{"error":{"code":"","message":"m"}}`, wsroutetest.ErrorFrame{}, false},
		{"code is not a string", `{"error":{"code":1,"message":"m"}}`, wsroutetest.ErrorFrame{}, false},
		{"keys match exactly", `{"error":{"Code":"x","message":"m"}}`, wsroutetest.ErrorFrame{}, false},
		{"message is not a string", `{"error":{"code":"x","message":1}}`, wsroutetest.ErrorFrame{}, false},
		{"route is not a string", `{"action":1,"error":{"code":"x"}}`, wsroutetest.ErrorFrame{}, false},
		{"ref is an object", `{"ref":{},"error":{"code":"x"}}`, wsroutetest.ErrorFrame{}, false},
		{"details is not an array", `{"error":{"code":"x","details":{}}}`, wsroutetest.ErrorFrame{}, false},
		{"retryAfterMs is a string", `{"error":{"code":"x","retryAfterMs":"5"}}`, wsroutetest.ErrorFrame{}, false},
		{"retryAfterMs is a fraction", `{"error":{"code":"x","retryAfterMs":1.5}}`, wsroutetest.ErrorFrame{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := wsroutetest.ParseError(json.RawMessage(tt.frame))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// ParseError reads what wsroute really sends.
func TestParseErrorFromTheServer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) { // fake time: retryAfterMs is exact
		k := newKit(t, func(ch *wsroute.ChannelRoute) {
			wsroute.Handle(ch, "typed", func(context.Context, *wsroute.Channel, struct {
				N int `json:"n"`
			}) (*struct{}, error) {
				return nil, nil
			}, wsroute.RouteConfig{Public: true})
			wsroute.Handle(ch, "limited", func(context.Context, *wsroute.Channel, struct{}) (*struct{}, error) {
				return nil, nil
			}, wsroute.RouteConfig{Public: true, RateLimit: wsroute.RouteRateLimit{Rate: 1, Burst: 1}})
		})
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		tests := []struct {
			send string
			want wsroutetest.ErrorFrame
		}{
			{`{"action":"nope","ref":1}`, wsroutetest.ErrorFrame{Route: "nope", Ref: json.RawMessage(`1`), Code: wsroute.CodeNotFound, Message: `no route "nope"`}},
			{`{"ref":"r"}`, wsroutetest.ErrorFrame{Ref: json.RawMessage(`"r"`), Code: wsroute.CodeNotFound, Message: `message names no route ("action" missing or not a string)`}},
			{`{"action":"limited","ref":2}`, wsroutetest.ErrorFrame{}}, // passes: the bucket holds one
			{`{"action":"limited","ref":3}`, wsroutetest.ErrorFrame{Route: "limited", Ref: json.RawMessage(`3`), Code: wsroute.CodeRateLimited, Message: "too many messages: slow down", RetryAfter: time.Second}},
		}
		for _, tt := range tests {
			require.NoError(t, c.SendText(tt.send))
			got, ok := wsroutetest.ParseError(readOne(t, c))
			assert.Equal(t, tt.want.Code != "", ok, tt.send)
			assert.Equal(t, tt.want, got, tt.send)
		}
		require.NoError(t, c.SendText(`{"action":"typed","ref":4,"n":"one"}`))
		e := wsroutetest.RequireError(t, readOne(t, c), wsroute.CodeInvalid)
		assert.Equal(t, "typed", e.Route)
		require.Len(t, e.Details, 1)
		assert.Equal(t, "/n", e.Details[0].Pointer)
	})
}

// readOne flushes and returns the one frame received.
func readOne(t *testing.T, c *wsroutetest.Conn) json.RawMessage {
	t.Helper()
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 1)
	return got[0]
}

func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		`{"action":"a","ref":1,"error":{"code":"x","message":"m","details":[{"pointer":"","message":"m"}],"retryAfterMs":5}}`,
		`{"error":{"code":"x"}}`, `{"error":{}}`, `{}`, `[]`, `"x"`, `{"ref":-0.5e3,"error":{"code":"\u0078"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := wsroutetest.ParseError(b)
		if !ok {
			assert.Equal(t, wsroutetest.ErrorFrame{}, e)
			return
		}
		assert.NotEmpty(t, e.Code)
		var v map[string]any
		require.NoError(t, json.Unmarshal(b, &v), "an error frame is a JSON object")
		if e.Ref != nil {
			assert.True(t, json.Valid(e.Ref))
		}
	})
}

func TestRequireError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		code  string
		fatal string
	}{
		{"the code", `{"action":"a","error":{"code":"forbidden","message":"no"}}`, "forbidden", ""},
		{"another code", `{"action":"a","error":{"code":"forbidden","message":"no"}}`, "invalid",
			`wsroutetest: error code "forbidden", want "invalid": {"action":"a","error":{"code":"forbidden","message":"no"}}`},
		{"not an error frame", `{"action":"a","ref":1}`, "invalid", `wsroutetest: not an error frame: {"action":"a","ref":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := &fakeTB{TB: t}
			var got wsroutetest.ErrorFrame
			returned := false
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = wsroutetest.RequireError(tb, json.RawMessage(tt.frame), tt.code)
				returned = true
			}()
			<-done
			assert.Equal(t, tt.fatal, tb.fatal)
			assert.Equal(t, tt.fatal == "", returned, "RequireError stops the test when it fails")
			if returned {
				assert.Equal(t, wsroutetest.ErrorFrame{Route: "a", Code: tt.code, Message: "no"}, got)
			}
		})
	}
}

func TestReadReply(t *testing.T) {
	t.Parallel()
	k := newKit(t, nil)
	tests := []struct {
		name  string
		send  []string
		ref   any
		reply string   // "" when none matches
		rest  []string // what Received returns afterwards
	}{
		{"the ack after pushes, which are kept", []string{`{"action":"push","ref":"p","n":2}`}, "p",
			`{"action":"push","ref":"p"}`, []string{`{"push":0}`, `{"push":1}`}},
		{"a string ref is not a number ref", []string{`{"action":"echo","ref":1}`, `{"action":"echo","ref":"1"}`}, "1",
			`{"action":"echo","ref":"1"}`, []string{`{"action":"echo","ref":1}`}},
		{"a number ref is not a string ref", []string{`{"action":"echo","ref":"1"}`, `{"action":"echo","ref":1}`}, 1,
			`{"action":"echo","ref":1}`, []string{`{"action":"echo","ref":"1"}`}},
		{"a string however escaped", []string{`{"action":"echo","ref":"\u0061<"}`}, "a<",
			`{"action":"echo","ref":"\u0061<"}`, []string{}},
		{"raw JSON for a number's literal", []string{`{"action":"echo","ref":1.50}`}, json.RawMessage(`1.50`),
			`{"action":"echo","ref":1.50}`, []string{}},
		{"a number's literal counts", []string{`{"action":"echo","ref":1.50}`}, 1.5,
			"", []string{`{"action":"echo","ref":1.50}`}},
		{"an error frame", []string{`{"action":"echo","ref":1}`, `{"action":"nope","ref":2}`}, 2,
			`{"action":"nope","ref":2,"error":{"code":"not_found","message":"no route \"nope\""}}`, []string{`{"action":"echo","ref":1}`}},
		{"the first of two", []string{`{"action":"echo","ref":1,"n":1}`, `{"action":"echo","ref":1,"n":2}`}, 1,
			`{"action":"echo","ref":1,"n":1}`, []string{`{"action":"echo","ref":1,"n":2}`}},
		{"none: what was read is kept", []string{`{"action":"echo","ref":1}`, `not json`}, 9,
			"", []string{`{"action":"echo","ref":1}`, `{"error":{"code":"bad_request","message":"frame is not valid JSON"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			for _, f := range tt.send {
				require.NoError(t, c.SendText(f))
			}
			require.NoError(t, c.Flush(t.Context()))
			got, err := c.ReadReply(cancelled(t), tt.ref)
			if tt.reply == "" {
				assert.ErrorIs(t, err, context.Canceled)
				assert.Nil(t, got)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.reply, string(got))
			}
			assert.Equal(t, tt.rest, received(t, c))
		})
	}
	t.Run("kept frames come first, then later ones, to every read", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"push","ref":1,"n":3}`))
		got, err := c.ReadReply(t.Context(), 1)
		require.NoError(t, err)
		assert.Equal(t, `{"action":"push","ref":1}`, string(got))
		require.NoError(t, c.SendText(`{"action":"echo","ref":2}`))
		f, err := c.Read(t.Context())
		require.NoError(t, err)
		assert.Equal(t, `{"push":0}`, string(f))
		var push struct{ Push int }
		require.NoError(t, c.ReadJSON(t.Context(), &push))
		assert.Equal(t, 1, push.Push)
		got, err = c.ReadReply(t.Context(), 2)
		require.NoError(t, err)
		assert.Equal(t, `{"action":"echo","ref":2}`, string(got), "found past a kept frame")
		assert.Equal(t, []string{`{"push":2}`}, received(t, c))
	})
	t.Run("waits for the reply", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			k := newKit(t, nil)
			c := wsroutetest.MustDial(t, k.r, "/c", nil)
			require.NoError(t, c.SendText(`{"action":"slow","ref":1}`))
			start := time.Now()
			got, err := c.ReadReply(t.Context(), 1)
			require.NoError(t, err)
			assert.Equal(t, `{"action":"slow","ref":1}`, string(got))
			assert.Equal(t, time.Second, time.Since(start), "returned when the handler replied, a (fake) second later")
			assert.Equal(t, []string{`"late"`}, received(t, c))
		})
	})
	t.Run("the channel's own RefKey", func(t *testing.T) {
		t.Parallel()
		r := newRouter(t, wsroute.Options{})
		ch := r.Channel("/c", wsroute.ChannelConfig{Public: true, RouteKey: "type", RefKey: "id"})
		wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
			return in, nil
		}, wsroute.RouteConfig{Public: true})
		c := wsroutetest.MustDial(t, r, "/c", nil)
		require.NoError(t, c.SendText(`{"type":"echo","ref":5}`))
		require.NoError(t, c.SendText(`{"type":"echo","id":5}`))
		got, err := c.ReadReply(t.Context(), 5)
		require.NoError(t, err)
		assert.Equal(t, `{"type":"echo","id":5}`, string(got))
		assert.Equal(t, []string{`{"type":"echo","ref":5}`}, received(t, c), `"ref" is an input field here`)
	})
	t.Run("a ref that is not a string or number is refused at once", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		for _, ref := range []any{true, nil, []int{1}, map[string]int{}} {
			_, err := c.ReadReply(t.Context(), ref)
			assert.ErrorContains(t, err, "is not a JSON string or number", "%v", ref)
		}
		_, err := c.ReadReply(t.Context(), func() {})
		var ue *json.UnsupportedTypeError
		assert.ErrorAs(t, err, &ue)
	})
	t.Run("the close error once the channel closed", func(t *testing.T) {
		t.Parallel()
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.SendText(`{"action":"kick","ref":1}`))
		_, err := c.ReadReply(t.Context(), 2)
		assert.Equal(t, websocket.StatusCode(4000), websocket.CloseStatus(err), "%v", err)
		got, err := c.ReadReply(t.Context(), 1)
		require.NoError(t, err, "frames read before the close are kept")
		assert.Equal(t, `{"action":"kick","ref":1}`, string(got))
		f, err := c.Read(t.Context())
		require.NoError(t, err)
		assert.Equal(t, `"kicked soon"`, string(f))
	})
}

func TestReadEvent(t *testing.T) {
	t.Parallel()
	// events dials a kit of its own, subscribes the channel to "a" and "b",
	// publishes a:1, b:2 and a:3, and has the server reply to an echo in
	// between.
	events := func(t *testing.T) *wsroutetest.Conn {
		t.Helper()
		k := newKit(t, nil)
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.Channel().Subscribe("a"))
		require.NoError(t, c.Channel().Subscribe("b"))
		require.NoError(t, k.r.Publish(t.Context(), "a", 1, wsroute.PublishOptions{}))
		require.NoError(t, c.SendText(`{"action":"echo","ref":1,"topic":"b","data":0}`)) // the reply's keys come sorted
		require.NoError(t, c.Flush(t.Context()))
		require.NoError(t, k.r.Publish(t.Context(), "b", 2, wsroute.PublishOptions{}))
		require.NoError(t, k.r.Publish(t.Context(), "a", 3, wsroute.PublishOptions{}))
		require.NoError(t, c.Flush(t.Context())) // the events are written, not only queued
		return c
	}
	tests := []struct {
		name  string
		topic string
		data  string // "" when none matches
		rest  []string
	}{
		{"the first of its topic", "a", `1`, []string{`{"action":"echo","ref":1,"data":0,"topic":"b"}`, `{"topic":"b","data":2}`, `{"topic":"a","data":3}`}},
		{"past other frames, which a reply is", "b", `2`, []string{`{"topic":"a","data":1}`, `{"action":"echo","ref":1,"data":0,"topic":"b"}`, `{"topic":"a","data":3}`}},
		{"none: what was read is kept", "c", "", []string{`{"topic":"a","data":1}`, `{"action":"echo","ref":1,"data":0,"topic":"b"}`, `{"topic":"b","data":2}`, `{"topic":"a","data":3}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := events(t)
			got, err := c.ReadEvent(cancelled(t), tt.topic)
			if tt.data == "" {
				assert.ErrorIs(t, err, context.Canceled)
				assert.Nil(t, got)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.data, string(got))
			}
			assert.Equal(t, tt.rest, received(t, c))
		})
	}
	t.Run("in turn, and with ReadReply", func(t *testing.T) {
		t.Parallel()
		c := events(t)
		for _, want := range []string{`1`, `3`} {
			got, err := c.ReadEvent(t.Context(), "a")
			require.NoError(t, err)
			assert.Equal(t, want, string(got))
		}
		got, err := c.ReadReply(t.Context(), 1)
		require.NoError(t, err)
		assert.Equal(t, `{"action":"echo","ref":1,"data":0,"topic":"b"}`, string(got))
		got, err = c.ReadEvent(t.Context(), "b")
		require.NoError(t, err)
		assert.Equal(t, `2`, string(got))
		assert.Empty(t, received(t, c))
	})
	t.Run("waits for the event", func(t *testing.T) {
		t.Parallel()
		k := newKit(t, nil)
		c := wsroutetest.MustDial(t, k.r, "/c", nil)
		require.NoError(t, c.Channel().Subscribe("later"))
		published := make(chan error, 1)
		go func() {
			published <- k.r.Publish(context.Background(), "later", map[string]string{"x": "y"}, wsroute.PublishOptions{})
		}()
		got, err := c.ReadEvent(t.Context(), "later")
		require.NoError(t, err)
		assert.JSONEq(t, `{"x":"y"}`, string(got))
		require.NoError(t, <-published)
	})
}
