package frame

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKindString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k    Kind
		want string
	}{
		{Invalid, "invalid"}, {Null, "null"}, {Bool, "bool"}, {Number, "number"},
		{String, "string"}, {Array, "array"}, {Object, "object"}, {Kind(42), "Kind(42)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.k.String())
	}
}

func TestParseKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Kind
	}{
		{`null`, Null}, {`true`, Bool}, {`false`, Bool},
		{`0`, Number}, {`-0`, Number}, {`-12.5e+3`, Number}, {`1E400`, Number}, {`1e-7`, Number},
		{`""`, String}, {`"a\"b\\c\/\b\f\n\r\t\u00e9\uD83D\uDE00"`, String}, {"\"\xff\xfe\"", String},
		{`[]`, Array}, {`[1,"a",[{}],null]`, Array},
		{`{}`, Object}, {`{"a":{"b":[1,{"c":{}}]}}`, Object},
		{" \t\r\n{ \"a\" \n:\t[ 1 , 2 ] , \"b\" : { } }\r\n ", Object},
		{"  7  ", Number},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			f := Parse([]byte(tt.in), "action", "ref")
			assert.Equal(t, tt.want, f.Kind)
			assert.True(t, json.Valid([]byte(tt.in)), "test input must be valid")
			if tt.want != Object {
				assert.Equal(t, Field{}, f.Route)
				assert.Equal(t, Field{}, f.Ref)
			}
		})
	}
}

