package codec

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

func ptr[T any](v T) *T { return &v }

func TestEncodeAllKinds(t *testing.T) {
	pi := ptr(7)
	full := allKinds{
		B: true, S: "s", I: -1, I8: math.MinInt8, I16: math.MaxInt16, I32: math.MinInt32, I64: math.MinInt64,
		U: math.MaxUint, U8: math.MaxUint8, U16: math.MaxUint16, U32: math.MaxUint32, U64: math.MaxUint64, UP: 9,
		F32: math.MaxFloat32, F64: -math.MaxFloat64, K: 1, Name: "n<>", NI: -3, NS: namedSlice{1, 2},
		PS: ptr("p"), PI: pi, PP: &pi, PIn: &inner{A: 1, Next: &inner{A: 2}}, In: inner{B: "b", L: []string{}},
		SS: []string{"a", ""}, SI: []int{}, SP: []*int{nil, pi}, SIn: []inner{{}, {A: 1}}, SSS: [][]string{nil, {}, {"x"}},
		M: map[string]int{"b": 2, "a": 1, "<": 0, "é": 3, "\xff": 4}, MI: map[namedString]*inner{"x": nil, "y": {A: 1}},
		Html: "h", Dash: 1, DashComma: 2, BadTag: 3, priv: 4,
	}
	diffEncode(t, full, false)
	diffEncode(t, allKinds{}, false)
	diffEncode(t, &full, false)
	diffEncode[*allKinds](t, nil, false)
	diffEncode(t, allKinds{M: map[string]int{}, SS: []string{}}, false)
}

func TestEncodeStrings(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
		"\x00\x01\x07\b\t\n\v\f\r\x0e\x1f\x20\x7f", "é€𝄞", "\u2028\u2029 \u2027\u202a",
		"\xff", "a\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\ufffd", strings.Repeat("x", 1000),
	} {
		diffEncode(t, allKinds{S: s, Html: s, M: map[string]int{s: 1}}, false)
	}
}

func TestEncodeFloats(t *testing.T) {
	for _, f := range []float64{
		0, math.Copysign(0, -1), 1, -1, 0.1, 1.5, 1e-6, 9.99999e-7, 1e-7, 1e20, 1e21, 9.999999999999999e20, 1e-9,
		123456789, 1.2345678901234567e-300, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-45, 3.4e38, 100, 1e100, 5e-324,
		float64(float32(1e-6)), float64(float32(1e21)), float64(math.Nextafter32(1e-6, 0)), float64(math.Nextafter32(1e21, 0)),
	} {
		for _, g := range []float64{f, -f} {
			diffEncode(t, allKinds{F64: g, F32: float32(g)}, false)
			diffEncode(t, omits{F64: g, F32: float32(g)}, false)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if diffEncode(t, allKinds{F64: f}, true) {
			t.Errorf("F64=%v encoded", f)
		}
		if diffEncode(t, allKinds{F32: float32(f)}, true) {
			t.Errorf("F32=%v encoded", f)
		}
		if diffEncode(t, allKinds{SIn: []inner{{A: 1}}, M: map[string]int{"a": 1}, PIn: &inner{}, F32: float32(f)}, true) {
			t.Errorf("F32=%v encoded", f)
		}
	}
}

func TestEncodeOmitEmpty(t *testing.T) {
	diffEncode(t, omits{}, false)
	diffEncode(t, omits{SL: []string{}, M: map[string]string{}, F64: math.Copysign(0, -1), F32: float32(math.Copysign(0, -1))}, false)
	diffEncode(t, omits{B: true, S: "s", I: 1, I8: -1, U16: 1, U32: 1, U64: 1, F32: 1, F64: 1, P: ptr(0), SL: []string{""}, M: map[string]string{"": ""}}, false)
	diffEncode(t, struct {
		A int `json:",omitempty"`
	}{}, false)
	diffEncode(t, struct{}{}, false)
	diffEncode(t, struct{ x int }{1}, false)
}

func TestEncodeOtherTopLevelTypes(t *testing.T) {
	diffEncode(t, "<x>", false)
	diffEncode(t, []int(nil), false)
	diffEncode(t, []int{1, 2}, false)
	diffEncode(t, map[string]inner(nil), false)
	diffEncode(t, map[string]inner{"z": {}, "a": {A: 1}}, false)
	diffEncode(t, ptr(ptr(3.5)), false)
	diffEncode(t, uint8(200), false)
}

func TestEncodeDeepAndCyclic(t *testing.T) {
	var deep *inner
	for range 500 {
		deep = &inner{Next: deep}
	}
	diffEncode(t, deep, false)
	cyc := &inner{A: 1}
	cyc.Next = cyc
	e := NewEncoder(reflect.TypeFor[*inner]())
	if out, ok := e.Append(nil, unsafe.Pointer(&cyc)); ok || len(out) != 0 {
		t.Fatalf("cycle: ok=%v len=%d", ok, len(out))
	}
}

func TestEncodeAllocs(t *testing.T) {
	var v frameData
	v.Data.User, v.Data.Room, v.Data.Text, v.Data.N, v.Data.Seq = "u-123", "lobby", "hello <you>", 42, 7
	e := NewEncoder(reflect.TypeFor[frameData]())
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = e.Append(buf[:0], unsafe.Pointer(&v))
	}); n != 0 {
		t.Errorf("Append: %v allocs", n)
	}
	d := NewDecoder(reflect.TypeFor[frameData]())
	data := []byte(realFrame)
	var into frameData
	if n := testing.AllocsPerRun(100, func() {
		into = frameData{}
		d.Decode(data, unsafe.Pointer(&into))
	}); n != 3 {
		t.Errorf("Decode: %v allocs, want 3 (the strings)", n)
	}
}
