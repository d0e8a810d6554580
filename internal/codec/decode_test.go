package codec

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

const allKindsJSON = `{
	"b": true, "s": "str", "i": -1, "i8": -128, "i16": 32767, "i32": -2147483648,
	"i64": -9223372036854775808, "u": 18446744073709551615, "u8": 255, "u16": 65535,
	"u32": 4294967295, "u64": 18446744073709551615, "up": 7, "f32": 3.4028234e38,
	"f64": -1.7976931348623157e308, "k": 1, "Name": "n", "NI": -5, "ns": [1, -2],
	"ps": "p", "pi": 0, "pp": 3, "pin": {"a": 1, "next": {"a": 2, "next": null}},
	"in": {"a": 3, "b": "x", "l": ["q"]},
	"ss": ["a", "", "c"], "si": [], "sp": [1, null, 2], "sin": [{"a": 1}, {}],
	"sss": [[], null, ["x"]], "m": {"x": 1, "y": null, "x2": 3}, "mi": {"k": {"a": 1}, "n": null},
	"\u003ch&>": "html", "-": 9, "BadTag": 4, "Dash": 5, "priv": 6
}`

func TestDecodeRules(t *testing.T) {
	tests := []struct {
		name string
		in   string
		fast bool // the fast path is expected (else a fallback)
	}{
		{"all kinds", allKindsJSON, true},
		{"empty object", `{}`, true},
		{"whitespace", " \t\r\n{ \"s\" : \"x\" , \"i\" : 1 } \n", true},
		{"top-level null", `null`, true},
		{"unknown keys of every kind", `{"x":{"a":[1,{"b":null}],"c":"\u00e9"},"y":[true,false,null,-1.5e3,"s",{}],"z":"","s":"ok"}`, true},
		{"escaped key", `{"\u0073":"s via escape","\/x":1}`, true},
		{"nulls everywhere", `{"b":null,"s":null,"i":null,"f64":null,"ps":null,"pp":null,"pin":null,"in":null,"ss":null,"m":null,"mi":null}`, true},
		{"empty slice is not nil", `{"ss":[],"sss":[[]],"sp":[]}`, true},
		{"empty map", `{"m":{}}`, true},
		{"map last key wins", `{"m":{"a":1,"a":2}}`, true},
		{"pointer to pointer null", `{"pp":null}`, true},
		{"negative zero int", `{"i":-0,"i8":-0}`, true},
		{"float forms", `{"f64":-0.0,"f32":1e-50,"up":0}`, true},
		{"float underflow", `{"f64":1e-400}`, true},
		{"float exponent forms", `{"f64":1E+2,"f32":0.1}`, true},
		{"string escapes", `{"s":"a\"b\\c\/d\be\ff\ng\rh\ti\u0000j\u00e9k\u20acl"}`, true},
		{"surrogate pair", `{"s":"\ud83d\ude00"}`, true},
		{"lone high surrogate", `{"s":"\ud800x"}`, true},
		{"lone low surrogate", `{"s":"\udc00"}`, true},
		{"high then non-surrogate escape", `{"s":"\ud800\u0041"}`, true},
		{"two high surrogates", `{"s":"\ud800\ud800\udc00"}`, true},
		{"high surrogate at end", `{"s":"\ud83d"}`, true},
		{"raw non-ASCII", `{"s":"héllo €𝄞"}`, true},
		{"non-ASCII unknown key", `{"ключ":1}`, false},
		{"kelvin sign folds to k", `{"` + "\u212a" + `":5}`, false},
		{"case-insensitive key", `{"S":"x"}`, false},
		{"case-insensitive key, upper tag", `{"name":"x"}`, false},
		{"repeated key", `{"s":"a","s":"b"}`, false},
		{"repeated struct key", `{"in":{"a":1},"in":{"b":"x"}}`, false},
		{"float into int", `{"i":1.0}`, false},
		{"exponent into int", `{"i":1e2}`, false},
		{"int8 overflow", `{"i8":128}`, false},
		{"int8 underflow", `{"i8":-129}`, false},
		{"int64 overflow", `{"i64":9223372036854775808}`, false},
		{"uint64 overflow", `{"u64":18446744073709551616}`, false},
		{"huge integer", `{"u64":1000000000000000000000000000000}`, false},
		{"negative into uint", `{"u":-1}`, false},
		{"negative zero into uint", `{"u":-0}`, false},
		{"float64 overflow", `{"f64":1e400}`, false},
		{"float32 overflow", `{"f32":3.5e38}`, false},
		{"string into int", `{"i":"1"}`, false},
		{"number into string", `{"s":1}`, false},
		{"bool into int", `{"i":true}`, false},
		{"object into slice", `{"ss":{}}`, false},
		{"array into struct", `{"in":[]}`, false},
		{"string into bool", `{"b":"true"}`, false},
		{"number into map", `{"m":1}`, false},
		{"top-level array", `[]`, false},
		{"top-level string", `"x"`, false},
		{"trailing garbage", `{} x`, false},
		{"two values", `{}{}`, false},
		{"empty input", ``, false},
		{"only whitespace", `  `, false},
		{"truncated", `{"s":"x"`, false},
		{"trailing comma", `{"s":"x",}`, false},
		{"missing colon", `{"s" "x"}`, false},
		{"bad literal", `{"b":tru}`, false},
		{"bad literal in unknown", `{"x":nul}`, false},
		{"leading zero", `{"i":01}`, false},
		{"leading zero in unknown", `{"x":01}`, false},
		{"bare minus", `{"x":-}`, false},
		{"dot without digits", `{"f64":1.}`, false},
		{"exponent without digits", `{"f64":1e}`, false},
		{"plus sign", `{"i":+1}`, false},
		{"single quotes", `{'s':'x'}`, false},
		{"control char in string", "{\"s\":\"a\x01b\"}", false},
		{"control char in unknown", "{\"x\":\"a\nb\"}", false},
		{"bad escape", `{"s":"\x"}`, false},
		{"bad escape in unknown", `{"x":"\'"}`, false},
		{"short unicode escape", `{"s":"\u12"}`, false},
		{"invalid UTF-8", "{\"s\":\"a\xffb\"}", false},
		{"invalid UTF-8 in unknown value", "{\"x\":\"a\xffb\"}", true},
		{"unbalanced", `{"x":[1,2}`, false},
		{"too deep", `{"x":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`, false},
		{"deep but fine", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, true},
		{"recursive type", `{"pin":` + strings.Repeat(`{"next":`, 50) + `{}` + strings.Repeat(`}`, 50) + `}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fast := diffDecode[allKinds](t, []byte(tt.in))
			if fast != tt.fast {
				t.Errorf("fast path = %v, want %v", fast, tt.fast)
			}
			if !tt.fast {
				// A case meant to fall back: check it is one where being
				// exact matters (json.Unmarshal errs, or does what the
				// codec does not replicate).
				var v allKinds
				err := json.Unmarshal([]byte(tt.in), &v)
				t.Logf("json.Unmarshal: err=%v", err)
			}
		})
	}
}

// TestDecodeFallbackCasesMatter checks the claims behind some fallbacks: that
// encoding/json really does something else there.
func TestDecodeFallbackCasesMatter(t *testing.T) {
	var v allKinds
	if err := json.Unmarshal([]byte(`{"`+"\u212a"+`":5}`), &v); err != nil || v.K != 5 {
		t.Errorf("KELVIN SIGN: err=%v K=%d; encoding/json no longer folds it", err, v.K)
	}
	v = allKinds{}
	if err := json.Unmarshal([]byte(`{"S":"x"}`), &v); err != nil || v.S != "x" {
		t.Errorf("case-insensitive: err=%v S=%q", err, v.S)
	}
	for _, in := range []string{`{"i":1.0}`, `{"i":1e2}`, `{"u":-0}`, `{"f32":3.5e38}`, `{"i8":128}`} {
		if err := json.Unmarshal([]byte(in), &allKinds{}); err == nil {
			t.Errorf("json.Unmarshal(%s) succeeded", in)
		}
	}
	v = allKinds{}
	if err := json.Unmarshal([]byte("{\"s\":\"a\xffb\"}"), &v); err != nil || v.S != "a\ufffdb" {
		t.Errorf("invalid UTF-8: err=%v S=%q", err, v.S)
	}
}

func TestDecodeUnicodeFieldNames(t *testing.T) {
	for in, fast := range map[string]bool{
		`{"ü":"a","x":1}`: true,
		`{"Ü":"a"}`:       false, // folds to ü
		`{"X":1}`:         false,
		`{"y":1}`:         false, // any non-exact key: the struct has a non-ASCII name
	} {
		if got := diffDecode[unicodeNames](t, []byte(in)); got != fast {
			t.Errorf("%s: fast = %v, want %v", in, got, fast)
		}
	}
}

func TestDecodeManyFields(t *testing.T) {
	for in, fast := range map[string]bool{
		`{"F0":1,"F11":2,"s":"x","other":3}`: true,
		`{"f0":1}`:                           false,
		`{"S":"x"}`:                          false,
		`{"F5":1,"F5":2}`:                    false,
	} {
		if got := diffDecode[wideStruct](t, []byte(in)); got != fast {
			t.Errorf("%s: fast = %v, want %v", in, got, fast)
		}
	}
}

func TestDecodeIntKinds(t *testing.T) {
	type ints struct {
		I8  int8
		I16 int16
		I32 int32
		I64 int64
		I   int
		U8  uint8
		U16 uint16
		U32 uint32
		U64 uint64
		U   uint
	}
	for _, name := range []string{"I8", "I16", "I32", "I64", "I", "U8", "U16", "U32", "U64", "U"} {
		for _, num := range []string{"0", "-0", "1", "-1", "127", "128", "-128", "-129", "255", "256",
			"32767", "32768", "-32768", "-32769", "65535", "65536",
			"2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
			"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
			"18446744073709551615", "18446744073709551616", "99999999999999999999", "100000000000000000000"} {
			in := `{"` + name + `":` + num + `}`
			fast := diffDecode[ints](t, []byte(in))
			err := json.Unmarshal([]byte(in), &ints{})
			if fast != (err == nil) {
				t.Errorf("%s: fast = %v, json.Unmarshal err = %v", in, fast, err)
			}
		}
	}
}

func TestDecodeStringsDoNotAlias(t *testing.T) {
	// diffDecode checks it for every case; this one is explicit.
	type S struct{ A, B string }
	in := []byte(`{"A":"plain","B":"esc\u00e9"}`)
	var v S
	if !NewDecoder(reflect.TypeFor[S]()).Decode(in, unsafe.Pointer(&v)) {
		t.Fatal("fallback")
	}
	for i := range in {
		in[i] = 0
	}
	if v.A != "plain" || v.B != "escé" {
		t.Fatalf("got %+v after clearing the input", v)
	}
}

type textU struct{ s string }

func (t *textU) UnmarshalText(b []byte) error { t.s = string(b); return nil }
func (t textU) MarshalText() ([]byte, error)  { return []byte(t.s), nil }

type jsonU int

func (j *jsonU) UnmarshalJSON([]byte) error  { return nil }
func (j jsonU) MarshalJSON() ([]byte, error) { return []byte("1"), nil }

var (
	_ encoding.TextUnmarshaler = (*textU)(nil)
	_ json.Unmarshaler         = (*jsonU)(nil)
)

func TestUnsupportedTypes(t *testing.T) {
	types := []reflect.Type{
		reflect.TypeFor[any](),
		reflect.TypeFor[struct{ X any }](),
		reflect.TypeFor[struct{ X []byte }](),
		reflect.TypeFor[struct{ X []uint8 }](),
		reflect.TypeFor[struct{ X [2]int }](),
		reflect.TypeFor[struct{ X chan int }](),
		reflect.TypeFor[struct{ X func() }](),
		reflect.TypeFor[struct{ X complex128 }](),
		reflect.TypeFor[struct{ X time.Time }](),
		reflect.TypeFor[struct{ X json.Number }](),
		reflect.TypeFor[struct{ X json.RawMessage }](),
		reflect.TypeFor[struct{ X textU }](),
		reflect.TypeFor[struct{ X *textU }](),
		reflect.TypeFor[struct{ X []jsonU }](),
		reflect.TypeFor[struct{ X map[int]int }](),
		reflect.TypeFor[struct{ X map[textU]int }](),
		reflect.TypeFor[struct {
			X int `json:"x,string"`
		}](),
		reflect.TypeFor[struct{ inner }](),
		// Built with StructOf: vet refuses repeated json tags in source.
		reflect.StructOf([]reflect.StructField{
			{Name: "A", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
			{Name: "B", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
		}),
		reflect.StructOf([]reflect.StructField{
			{Name: "A", Type: reflect.TypeFor[int]()},
			{Name: "B", Type: reflect.TypeFor[int](), Tag: `json:"A"`},
		}),
		reflect.TypeFor[struct{ X *struct{ Y chan int } }](),
		reflect.TypeFor[jsonU](),
		reflect.TypeFor[*jsonU](),
	}
	for _, typ := range types {
		if NewDecoder(typ) != nil {
			t.Errorf("NewDecoder(%v) != nil", typ)
		}
		if NewEncoder(typ) != nil {
			t.Errorf("NewEncoder(%v) != nil", typ)
		}
	}
	big := reflect.StructOf(func() (fs []reflect.StructField) {
		for i := range maxFields + 1 {
			fs = append(fs, reflect.StructField{Name: "F" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Type: reflect.TypeFor[int]()})
		}
		return fs
	}())
	if NewDecoder(big) != nil {
		t.Errorf("NewDecoder(%d fields) != nil", big.NumField())
	}
	omitzero := reflect.TypeFor[struct {
		X int `json:"x,omitzero"`
	}]()
	if NewEncoder(omitzero) != nil {
		t.Error("NewEncoder(omitzero) != nil")
	}
	if NewDecoder(omitzero) == nil {
		t.Error("NewDecoder(omitzero) = nil; omitzero does not change decoding")
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[allKinds](), reflect.TypeFor[*allKinds](), reflect.TypeFor[omits](),
		reflect.TypeFor[[]int](), reflect.TypeFor[map[string]inner](), reflect.TypeFor[string](), reflect.TypeFor[frameData]()} {
		if NewDecoder(typ) == nil || NewEncoder(typ) == nil {
			t.Errorf("%v unsupported", typ)
		}
	}
}

func TestDecodeOtherTopLevelTypes(t *testing.T) {
	if !diffDecode[*allKinds](t, []byte(`{"s":"x"}`)) || !diffDecode[*allKinds](t, []byte(`null`)) {
		t.Error("*allKinds: fallback")
	}
	if !diffDecode[[]int](t, []byte(`[1,2,3]`)) || !diffDecode[string](t, []byte(`"x"`)) ||
		!diffDecode[map[string]inner](t, []byte(`{"a":{"a":1}}`)) || !diffDecode[float32](t, []byte(`1.5`)) {
		t.Error("fallback")
	}
}

func TestDecodeRealisticFrame(t *testing.T) {
	if !diffDecode[frameData](t, []byte(realFrame)) {
		t.Fatal("the realistic frame falls back")
	}
	var v frameData
	if !NewDecoder(reflect.TypeFor[frameData]()).Decode([]byte(realFrame), unsafe.Pointer(&v)) || v.Data.User != "u-123" || v.Data.Seq != 7 {
		t.Fatalf("got %+v", v)
	}
	if !diffEncode(t, v, false) {
		t.Fatal("encoder falls back")
	}
}