// invalidInputs are texts json.Valid rejects.
var invalidInputs = []string{
	``, ` `, "\t\n", `{`, `}`, `[`, `]`, `[}`, `{]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{:1}`,
	`{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `[1 2]`, `{1:2}`, `{'a':1}`, `{a:1}`,
	`{"a":1}}`, `{"a":1}x`, `[1]]`, `{} {}`, `1 2`, `"a" "b"`,
	`01`, `-01`, `1.`, `.5`, `+1`, `-`, `--1`, `1e`, `1e+`, `1E-`, `1.e5`, `0x10`, `1_000`,
	`NaN`, `Infinity`, `-Infinity`, `1.5.5`, `00`,
	`tru`, `truex`, `True`, `nul`, `nulll`, `NULL`, `fals`, `falsey`,
	`"`, `"abc`, `"\"`, `"\x"`, `"\'"`, `"\u12"`, `"\u12G4"`, `"\U0041"`, "\"a\x00\"", "\"a\nb\"",
	"\"\x1f\"", "\"\t\"", `"\`, `"\u"`,
	"\v1", "\f1", "1\v", "\u00a01", "{\"a\":\x001}", "[1,\u00a02]",
	`{"action":"x",}`, `{"action":"x"`, `{"action"`, `{"action":`, `[{"a":1}`, `[[[]]`,
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range invalidInputs {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			t.Parallel()
			require.True(t, !json.Valid([]byte(in)), "test input must be invalid")
			assert.Equal(t, Frame{}, Parse([]byte(in), "action", "ref"))
		})
	}
}

func TestParseDepth(t *testing.T) {
	t.Parallel()
	nest := func(n int, open, close string) []byte {
		return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
	}
	tests := []struct {
		name string
		in   []byte
		want Kind
	}{
		{"arrays 10000", nest(10000, "[", "]"), Array},
		{"arrays 10001", nest(10001, "[", "]"), Invalid},
		{"objects 10000", []byte(strings.Repeat(`{"a":`, 9999) + "{}" + strings.Repeat("}", 9999)), Object},
		{"objects 10001", []byte(strings.Repeat(`{"a":`, 10000) + "{}" + strings.Repeat("}", 10000)), Invalid},
		{"mixed 10000", []byte(strings.Repeat(`[{"a":`, 5000) + "1" + strings.Repeat("}]", 5000)), Array},
		{"mixed 10001", []byte(strings.Repeat(`[{"a":`, 5000) + "[]" + strings.Repeat("}]", 5000)), Invalid},
		{"in action 10000", []byte(`{"action":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`), Object},
		{"in action 10001", []byte(`{"action":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`), Invalid},
		{"unclosed 20000", []byte(strings.Repeat("[", 20000)), Invalid},
		{"mixed 300", []byte(strings.Repeat(`[{"a":`, 150) + "1" + strings.Repeat("}]", 150)), Array},
		{"mixed 300 wrong closer deep", []byte(strings.Repeat(`[{"a":`, 150) + "1" + strings.Repeat("}]", 20) + "]}" + strings.Repeat("}]", 129)), Invalid},
		{"mixed 300 wrong closer shallow", []byte(strings.Repeat(`[{"a":`, 150) + "1" + strings.Repeat("}]", 149) + "]}"), Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want != Invalid, json.Valid(tt.in), "encoding/json disagrees with the test")
			f := Parse(tt.in, "action", "ref")
			assert.Equal(t, tt.want, f.Kind)
		})
	}
}

func TestParseFields(t *testing.T) {
	t.Parallel()
	field := func(kind Kind, raw string) Field { return Field{Found: true, Kind: kind, Raw: []byte(raw)} }
	dup := func(kind Kind, raw string) Field { return Field{Found: true, Dup: true, Kind: kind, Raw: []byte(raw)} }
	tests := []struct {
		name       string
		in         string
		route, ref Field
	}{
		{"both", `{"action":"create","ref":"7","title":"x"}`, field(String, `"create"`), field(String, `"7"`)},
		{"empty object", `{}`, Field{}, Field{}},
		{"missing both", `{"title":"x","n":1}`, Field{}, Field{}},
		{"missing ref", `{"action":"a"}`, field(String, `"a"`), Field{}},
		{"missing route", `{"ref":7}`, Field{}, field(Number, `7`)},
		{"route null", `{"action":null}`, field(Null, `null`), Field{}},
		{"route bool", `{"action":true}`, field(Bool, `true`), Field{}},
		{"route false", `{"action":false}`, field(Bool, `false`), Field{}},
		{"route number", `{"action":-1.5e3}`, field(Number, `-1.5e3`), Field{}},
		{"route string", `{"action":"a\"b"}`, field(String, `"a\"b"`), Field{}},
		{"route array", `{"action":[1, [2]]}`, field(Array, `[1, [2]]`), Field{}},
		{"route object", `{"action":{"action":"inner"}}`, field(Object, `{"action":"inner"}`), Field{}},
		{"duplicate", `{"action":"a","ref":1,"action":"b"}`, dup(String, `"a"`), field(Number, `1`)},
		{"triple ref", `{"ref":1,"ref":2,"ref":3}`, Field{}, dup(Number, `1`)},
		{"escaped duplicate", `{"action":"a","\u0061ction":"b"}`, dup(String, `"a"`), Field{}},
		{"escaped key", `{"\u0061\u0063tion":1,"r\u0065f":2}`, field(Number, `1`), field(Number, `2`)},
		{"escaped slash", `{"\/action":1}`, Field{}, Field{}},
		{"case sensitive", `{"Action":"a","REF":1,"\u0041ction":2}`, Field{}, Field{}},
		{"prefix and suffix", `{"act":1,"actions":2,"re":3,"refs":4,"action ":5}`, Field{}, Field{}},
		{"nested only", `{"data":{"action":"x","ref":1},"list":[{"action":"y"}]}`, Field{}, Field{}},
		{"nested then top", `{"data":{"action":"x"},"action":"top"}`, field(String, `"top"`), Field{}},
		{"string mentioning key", `{"t":"\"action\":\"x\"","action":1}`, field(Number, `1`), Field{}},
		{"whitespace everywhere", " \n{ \t\"action\"\r\n:\n \"a\" ,\t\"ref\" : [ 1 ,2 ] \n} \t",
			field(String, `"a"`), field(Array, `[ 1 ,2 ]`)},
		{"non-ASCII neighbours", `{"é":"ü","action":"ñ","ref":"\u00e9"}`, field(String, `"ñ"`), field(String, `"\u00e9"`)},
		{"invalid UTF-8 elsewhere", "{\"t\":\"\xff\",\"action\":\"\xfe\"}", field(String, "\"\xfe\""), Field{}},
		{"invalid UTF-8 key", "{\"action\xff\":1}", Field{}, Field{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := Parse([]byte(tt.in), "action", "ref")
			require.Equal(t, Object, f.Kind)
			assert.Equal(t, tt.route, f.Route, "route")
			assert.Equal(t, tt.ref, f.Ref, "ref")
		})
	}
}

func TestParseKeyDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, key string
		found         bool
	}{
		{"unicode key", `{"é":1}`, "é", true},
		{"escaped unicode key", `{"\u00e9":1}`, "é", true},
		{"surrogate pair", `{"\ud83d\ude00":1}`, "😀", true},
		{"lone high surrogate", `{"\ud83d":1}`, "\uFFFD", true},
		{"lone low surrogate", `{"\ude00x":1}`, "\uFFFDx", true},
		{"high then non-low", `{"\ud83d\u0041":1}`, "\uFFFDA", true},
		{"invalid UTF-8 becomes U+FFFD", "{\"a\xff\\n\":1}", "a\uFFFD\n", true},
		{"raw invalid UTF-8 key", "{\"\xff\":1}", "\uFFFD", true},
		{"invalid UTF-8 target", "{\"\xff\":1}", "\xff", false},
		{"escapes", `{"\"\\\/\b\f\n\r\t":1}`, "\"\\/\b\f\n\r\t", true},
		{"empty key", `{"":1}`, "", true},
		{"longer target", `{"\u0061":1}`, "ab", false},
		{"shorter target", `{"\u0061b":1}`, "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := Parse([]byte(tt.in), tt.key, "\x00unused")
			require.Equal(t, Object, f.Kind)
			assert.Equal(t, tt.found, f.Route.Found)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(tt.in), &m))
			_, want := m[tt.key]
			assert.Equal(t, want, tt.found, "encoding/json disagrees with the test")
		})
	}
}

func TestParseRawIsClipped(t *testing.T) {
	t.Parallel()
	in := []byte(`{"action":"a","ref":1}`)
	f := Parse(in, "action", "ref")
	_ = append(f.Route.Raw, "XXXX"...)
	assert.Equal(t, `{"action":"a","ref":1}`, string(in))
}

func TestParseAllocs(t *testing.T) {
	in := []byte(benchFrame)
	allocs := testing.AllocsPerRun(1000, func() {
		if f := Parse(in, "action", "ref"); !f.Route.Found || !f.Ref.Found {
			t.Fatal("keys not found")
		}
	})
	assert.Zero(t, allocs)
	// Escaped keys and non-ASCII keys are compared without allocating too.
	esc := []byte(`{"\u0061ction":"echo","é":1,"r\u0065f":[1,{"a":[2]}]}`)
	allocs = testing.AllocsPerRun(1000, func() {
		if f := Parse(esc, "action", "ref"); !f.Route.Found || !f.Ref.Found {
			t.Fatal("keys not found")
		}
	})
	assert.Zero(t, allocs)
}

func TestUnquote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`""`, "", true},
		{`"plain"`, "plain", true},
		{`"é ü"`, "é ü", true},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", true},
		{`"\u0041\u00e9\u20AC"`, "Aé€", true},
		{`"\ud83d\ude00"`, "😀", true},
		{`"\ud83d"`, "\uFFFD", true},
		{`"\ud83dx"`, "\uFFFDx", true},
		{`"\ude00\ud83d"`, "\uFFFD\uFFFD", true},
		{`"\ud83d\ud83d\ude00"`, "\uFFFD😀", true},
		{"\"a\xffb\"", "a\uFFFDb", true},
		{"\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD", true},
		{"\"\xef\xbf\xbd\"", "\uFFFD", true},
		{``, "", false},
		{`"`, "", false},
		{`"abc`, "", false},
		{`abc"`, "", false},
		{`"a"b"`, "", false},
		{` "a"`, "", false},
		{`"a" `, "", false},
		{`"\'"`, "", false},
		{`"\x41"`, "", false},
		{`"\u00G0"`, "", false},
		{"\"a\nb\"", "", false},
		{`123`, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			t.Parallel()
			got, ok := Unquote([]byte(tt.in))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
			var ref string
			err := json.Unmarshal([]byte(tt.in), &ref)
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, ref, got, "encoding/json decodes differently")
			} else if strings.TrimSpace(tt.in) == tt.in {
				// Unquote takes exactly one string; json.Unmarshal also
				// allows whitespace around it.
				assert.True(t, err != nil, "encoding/json accepts it")
			}
		})
	}
}
