package codec

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/wsroute/wsroute/internal/jsontag"
)

// This file holds the type analysis the decoder and the encoder share: which
// Go types this package handles, and a struct's JSON fields as encoding/json
// sees them (for the subset of struct types supported here).

var (
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonNumberType      = reflect.TypeFor[json.Number]()
)

// custom reports whether encoding/json would hand t to a method of t or *t
// (one of ifaces) instead of encoding or decoding it by its kind, or treats t
// specially (json.Number).
func custom(t reflect.Type, ifaces ...reflect.Type) bool {
	if t == jsonNumberType {
		return true
	}
	pt := t
	if t.Kind() != reflect.Pointer {
		pt = reflect.PointerTo(t)
	}
	for _, i := range ifaces {
		if t.Implements(i) || pt.Implements(i) {
			return true
		}
	}
	return false
}

// maxFields bounds a struct's JSON fields: the decoder tracks the fields it
// has seen in one object in a uint64.
const maxFields = 64

// field is one JSON member of a struct type.
type field struct {
	name      string // the JSON key
	offset    uintptr
	typ       reflect.Type
	omitEmpty bool
	omitZero  bool
}

// structFields returns t's JSON fields in declaration order, or false when t
// has something this package does not replicate: an embedded field, a
// ",string" option, two fields with one JSON name, more than maxFields
// fields. Unexported fields and fields tagged "-" are left out as
// encoding/json leaves them out.
func structFields(t reflect.Type) ([]field, bool) {
	var fields []field
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil, false
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !jsontag.ValidName(name) {
			name = ""
		}
		if name == "" {
			name = sf.Name
		}
		f := field{name: name, offset: sf.Offset, typ: sf.Type}
		for opts != "" {
			var o string
			o, opts, _ = strings.Cut(opts, ",")
			switch o {
			case "string":
				return nil, false
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			}
		}
		if seen[name] {
			// encoding/json's dominance rules pick one or neither.
			return nil, false
		}
		seen[name] = true
		fields = append(fields, f)
	}
	if len(fields) > maxFields {
		return nil, false
	}
	return fields, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// sliceHeader is the layout of a Go slice.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

// kind is what the decoder and the encoder do with a value.
type kind uint8

const (
	kBool kind = iota
	kString
	kInt8
	kInt16
	kInt32
	kInt64
	kUint8
	kUint16
	kUint32
	kUint64
	kFloat32
	kFloat64
	kPointer
	kSlice
	kStruct
	kMap
)

// scalarKind maps a scalar reflect.Kind to its kind, by size for the
// platform-sized integers.
func scalarKind(t reflect.Type) (kind, bool) {
	switch t.Kind() {
	case reflect.Bool:
		return kBool, true
	case reflect.String:
		return kString, true
	case reflect.Int8:
		return kInt8, true
	case reflect.Int16:
		return kInt16, true
	case reflect.Int32:
		return kInt32, true
	case reflect.Int64:
		return kInt64, true
	case reflect.Int:
		if t.Size() == 4 {
			return kInt32, true
		}
		return kInt64, true
	case reflect.Uint8:
		return kUint8, true
	case reflect.Uint16:
		return kUint16, true
	case reflect.Uint32:
		return kUint32, true
	case reflect.Uint64:
		return kUint64, true
	case reflect.Uint, reflect.Uintptr:
		if t.Size() == 4 {
			return kUint32, true
		}
		return kUint64, true
	case reflect.Float32:
		return kFloat32, true
	case reflect.Float64:
		return kFloat64, true
	}
	return 0, false
}
