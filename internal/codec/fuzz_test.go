package codec

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"unsafe"
)

// nesting returns the deepest nesting of arrays and objects in the valid
// JSON text b.
func nesting(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	return deepest
}

// FuzzDecode: for arbitrary input, whenever Decode takes the fast path it
// agrees with json.Unmarshal (diffDecode). And the fast path must be taken:
// json.Marshal's encoding of whatever json.Unmarshal accepted decodes fast
// (and re-encodes byte for byte with Append).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		allKindsJSON, realFrame, `{}`, `null`, `{"s":"\ud800\u0041"}`, `{"S":1}`, `{"i":1e2}`,
		`{"ü":"x","x":1}`, `{"F3":1,"s":"y"}`, `[{"a":1,"next":{"a":2}},null]`, `{"a":{"s":"x"},"b":null}`,
		`{"sin":[{"a":1,"l":["x","\u2028"]}],"m":{"k":-0}}`, "{\"s\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		diffDecode[allKinds](t, data)
		diffDecode[*allKinds](t, data)
		diffDecode[inner](t, data)
		diffDecode[[]inner](t, data)
		diffDecode[map[string]allKinds](t, data)
		diffDecode[unicodeNames](t, data)
		diffDecode[wideStruct](t, data)
		diffDecode[frameData](t, data)

		roundTrip[allKinds](t, data)
		roundTrip[[]inner](t, data)
		roundTrip[map[string]allKinds](t, data)
		roundTrip[wideStruct](t, data)
	})
}

// roundTrip: if json.Unmarshal accepts data as a T, the codec must encode the
// result as json.Marshal does, and decode that encoding on the fast path.
func roundTrip[T any](t *testing.T, data []byte) {
	var v T
	if json.Unmarshal(data, &v) != nil {
		return
	}
	canon, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	deep := nesting(canon) >= maxDepth
	diffEncode(t, v, deep)
	if !diffDecode[T](t, canon) && !deep {
		t.Fatalf("Decode(%s) fell back", canon)
	}
}

// FuzzEncode: for fuzzed field values, Append equals json.Marshal byte for
// byte and declines only NaN and infinities.
func FuzzEncode(f *testing.F) {
	f.Add("s", "<&>", int64(-1), uint64(1), 1.5, float32(0.1), true, uint8(3))
	f.Add("\u2028\xff\x00", "", int64(math.MinInt64), uint64(math.MaxUint64), 1e21, float32(1e-7), false, uint8(0))
	f.Add("é", "\x7f\"\\", int64(0), uint64(0), math.Copysign(0, -1), float32(math.MaxFloat32), true, uint8(255))
	f.Add("", "", int64(1), uint64(2), math.NaN(), float32(math.Inf(1)), false, uint8(1))
	f.Fuzz(func(t *testing.T, s1, s2 string, i int64, u uint64, f64 float64, f32 float32, b bool, n uint8) {
		k := int(n % 5)
		v := allKinds{
			B: b, S: s1, I: int(i), I8: int8(i), I16: int16(i), I32: int32(i), I64: i,
			U: uint(u), U8: uint8(u), U16: uint16(u), U32: uint32(u), U64: u, UP: uintptr(u),
			F32: f32, F64: f64, K: int(n), Name: namedString(s2), NI: namedInt(i),
			Html: s2, Dash: int(n), DashComma: int(i), BadTag: int(u & 0xff), priv: 1,
		}
		if n&1 != 0 {
			v.PS, v.PI = &s2, &v.I
			v.PP = &v.PI
			v.PIn = &inner{A: int(i), B: s1, Next: &inner{L: []string{s2}}}
			v.In = inner{B: s2, L: []string{}}
			v.M = map[string]int{s1: 1, s2: 2, s1 + s2: 3}
			v.MI = map[namedString]*inner{namedString(s1): nil, "x": {B: s2}}
		}
		if n&2 != 0 {
			v.SS, v.SI, v.SP, v.SSS = []string{}, []int{}, []*int{}, [][]string{}
		}
		for range k {
			v.SS = append(v.SS, s1, s2)
			v.SI = append(v.SI, int(i))
			v.SP = append(v.SP, nil, &v.K)
			v.SIn = append(v.SIn, inner{A: int(n), B: s2})
			v.SSS = append(v.SSS, nil, []string{s1})
			v.NS = append(v.NS, namedInt(u))
		}
		bad := math.IsNaN(f64) || math.IsInf(f64, 0) || math.IsNaN(float64(f32)) || math.IsInf(float64(f32), 0)
		if ok := diffEncode(t, v, bad); ok == bad {
			t.Fatalf("Append ok=%v for F64=%v F32=%v", ok, f64, f32)
		}
		o := omits{B: b, S: s1, I: int(i), I8: int8(i), U16: uint16(u), U32: uint32(u), U64: u, F32: f32, F64: f64}
		if n&4 != 0 {
			o.P, o.SL, o.M = &o.I, []string{s2}[:k%2], map[string]string{s1: s2}
		}
		diffEncode(t, o, bad)
		if !bad {
			canon, _ := json.Marshal(v)
			if !diffDecode[allKinds](t, canon) {
				t.Fatalf("Decode(%s) fell back", canon)
			}
		}
		// The encoder must work from any address, including inside a slice.
		if !bad {
			vs := []allKinds{{}, v}
			e := NewEncoder(reflect.TypeFor[allKinds]())
			got, _ := e.Append(nil, unsafe.Pointer(&vs[1]))
			want, _ := json.Marshal(v)
			if string(got) != string(want) {
				t.Fatalf("in slice: %s != %s", got, want)
			}
		}
	})
}
