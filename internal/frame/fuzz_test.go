package frame

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trimJSON removes JSON whitespace (only space, \t, \n, \r) around b.
func trimJSON(b []byte) []byte {
	b = b[skipWS(b, 0):]
	return b[:trimWSRight(b)]
}

// kindOf is the kind of a valid JSON value, from its first byte.
func kindOf(raw []byte) Kind {
	raw = trimJSON(raw)
	switch raw[0] {
	case 'n':
		return Null
	case 't', 'f':
		return Bool
	case '"':
		return String
	case '[':
		return Array
	case '{':
		return Object
	}
	return Number
}

// decode decodes one JSON value with encoding/json, keeping numbers as text.
func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// decodeMap decodes a JSON object that must be valid.
func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	v, err := decode(b)
	require.NoError(t, err, "decoding %q", b)
	m, ok := v.(map[string]any)
	require.True(t, ok, "not an object: %q", b)
	return m
}

// wantReply is what AppendReply's output must decode to, computed with
// encoding/json: out's members (or its value as "result") plus route and ref.
func wantReply(t testing.TB, routeKey string, route []byte, refKey string, ref []byte, out []byte) map[string]any {
	t.Helper()
	want := map[string]any{}
	if v, err := decode(out); err == nil && v != nil {
		if m, ok := v.(map[string]any); ok {
			want = m
			delete(want, routeKey)
			delete(want, refKey)
		} else {
			want["result"] = v
		}
	}
	if route != nil {
		v, err := decode(route)
		require.NoError(t, err)
		want[routeKey] = v
	}
	if ref != nil {
		v, err := decode(ref)
		require.NoError(t, err)
		want[refKey] = v
	}
	return want
}

// refFields finds the top-level keys of a valid JSON object with
// encoding/json's Decoder token stream.
func refFields(t testing.TB, data []byte, keys ...string) []Field {
	t.Helper()
	fields := make([]Field, len(keys))
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		key, ok := tok.(string)
		require.True(t, ok, "key is not a string: %v", tok)
		var raw json.RawMessage
		require.NoError(t, dec.Decode(&raw))
		raw = trimJSON(raw)
		for i, k := range keys {
			if key == k {
				fields[i].set(kindOf(raw), raw)
			}
		}
	}
	tok, err = dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('}'), tok)
	return fields
}

var parseSeeds = []string{
	benchFrame,
	`{"action":"create","ref":"7","title":"x"}`,
	`{"action":"a","\u0061ction":"b","ref":1,"ref":2}`,
	`{"data":{"action":"x"},"list":[{"ref":1}],"action":[1,{"a":null}]}`,
	" \t{ \"action\" :\n true , \"ref\" : -0.5e-3 }\r\n",
	`{"\ud83d\ude00":1,"\ud83d":2,"é":"\u00e9"}`,
	"{\"\xff\":\"\xfe\",\"action\":\"\\ud800\\u0041\"}",
	`[1,"a",{"b":[]},null,true,false]`,
	`[1.5,-0.0e+1,2E-3,0,-12]`, `{"ref":1.25e+10}`, `1.e5`, `[-]`, `[1e]`,
	`"str\n\u1234"`, `-0`, `1e400`, `null`, `01`, `1.`, `.5`, `+1`, `{"a":1,}`, `[`, `"\'"`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70),
}

func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s), "action")
	}
	f.Add([]byte(`{"\u00e9":1}`), "é")
	f.Add([]byte(`{"\ud83d":1}`), "\uFFFD")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		fr := Parse(data, key, "ref")
		valid := json.Valid(data)
		require.Equal(t, valid, fr.Kind != Invalid, "validity of %q", data)
		if !valid {
			assert.Equal(t, Frame{}, fr)
			return
		}
		assert.Equal(t, kindOf(data), fr.Kind)
		if fr.Kind != Object {
			assert.Equal(t, Field{}, fr.Route)
			assert.Equal(t, Field{}, fr.Ref)
			return
		}
		want := refFields(t, data, key, "ref")
		assert.Equal(t, want[0], fr.Route, "route key %q", key)
		assert.Equal(t, want[1], fr.Ref, "ref key")
		if fr.Route.Kind == String {
			s, ok := Unquote(fr.Route.Raw)
			var ref string
			require.NoError(t, json.Unmarshal(fr.Route.Raw, &ref))
			assert.True(t, ok, "Unquote failed")
			assert.Equal(t, ref, s, "Unquote")
		}
	})
}

func FuzzAppendReply(f *testing.F) {
	f.Add([]byte(`{"id":1,"action":"x","ref":2,"a":[1, 2]}`), []byte(`"create"`), []byte(`"7"`), false)
	f.Add([]byte(`{"id":1}`), []byte(`"create"`), []byte(`7`), true)
	f.Add([]byte(` { } `), []byte(`{"a":1}`), []byte(``), true)
	f.Add([]byte(`null`), []byte(``), []byte(`"7"`), false)
	f.Add([]byte(`[1,2]`), []byte(`"x"`), []byte(`"7"`), false)
	f.Add([]byte(`"s"`), []byte(`"x"`), []byte(`"7"`), true)
	f.Add([]byte(`{"\u0061ction":1,"r\u0065f":2,"b":3}`), []byte(`"x"`), []byte(``), false)
	f.Add([]byte(`{"a":1,}`), []byte(`"x"`), []byte(`1`), false)
	f.Add([]byte(``), []byte(``), []byte(``), false)
	f.Fuzz(func(t *testing.T, out, route, ref []byte, trusted bool) {
		if !json.Valid(route) {
			route = nil
		}
		if !json.Valid(ref) {
			ref = nil
		}
		v, err := decode(out)
		if m, isObj := v.(map[string]any); err != nil || isObj && hasKey(m, "action", "ref") {
			trusted = false // the caller's guarantee does not hold
		}
		got := AppendReply([]byte("p"), "action", route, "ref", ref, out, trusted)
		require.Equal(t, byte('p'), got[0])
		got = got[1:]
		require.True(t, json.Valid(got), "invalid reply %q", got)
		assert.Equal(t, wantReply(t, "action", route, "ref", ref, out), decodeMap(t, got))

		w := AppendWithout([]byte("p"), out, "action", "ref")
		if _, isObj := v.(map[string]any); err != nil || !isObj {
			assert.Equal(t, "p", string(w))
			return
		}
		w = w[1:]
		require.True(t, json.Valid(w), "invalid AppendWithout output %q", w)
		assert.Equal(t, wantReply(t, "action", nil, "ref", nil, out), decodeMap(t, w))
	})
}

func hasKey(m map[string]any, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}
