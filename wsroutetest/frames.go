package wsroutetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wsroute/wsroute"
)

// ErrorFrame is a decoded wsroute error frame,
//
//	{"action":..,"ref":..,"error":{"code":..,"message":..,"details":[..],"retryAfterMs":..}}
//
// or the JSON body of a refused opening, which has the "error" member only.
type ErrorFrame struct {
	// Route is the route key's value the error answers ("action" is the
	// key), "" when the frame has none: the request named no route, or the
	// frame is an HTTP body.
	Route string
	// Ref is the ref ("ref" is the key) as raw JSON, byte for byte as
	// echoed, or nil when the frame has none.
	Ref json.RawMessage
	// Code is the error code: one of wsroute's Code constants or an
	// application's own.
	Code string
	// Message is the human-readable message.
	Message string
	// Details are the per-field failures of an invalid input.
	Details []wsroute.Detail
	// RetryAfter is "retryAfterMs" as a duration (0 when absent): when a
	// rate_limited client may try again.
	RetryAfter time.Duration
}

// ParseError decodes frame as an error frame and reports whether it is one:
// a JSON object whose "error" member is an object with a non-empty string
// "code". Keys match exactly, as wsroute writes them; other members are
// ignored. Route and Ref are read from the default keys "action" and "ref":
// on a channel with another ChannelConfig.RouteKey or RefKey they stay
// empty (the rest is decoded all the same).
//
// A frame whose members have the wrong JSON types (a numeric "action", a
// string "retryAfterMs") is not an error frame: ParseError reports false.
func ParseError(frame json.RawMessage) (ErrorFrame, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(frame, &top) != nil || top == nil {
		return ErrorFrame{}, false
	}
	var inner map[string]json.RawMessage
	if raw, ok := top["error"]; !ok || json.Unmarshal(raw, &inner) != nil || inner == nil {
		return ErrorFrame{}, false
	}
	var e ErrorFrame
	var retryMs int64
	ok := decodeMember(top, "action", isString, &e.Route) &&
		decodeMember(inner, "code", isString, &e.Code) && e.Code != "" &&
		decodeMember(inner, "message", isString, &e.Message) &&
		decodeMember(inner, "details", isArray, &e.Details) &&
		decodeMember(inner, "retryAfterMs", isNumber, &retryMs)
	if !ok {
		return ErrorFrame{}, false
	}
	if ref, found := top["ref"]; found {
		if !isString(ref) && !isNumber(ref) {
			return ErrorFrame{}, false
		}
		e.Ref = ref
	}
	e.RetryAfter = time.Duration(retryMs) * time.Millisecond
	return e, true
}

// decodeMember decodes obj[key] into v if present, and reports whether it
// was absent, or of the JSON kind it accepts and decoded.
func decodeMember(obj map[string]json.RawMessage, key string, is func([]byte) bool, v any) bool {
	raw, ok := obj[key]
	if !ok {
		return true
	}
	return is(raw) && json.Unmarshal(raw, v) == nil
}

func isString(raw []byte) bool { return len(raw) > 0 && raw[0] == '"' }
func isArray(raw []byte) bool  { return len(raw) > 0 && raw[0] == '[' }
func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// RequireError decodes frame as an error frame with the given code and
// returns it; otherwise it fails t at once (t.Fatalf), quoting the frame.
//
//	f, err := c.ReadReply(ctx, 1)
//	require.NoError(t, err)
//	e := wsroutetest.RequireError(t, f, wsroute.CodeInvalid)
//	assert.Equal(t, "/title", e.Details[0].Pointer)
func RequireError(t testing.TB, frame json.RawMessage, code string) ErrorFrame {
	t.Helper()
	e, ok := ParseError(frame)
	switch {
	case !ok:
		t.Fatalf("wsroutetest: not an error frame: %s", frame)
	case e.Code != code:
		t.Fatalf("wsroutetest: error code %q, want %q: %s", e.Code, code, frame)
	}
	return e
}

// ReadReply returns the reply or the error frame for the request whose ref
// is ref, waiting for it: the first frame, in order, that is a JSON object
// whose ref member (the channel's ChannelConfig.RefKey, "ref" by default)
// equals ref. The frames read before it are kept, in order, for the next
// Read, ReadJSON, ReadReply, ReadEvent or Received. Like Read, it returns
// ctx's error, or the close error once the channel is closed; what it read
// meanwhile is kept.
//
// ref is marshalled to JSON — 7, "a", or a json.RawMessage for exact bytes —
// and compared as a JSON value: a string with a string of the same value
// (however escaped), a number with a number of the same literal (wsroute
// echoes refs byte for byte: 1.0 is not 1). So 1 and "1" differ, as they do
// on the wire. A ref that is neither a string nor a number is refused at
// once: wsroute echoes no other.
func (c *Conn) ReadReply(ctx context.Context, ref any) (json.RawMessage, error) {
	b, err := json.Marshal(ref)
	if err != nil {
		return nil, fmt.Errorf("wsroutetest: read reply: encode ref: %w", err)
	}
	want, ok := refValue(b)
	if !ok {
		return nil, fmt.Errorf("wsroutetest: read reply: ref %s is not a JSON string or number", b)
	}
	key := c.hook.RefKey
	return c.readMatch(ctx, func(f json.RawMessage) bool {
		var obj map[string]json.RawMessage
		if json.Unmarshal(f, &obj) != nil {
			return false
		}
		got, ok := refValue(obj[key])
		return ok && got == want
	})
}

// refValue returns a JSON string or number as a comparable value: the
// string's text, or the number's literal, or false for anything else.
func refValue(raw []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	switch v.(type) {
	case string, json.Number:
		return v, true
	}
	return nil, false
}

// ReadEvent returns the data of the next topic event of topic, waiting for
// it: the first frame, in order, that is exactly {"topic":topic,"data":..},
// as Router.Publish sends (a reply that happens to have "topic" and "data"
// members also has the route key, so it is not one). The frames read before
// it are kept, in order, for the next reads, as with ReadReply.
func (c *Conn) ReadEvent(ctx context.Context, topic string) (json.RawMessage, error) {
	var data json.RawMessage
	_, err := c.readMatch(ctx, func(f json.RawMessage) bool {
		var obj map[string]json.RawMessage
		if json.Unmarshal(f, &obj) != nil || len(obj) != 2 {
			return false
		}
		var name string
		raw, ok := obj["data"]
		if !ok || !isString(obj["topic"]) || json.Unmarshal(obj["topic"], &name) != nil || name != topic {
			return false
		}
		data = raw
		return true
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// readMatch returns the first frame, kept or read, that match accepts,
// keeping the others in order.
func (c *Conn) readMatch(ctx context.Context, match func(json.RawMessage) bool) (json.RawMessage, error) {
	for i, f := range c.kept {
		if match(f) {
			c.kept = slices.Delete(c.kept, i, i+1)
			return f, nil
		}
	}
	for {
		_, b, err := c.client.Read(ctx)
		if err != nil {
			return nil, err
		}
		if match(b) {
			return b, nil
		}
		c.kept = append(c.kept, b)
	}
}
