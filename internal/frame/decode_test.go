package frame

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// useNumber decodes data as schema.Decode did before DecodeAny: one value
// with encoding/json's Decoder and UseNumber, nothing but white space after.
func useNumber(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
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

// numberTokens lists the number literals of a valid JSON text, in order.
func numberTokens(t testing.TB, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var nums []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nums
		}
		require.NoError(t, err)
		if n, ok := tok.(json.Number); ok {
			nums = append(nums, string(n))
		}
	}
}

type (
	obj = map[string]any
	arr = []any
	num = json.Number
)

func TestDecodeAny(t *testing.T) {
	t.Parallel()
	deepArr := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	deepObj := strings.Repeat(`{"a":`, maxDepth-1) + "{}" + strings.Repeat("}", maxDepth-1)
	tests := []struct {
		name  string
		input string
		skip  []string
		want  any
	}{
		{"null", `null`, nil, nil},
		{"true", `true`, nil, true},
		{"false", ` false `, nil, false},
		{"string", `"abc"`, nil, "abc"},
		{"empty string", `""`, nil, ""},
		{"integer", `42`, nil, num("42")},
		{"negative fraction exponent", `-12.5e-3`, nil, num("-12.5e-3")},
		{"1e400 kept", `1e400`, nil, num("1e400")},
		{"2^53+1 kept", `9007199254740993`, nil, num("9007199254740993")},
		{"-0.0 kept", `-0.0`, nil, num("-0.0")},
		{"upper-case exponent", `[1E+2,0e0]`, nil, arr{num("1E+2"), num("0e0")}},
		{"empty object", `{}`, nil, obj{}},
		{"empty array", `[ ]`, nil, arr{}},
		{"every type", " {\"s\":\"x\",\"n\":1.5,\"t\":true,\"f\":false,\"z\":null,\"a\":[1,\"y\",[],{}],\"o\":{\"k\":[null]}}\n",
			nil, obj{"s": "x", "n": num("1.5"), "t": true, "f": false, "z": nil,
				"a": arr{num("1"), "y", arr{}, obj{}}, "o": obj{"k": arr{nil}}}},
		{"white space everywhere", " \t\r\n[ 1 , { \"a\" : [ ] } , \"b\" ]\r\n", nil, arr{num("1"), obj{"a": arr{}}, "b"}},
		{"nested key order kept apart", `{"a":{"b":{"c":1},"d":2},"e":[{"f":3},4]}`, nil,
			obj{"a": obj{"b": obj{"c": num("1")}, "d": num("2")}, "e": arr{obj{"f": num("3")}, num("4")}}},
		{"many members", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18}`, nil,
			obj{"a": num("1"), "b": num("2"), "c": num("3"), "d": num("4"), "e": num("5"), "f": num("6"), "g": num("7"), "h": num("8"), "i": num("9"),
				"j": num("10"), "k": num("11"), "l": num("12"), "m": num("13"), "n": num("14"), "o": num("15"), "p": num("16"), "q": num("17"), "r": num("18")}},
		{"simple escapes", `"\"\\\/\b\f\n\r\t"`, nil, "\"\\/\b\f\n\r\t"},
		{"unicode escapes", `"\u0041\u00e9\u20AC"`, nil, "Aé€"},
		{"escape between plain runs", `"ab\ncd\u00e9ef"`, nil, "ab\ncdéef"},
		{"surrogate pair", `"\ud83d\ude00"`, nil, "😀"},
		{"upper-case surrogate pair", `"x\uD83D\uDE00y"`, nil, "x😀y"},
		{"lone high surrogate", `"\ud83d"`, nil, "\uFFFD"},
		{"lone high surrogate then text", `"\ud83dab"`, nil, "\uFFFDab"},
		{"lone low surrogate", `"\ude00x"`, nil, "\uFFFDx"},
		{"high surrogate then non-surrogate escape", `"\ud83d\u0041"`, nil, "\uFFFDA"},
		{"two high surrogates", `"\ud83d\ud83d\ude00"`, nil, "\uFFFD😀"},
		{"reversed pair", `"\ude00\ud83d"`, nil, "\uFFFD\uFFFD"},
		{"valid UTF-8 unescaped", `"héllo 😀"`, nil, "héllo 😀"},
		{"invalid UTF-8 byte", "\"a\xffb\"", nil, "a\uFFFDb"},
		{"truncated UTF-8 sequence", "\"\xe2\x82\"", nil, "\uFFFD\uFFFD"},
		{"encoded surrogate", "\"\xed\xa0\x80\"", nil, "\uFFFD\uFFFD\uFFFD"},
		{"invalid UTF-8 and escapes", "\"\xff\\n\xc3\xa9\"", nil, "\uFFFD\né"},
		{"literal U+FFFD", `"` + "\uFFFD" + `"`, nil, "\uFFFD"},
		{"invalid UTF-8 key", "{\"\xff\":1}", nil, obj{"\uFFFD": num("1")}},
		{"escaped key", `{"\u0061\n":1}`, nil, obj{"a\n": num("1")}},
		{"duplicate key, last wins", `{"a":1,"b":2,"a":3}`, nil, obj{"a": num("3"), "b": num("2")}},
		{"duplicate key after unescaping", `{"a":1,"\u0061":[2]}`, nil, obj{"a": arr{num("2")}}},
		{"duplicate nested key", `{"o":{"a":1,"a":{"b":2}}}`, nil, obj{"o": obj{"a": obj{"b": num("2")}}}},
		{"skip route key and ref", benchFrame, []string{"action", "ref"}, obj{"title": strings.Repeat("lorem ipsum ", 8) + "dolor"}},
		{"skip every member", `{"action":"x","ref":"1"}`, []string{"action", "ref"}, obj{}},
		{"skip first and last", `{"a":1,"b":2,"c":3}`, []string{"a", "c"}, obj{"b": num("2")}},
		{"skip container values", `{"a":{"b":[1,{"c":2}]},"x":[3],"y":{}}`, []string{"a", "y"}, obj{"x": arr{num("3")}}},
		{"skip duplicated key", `{"a":1,"b":2,"a":3}`, []string{"a"}, obj{"b": num("2")}},
		{"skip escaped key", `{"\u0061ction":"x","\u0072ef":1,"t":2}`, []string{"action", "ref"}, obj{"t": num("2")}},
		{"skip key that decodes to U+FFFD", "{\"\xff\":1,\"\\ud800\":2,\"b\":3}", []string{"\uFFFD"}, obj{"b": num("3")}},
		{"skip is exact and case-sensitive", `{"Action":1,"actions":2,"actio":3}`, []string{"action"},
			obj{"Action": num("1"), "actions": num("2"), "actio": num("3")}},
		{"skip top level only", `{"action":"x","o":{"action":"y","ref":1},"l":[{"ref":2}]}`, []string{"action", "ref"},
			obj{"o": obj{"action": "y", "ref": num("1")}, "l": arr{obj{"ref": num("2")}}}},
		{"skip ignored for arrays", `[{"action":1}]`, []string{"action"}, arr{obj{"action": num("1")}}},
		{"skip ignored for scalars", `"action"`, []string{"action"}, "action"},
		{"depth 10000 arrays", deepArr, nil, nil},
		{"depth 10000 objects", deepObj, nil, nil},
		{"depth 10000 under a skipped key", `{"a":` + deepArr[1:len(deepArr)-1] + `,"b":1}`, []string{"a"}, obj{"b": num("1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.input)
			require.True(t, json.Valid(in), "test input must be valid")
			want := tt.want
			if strings.HasPrefix(tt.name, "depth") { // too big to spell out
				var err error
				want, err = useNumber(in)
				require.NoError(t, err)
				if m, ok := want.(obj); ok {
					for _, k := range tt.skip {
						delete(m, k)
					}
				}
			}
			got, err := DecodeAny(in, nil, tt.skip...)
			require.NoError(t, err)
			assert.True(t, reflect.DeepEqual(want, got), "got %#v", got)
			if tt.skip == nil {
				std, err := useNumber(in)
				require.NoError(t, err)
				assert.True(t, reflect.DeepEqual(std, got), "differs from encoding/json: %#v", std)
			}
		})
	}
}

func TestDecodeAnyInvalid(t *testing.T) {
	t.Parallel()
	tests := []string{
		``, ` `, `{`, `[`, `]`, `}`, `{]`, `[}`, `[1,]`, `[,1]`, `[1 2]`, `{"a"}`, `{"a" 1}`, `{"a":}`,
		`{"a":1,}`, `{,"a":1}`, `{"a":1 "b":2}`, `{1:2}`, `{a:1}`, `{"a":1}}`, `[[]`, `[]]`,
		`01`, `1.`, `.5`, `+1`, `-`, `1e`, `1e+`, `0x1`, `NaN`, `Infinity`, `tru`, `nul`, `fals`, `True`,
		`"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", "\"\t\"", `"\`, `'a'`,
		`{} {}`, `{}x`, `1 2`, `"a""b"`, `null,`, "\x00", "\xef\xbb\xbf{}",
		`{"action":tru,"b":1}`, `{"action":[1,],"b":1}`, `{"action":"x"`, `{"action":`, `{"action"`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth) + "{}" + strings.Repeat("}", maxDepth),
		`{"action":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`,
		`[` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `]`,
	}
	for _, in := range tests {
		require.False(t, json.Valid([]byte(in)), "test input must be invalid: %q", in)
		for _, skip := range [][]string{nil, {"action"}} {
			got, err := DecodeAny([]byte(in), nil, skip...)
			require.ErrorIs(t, err, ErrInvalid, "%q skip %q", in, skip)
			assert.Contains(t, err.Error(), "invalid JSON at offset")
			assert.Nil(t, got)
		}
	}
}

func TestDecodeAnyCheck(t *testing.T) {
	t.Parallel()
	errBig := errors.New("too big")
	refuseBig := func(n []byte) error {
		if len(n) > 4 {
			return errBig
		}
		return nil
	}
	tests := []struct {
		name    string
		input   string
		skip    []string
		wantErr error
		seen    []string
	}{
		{"accepted", `{"a":[1,-2.5],"b":{"c":1e9}}`, nil, nil, []string{"1", "-2.5", "1e9"}},
		{"refused at top level", `12345`, nil, errBig, []string{"12345"}},
		{"refused in array", `[1,2,1e400,3]`, nil, errBig, []string{"1", "2", "1e400"}},
		{"refused in nested object", `{"a":{"b":[9007199254740993]}}`, nil, errBig, []string{"9007199254740993"}},
		{"refused in overwritten duplicate", `{"a":10000,"a":1}`, nil, errBig, []string{"10000"}},
		{"not called for skipped members", `{"ref":12345,"action":[1e400],"n":7}`, []string{"ref", "action"}, nil, []string{"7"}},
		{"called for nested members named like skip", `{"o":{"ref":12345}}`, []string{"ref"}, errBig, []string{"12345"}},
		{"not called for strings", `["12345","1e400"]`, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen []string
			got, err := DecodeAny([]byte(tt.input), func(n []byte) error {
				seen = append(seen, string(n))
				return refuseBig(n)
			}, tt.skip...)
			assert.Equal(t, tt.seen, seen)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Same(t, tt.wantErr, err, "check's error is returned as is")
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, got)
		})
	}
}

// The check callback must not be able to change the literal it is shown.
func TestDecodeAnyCheckCannotGrowInput(t *testing.T) {
	t.Parallel()
	in := []byte(`[1,2]`)
	got, err := DecodeAny(in, func(n []byte) error {
		_ = append(n, 'x') // capacity is clipped: this must not write into in
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, arr{num("1"), num("2")}, got)
	assert.Equal(t, `[1,2]`, string(in))
}

// The result must not alias the input: the caller may reuse its buffer.
func TestDecodeAnyDoesNotAliasInput(t *testing.T) {
	t.Parallel()
	in := []byte(`{"k":"v","n":12}`)
	got, err := DecodeAny(in, nil)
	require.NoError(t, err)
	for i := range in {
		in[i] = ' '
	}
	assert.Equal(t, obj{"k": "v", "n": num("12")}, got)
}

func TestDecodeAnyAllocs(t *testing.T) {
	in := []byte(benchFrame)
	// The shared string copy, the map (header and group), the boxed title string.
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeAny(in, nil, "action", "ref"); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 4.0)
	// Plus the boxed route string and the boxed json.Number.
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := DecodeAny(in, nil); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 6.0)
}

var decodeSeeds = []string{
	`{"a":1,"a":2,"b":{"a":3}}`,
	`{"\u0061":[1,2,{"a":null}],"z":"\ud83d\ude00\ud800x"}`,
	"{\"a\":\"\xff\xfe\",\"\xc3\":\"\\u00e9\"}",
	`[1e400,-0.0,9007199254740993,0.1E-7]`,
	`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	`{"a":1,}`, `{"a":[1,]}`, `{"b":1 2}`, `[1]x`, ` `,
}

func FuzzDecodeAny(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var nums []string
		got, err := DecodeAny(data, func(n []byte) error {
			nums = append(nums, string(n))
			return nil
		})
		if !json.Valid(data) {
			require.ErrorIs(t, err, ErrInvalid, "invalid input %q", data)
			require.Nil(t, got)
			_, err = DecodeAny(data, nil, "a")
			require.ErrorIs(t, err, ErrInvalid, "invalid input %q, skip a", data)
			return
		}
		require.NoError(t, err, "valid input %q", data)
		want, err := useNumber(data)
		require.NoError(t, err)
		require.True(t, reflect.DeepEqual(want, got), "input %q:\n got %#v\nwant %#v", data, got, want)
		require.Equal(t, numberTokens(t, data), nums, "numbers shown to check")

		got, err = DecodeAny(data, nil, "a")
		require.NoError(t, err, "valid input %q, skip a", data)
		if m, ok := want.(map[string]any); ok {
			delete(m, "a")
		}
		require.True(t, reflect.DeepEqual(want, got), "input %q, skip a:\n got %#v\nwant %#v", data, got, want)
	})
}

func BenchmarkDecodeAny(b *testing.B) {
	in := []byte(benchFrame)
	for _, bc := range []struct {
		name string
		skip []string
	}{{"all", nil}, {"skip", []string{"action", "ref"}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeAny(in, nil, bc.skip...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeUseNumber(b *testing.B) {
	in := []byte(benchFrame)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			b.Fatal(err)
		}
	}
}
