package frame

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendWithout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		keys []string
		want string
	}{
		{"remove route and ref", `{"action":"a","ref":1,"title":"x"}`, []string{"action", "ref"}, `{"title":"x"}`},
		{"nothing to remove", `{"a":1,"b":[1, 2]}`, []string{"action"}, `{"a":1,"b":[1, 2]}`},
		{"no keys compacts", " { \"a\" : 1 ,\n\"b\":{ \"c\" : 2 } } ", nil, `{"a":1,"b":{ "c" : 2 }}`},
		{"remove everything", `{"action":"a","ref":1}`, []string{"action", "ref"}, `{}`},
		{"empty object", `{}`, []string{"action"}, `{}`},
		{"empty object with space", " {\n} ", []string{"action"}, `{}`},
		{"remove first", `{"action":1,"a":2,"b":3}`, []string{"action"}, `{"a":2,"b":3}`},
		{"remove middle", `{"a":1,"action":2,"b":3}`, []string{"action"}, `{"a":1,"b":3}`},
		{"remove last", `{"a":1,"b":2,"action":3}`, []string{"action"}, `{"a":1,"b":2}`},
		{"remove duplicates", `{"action":1,"a":2,"action":3}`, []string{"action"}, `{"a":2}`},
		{"escaped key", `{"\u0061ction":1,"a":2}`, []string{"action"}, `{"a":2}`},
		{"keeps escaped raw key", `{"\u0062":1,"action":2}`, []string{"action"}, `{"\u0062":1}`},
		{"nested untouched", `{"data":{"action":1},"action":2}`, []string{"action"}, `{"data":{"action":1}}`},
		{"case sensitive", `{"Action":1}`, []string{"action"}, `{"Action":1}`},
		{"unicode key", `{"é":1,"e":2}`, []string{"é"}, `{"e":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := AppendWithout([]byte("prefix:"), []byte(tt.in), tt.keys...)
			require.Equal(t, "prefix:"+tt.want, string(got))
			got = got[len("prefix:"):]
			require.True(t, json.Valid(got), "invalid output")
			want := decodeMap(t, []byte(tt.in))
			for _, k := range tt.keys {
				delete(want, k)
			}
			assert.Equal(t, want, decodeMap(t, got))
		})
	}
}

func TestAppendWithoutInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `null`, `[]`, `"{}"`, `{`, `{"a":1,}`, `{"a":1}x`, `{"a":1} {}`, `{"action":}`, ` {"a":1}]`} {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, "prefix", string(AppendWithout([]byte("prefix"), []byte(in), "action")))
		})
	}
}

func TestAppendReply(t *testing.T) {
	t.Parallel()
	rt, rf := []byte(`"create"`), []byte(`"7"`)
	tests := []struct {
		name       string
		route, ref []byte
		out        string
		trusted    bool
		want       string
	}{
		{"object", rt, rf, `{"id":1,"ok":true}`, false, `{"action":"create","ref":"7","id":1,"ok":true}`},
		{"object trusted", rt, rf, `{"id":1,"ok":true}`, true, `{"action":"create","ref":"7","id":1,"ok":true}`},
		{"object with spaces", rt, rf, " { \"id\" : 1 ,\n \"a\":[ 1 ] }\n", false, `{"action":"create","ref":"7","id":1,"a":[ 1 ]}`},
		{"object with spaces trusted", rt, rf, " { \"id\" : 1 }\n", true, `{"action":"create","ref":"7", "id" : 1 }`},
		{"empty object", rt, rf, `{}`, false, `{"action":"create","ref":"7"}`},
		{"empty object trusted", rt, rf, `{}`, true, `{"action":"create","ref":"7"}`},
		{"empty object spaced trusted", rt, rf, " { \n } ", true, `{"action":"create","ref":"7"}`},
		{"request values win", rt, rf, `{"action":"evil","a":1,"ref":"evil"}`, false, `{"action":"create","ref":"7","a":1}`},
		{"escaped keys dropped", rt, rf, `{"\u0061ction":"evil","r\u0065f":0,"a":1}`, false, `{"action":"create","ref":"7","a":1}`},
		{"ref dropped when nil", rt, nil, `{"ref":"evil","a":1}`, false, `{"action":"create","a":1}`},
		{"route dropped when nil", nil, rf, `{"action":"evil","a":1}`, false, `{"ref":"7","a":1}`},
		{"only dropped members", rt, rf, `{"action":1,"ref":2}`, false, `{"action":"create","ref":"7"}`},
		{"nested keys kept", rt, rf, `{"data":{"action":1,"ref":2}}`, false, `{"action":"create","ref":"7","data":{"action":1,"ref":2}}`},
		{"no route no ref", nil, nil, `{"a":1}`, false, `{"a":1}`},
		{"no route no ref trusted", nil, nil, `{"a":1}`, true, `{"a":1}`},
		{"null", rt, rf, `null`, false, `{"action":"create","ref":"7"}`},
		{"null trusted", rt, rf, `null`, true, `{"action":"create","ref":"7"}`},
		{"null with spaces", rt, rf, " null\n", false, `{"action":"create","ref":"7"}`},
		{"empty", rt, rf, ``, false, `{"action":"create","ref":"7"}`},
		{"only spaces", rt, rf, " \n", false, `{"action":"create","ref":"7"}`},
		{"null without route and ref", nil, nil, `null`, false, `{}`},
		{"route only", rt, nil, `null`, false, `{"action":"create"}`},
		{"ref only", nil, rf, `null`, false, `{"ref":"7"}`},
		{"array", rt, rf, `[1,"a",{"action":1}]`, false, `{"action":"create","ref":"7","result":[1,"a",{"action":1}]}`},
		{"array trusted", rt, rf, `[1]`, true, `{"action":"create","ref":"7","result":[1]}`},
		{"string", rt, rf, `"done"`, false, `{"action":"create","ref":"7","result":"done"}`},
		{"number", rt, rf, ` 42 `, false, `{"action":"create","ref":"7","result":42}`},
		{"bool", rt, rf, `false`, false, `{"action":"create","ref":"7","result":false}`},
		{"result without route and ref", nil, nil, `true`, false, `{"result":true}`},
		{"route and ref of any type", []byte(`{"x":[1]}`), []byte(`12345`), `{"a":1}`, false, `{"action":{"x":[1]},"ref":12345,"a":1}`},
		{"invalid object dropped", rt, rf, `{"a":1,}`, false, `{"action":"create","ref":"7"}`},
		{"trailing garbage dropped", rt, rf, `{"a":1} {"b":2}`, false, `{"action":"create","ref":"7"}`},
		{"invalid scalar dropped", rt, rf, `01`, false, `{"action":"create","ref":"7"}`},
		{"invalid literal dropped", rt, rf, `nul`, false, `{"action":"create","ref":"7"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := AppendReply([]byte("prefix:"), "action", tt.route, "ref", tt.ref, []byte(tt.out), tt.trusted)
			require.Equal(t, "prefix:"+tt.want, string(got))
			got = got[len("prefix:"):]
			require.True(t, json.Valid(got), "invalid output")
			assert.Equal(t, wantReply(t, "action", tt.route, "ref", tt.ref, []byte(tt.out)), decodeMap(t, got))
		})
	}
}

