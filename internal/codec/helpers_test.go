package codec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"
)

// The types the tests and fuzz targets decode and encode: every supported
// kind, nesting, pointers, slices, maps, tags and a recursive type.

type inner struct {
	A    int      `json:"a"`
	B    string   `json:"b,omitempty"`
	Next *inner   `json:"next"`
	L    []string `json:"l,omitempty"`
}

type namedString string
type namedInt int16
type namedSlice []namedInt

type allKinds struct {
	B    bool    `json:"b"`
	S    string  `json:"s"`
	I    int     `json:"i"`
	I8   int8    `json:"i8"`
	I16  int16   `json:"i16"`
	I32  int32   `json:"i32"`
	I64  int64   `json:"i64"`
	U    uint    `json:"u"`
	U8   uint8   `json:"u8"`
	U16  uint16  `json:"u16"`
	U32  uint32  `json:"u32"`
	U64  uint64  `json:"u64"`
	UP   uintptr `json:"up"`
	F32  float32 `json:"f32"`
	F64  float64 `json:"f64"`
	K    int     `json:"k"` // U+212A KELVIN SIGN folds to it
	Name namedString
	NI   namedInt
	NS   namedSlice `json:"ns"`

	PS  *string `json:"ps"`
	PI  *int    `json:"pi"`
	PP  **int   `json:"pp"`
	PIn *inner  `json:"pin"`
	In  inner   `json:"in"`

	SS  []string   `json:"ss"`
	SI  []int      `json:"si"`
	SP  []*int     `json:"sp"`
	SIn []inner    `json:"sin"`
	SSS [][]string `json:"sss"`

	M  map[string]int         `json:"m"`
	MI map[namedString]*inner `json:"mi"`

	Html string `json:"<h&>"`
	Dash int    `json:"-"`
	//lint:ignore SA5008 the field is named "-", on purpose
	DashComma int `json:"-,"`
	//lint:ignore SA5008 an invalid tag name, on purpose: the Go name is used
	BadTag int `json:"a\"b"`
	priv   int
}

type omits struct {
	B   bool              `json:"b,omitempty"`
	S   string            `json:"s,omitempty"`
	I   int               `json:"i,omitempty"`
	I8  int8              `json:"i8,omitempty"`
	U16 uint16            `json:"u16,omitempty"`
	U32 uint32            `json:"u32,omitempty"`
	U64 uint64            `json:"u64,omitempty"`
	F32 float32           `json:"f32,omitempty"`
	F64 float64           `json:"f64,omitempty"`
	P   *int              `json:"p,omitempty"`
	SL  []string          `json:"sl,omitempty"`
	M   map[string]string `json:"m,omitempty"`
	In  inner             `json:"in,omitempty"` // never empty
}

type unicodeNames struct {
	Ü string `json:"ü"`
	X int    `json:"x"`
}

type wideStruct struct {
	F0, F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11 int
	S                                                string `json:"s"`
}

// frameData is the realistic message: route key and ref are unknown keys.
type frameData struct {
	Data struct {
		User string `json:"user"`
		Room string `json:"room"`
		Text string `json:"text"`
		N    int    `json:"n"`
		Seq  int    `json:"seq"`
	} `json:"data"`
}

const realFrame = `{"action":"echo","ref":12345,"data":{"user":"u-123","room":"lobby","text":"hello, how is everyone doing today?","n":42,"seq":7}}`

// diffDecode decodes data into a T with the codec and with json.Unmarshal and
// fails t when the codec took the fast path but disagrees. It reports whether
// the fast path was taken.
func diffDecode[T any](t testing.TB, data []byte) bool {
	t.Helper()
	d := NewDecoder(reflect.TypeFor[T]())
	if d == nil {
		t.Fatalf("NewDecoder(%v) = nil", reflect.TypeFor[T]())
	}
	in := bytes.Clone(data)
	var got T
	ok := d.Decode(in, unsafe.Pointer(&got))
	var want T
	err := json.Unmarshal(data, &want)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("Decode(%q) = true, json.Unmarshal: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q):\n got %#v\nwant %#v", data, got, want)
	}
	// Decoded strings must not alias the input.
	for i := range in {
		in[i] = 'X'
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q): result changed with the input: %#v", data, got)
	}
	return true
}

// diffEncode encodes v with the codec and with json.Marshal and fails t when
// the codec reported true but its bytes differ, or reported false for a value
// json.Marshal encodes (unless mayDecline). It reports the codec's ok.
func diffEncode[T any](t testing.TB, v T, mayDecline bool) bool {
	t.Helper()
	e := NewEncoder(reflect.TypeFor[T]())
	if e == nil {
		t.Fatalf("NewEncoder(%v) = nil", reflect.TypeFor[T]())
	}
	prefix := []byte("prefix")
	got, ok := e.Append(prefix, unsafe.Pointer(&v))
	want, err := json.Marshal(v)
	if !ok {
		if string(got) != "prefix" {
			t.Fatalf("Append declined but changed dst to %q", got)
		}
		if err == nil && !mayDecline {
			t.Fatalf("Append(%#v) declined; json.Marshal gives %s", v, want)
		}
		return false
	}
	if err != nil {
		t.Fatalf("Append(%#v) = %s, true; json.Marshal: %v", v, got, err)
	}
	if string(got[len("prefix"):]) != string(want) {
		t.Fatalf("Append(%#v):\n got %s\nwant %s", v, got[len("prefix"):], want)
	}
	return true
}