func TestAppendReplyKeyQuoting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, want string
	}{
		{"action", `"action"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"tab\there\nnl\r\x01", `"tab\there\nnl\r\u0001"`},
		{"é€😀", `"é€😀"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"", `""`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.key), func(t *testing.T) {
			t.Parallel()
			got := AppendReply(nil, tt.key, []byte(`1`), "ref", nil, []byte(`{"x":2}`), false)
			require.Equal(t, `{`+tt.want+`:1,"x":2}`, string(got))
			m := decodeMap(t, got)
			if key, ok := Unquote([]byte(tt.want)); assert.True(t, ok, "bad want") {
				_, found := m[key]
				assert.True(t, found, "key not decoded back")
			}
		})
	}
	// A key written with escapes still drops the matching member of out.
	got := AppendReply(nil, "a\"b", []byte(`1`), "ref", nil, []byte(`{"a\"b":2,"a\u0022b":3,"c":4}`), false)
	assert.Equal(t, `{"a\"b":1,"c":4}`, string(got))
}

func TestAppendReplyAllocs(t *testing.T) {
	out := []byte(`{"id":1,"action":"x","name":"n"}`)
	buf := make([]byte, 0, 256)
	for _, trusted := range []bool{true, false} {
		allocs := testing.AllocsPerRun(100, func() {
			buf = AppendReply(buf[:0], "action", []byte(`"a"`), "ref", []byte(`1`), out, trusted)
		})
		assert.Zero(t, allocs, "trusted=%v", trusted)
	}
}
