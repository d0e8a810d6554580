package codec

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/wsroute/wsroute/internal/frame"
)

// Encoder encodes values of one Go type as json.Marshal does, or declines.
type Encoder struct {
	root *encNode
}

// encNode is the plan for encoding one Go type.
type encNode struct {
	kind     kind
	typ      reflect.Type
	elem     *encNode // pointer, slice, map: the element's plan
	elemSize uintptr  // slice
	fields   []encField
}

type encField struct {
	key       string // `"name":`, escaped as encoding/json escapes it
	offset    uintptr
	node      *encNode
	omitEmpty bool
}

// maxEncodeDepth bounds the pointers, slices and maps the encoder follows
// into one another; deeper values (or cycles) fall back. encoding/json only
// starts to look for cycles after 1000 levels.
const maxEncodeDepth = 1000

// NewEncoder returns an encoder for values of type t, or nil when t, or a
// type it contains, is one this package does not encode exactly as
// encoding/json does: interfaces, arrays, []byte, channels, functions,
// complex numbers, types with a MarshalJSON or MarshalText method (on T or
// *T), json.Number, maps with keys other than plain strings, and structs with
// embedded fields, ",string" or ",omitzero" fields, or JSON names used twice.
func NewEncoder(t reflect.Type) *Encoder {
	b := encBuilder{nodes: map[reflect.Type]*encNode{}}
	n := b.node(t)
	if n == nil {
		return nil
	}
	return &Encoder{root: n}
}

type encBuilder struct {
	nodes map[reflect.Type]*encNode // built or being built (recursive types)
}

func (b *encBuilder) node(t reflect.Type) *encNode {
	if n, ok := b.nodes[t]; ok {
		return n
	}
	if custom(t, jsonMarshalerType, textMarshalerType) {
		return nil
	}
	n := &encNode{typ: t}
	b.nodes[t] = n
	if k, ok := scalarKind(t); ok {
		n.kind = k
		return n
	}
	switch t.Kind() {
	case reflect.Pointer:
		n.kind = kPointer
		if n.elem = b.node(t.Elem()); n.elem == nil {
			return nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64: not replicated
		}
		n.kind = kSlice
		n.elemSize = t.Elem().Size()
		if n.elem = b.node(t.Elem()); n.elem == nil {
			return nil
		}
	case reflect.Map:
		kt := t.Key()
		if kt.Kind() != reflect.String || custom(kt, jsonMarshalerType, textMarshalerType) {
			return nil
		}
		n.kind = kMap
		if n.elem = b.node(t.Elem()); n.elem == nil {
			return nil
		}
	case reflect.Struct:
		n.kind = kStruct
		fields, ok := structFields(t)
		if !ok {
			return nil
		}
		for _, f := range fields {
			if f.omitZero {
				return nil // IsZero methods and reflect's zero rules: not replicated
			}
			fn := b.node(f.typ)
			if fn == nil {
				return nil
			}
			key := string(frame.AppendString(nil, f.name)) + ":"
			n.fields = append(n.fields, encField{key: key, offset: f.offset, node: fn, omitEmpty: f.omitEmpty})
		}
	default:
		return nil
	}
	return n
}

// Append appends to dst the JSON encoding of the value of the encoder's type
// at p, exactly what json.Marshal would return for it, and reports true; or
// it reports false and returns dst unchanged (same length) when the value is
// one it does not encode: a NaN or infinite float (json.Marshal fails), or
// pointers, slices and maps nested more than 1000 deep (perhaps a cycle).
func (e *Encoder) Append(dst []byte, p unsafe.Pointer) ([]byte, bool) {
	n := len(dst)
	out, ok := e.root.append(dst, p, 0)
	if !ok {
		return dst[:n], false
	}
	return out, true
}

func (n *encNode) append(dst []byte, p unsafe.Pointer, depth int) ([]byte, bool) {
	switch n.kind {
	case kBool:
		if *(*bool)(p) {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case kString:
		return frame.AppendString(dst, *(*string)(p)), true
	case kInt8:
		return strconv.AppendInt(dst, int64(*(*int8)(p)), 10), true
	case kInt16:
		return strconv.AppendInt(dst, int64(*(*int16)(p)), 10), true
	case kInt32:
		return strconv.AppendInt(dst, int64(*(*int32)(p)), 10), true
	case kInt64:
		return strconv.AppendInt(dst, *(*int64)(p), 10), true
	case kUint8:
		return strconv.AppendUint(dst, uint64(*(*uint8)(p)), 10), true
	case kUint16:
		return strconv.AppendUint(dst, uint64(*(*uint16)(p)), 10), true
	case kUint32:
		return strconv.AppendUint(dst, uint64(*(*uint32)(p)), 10), true
	case kUint64:
		return strconv.AppendUint(dst, *(*uint64)(p), 10), true
	case kFloat32:
		return appendFloat(dst, float64(*(*float32)(p)), 32)
	case kFloat64:
		return appendFloat(dst, *(*float64)(p), 64)
	case kPointer:
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			return append(dst, "null"...), true
		}
		if depth >= maxEncodeDepth {
			return dst, false
		}
		return n.elem.append(dst, q, depth+1)
	case kStruct:
		return n.appendStruct(dst, p, depth)
	case kSlice:
		h := (*sliceHeader)(p)
		if h.data == nil {
			return append(dst, "null"...), true
		}
		if depth >= maxEncodeDepth {
			return dst, false
		}
		dst = append(dst, '[')
		for i := 0; i < h.len; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = n.elem.append(dst, unsafe.Add(h.data, uintptr(i)*n.elemSize), depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case kMap:
		return n.appendMap(dst, p, depth)
	}
	return dst, false
}

func (n *encNode) appendStruct(dst []byte, p unsafe.Pointer, depth int) ([]byte, bool) {
	next := byte('{')
	for i := range n.fields {
		f := &n.fields[i]
		fp := unsafe.Add(p, f.offset)
		if f.omitEmpty && f.node.empty(fp) {
			continue
		}
		dst = append(dst, next)
		next = ','
		dst = append(dst, f.key...)
		var ok bool
		if dst, ok = f.node.append(dst, fp, depth); !ok {
			return dst, false
		}
	}
	if next == '{' {
		return append(dst, "{}"...), true
	}
	return append(dst, '}'), true
}

type mapEntry struct {
	key string
	val unsafe.Pointer
}

func (n *encNode) appendMap(dst []byte, p unsafe.Pointer, depth int) ([]byte, bool) {
	mv := reflect.NewAt(n.typ, p).Elem()
	if mv.IsNil() {
		return append(dst, "null"...), true
	}
	if depth >= maxEncodeDepth {
		return dst, false
	}
	entries := make([]mapEntry, 0, mv.Len())
	for it := mv.MapRange(); it.Next(); {
		v := reflect.New(n.elem.typ)
		v.Elem().SetIterValue(it)
		entries = append(entries, mapEntry{key: it.Key().String(), val: v.UnsafePointer()})
	}
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for i, en := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = frame.AppendString(dst, en.key)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = n.elem.append(dst, en.val, depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// empty is encoding/json's isEmptyValue, for omitempty.
func (n *encNode) empty(p unsafe.Pointer) bool {
	switch n.kind {
	case kBool:
		return !*(*bool)(p)
	case kString:
		return len(*(*string)(p)) == 0
	case kInt8, kUint8:
		return *(*uint8)(p) == 0
	case kInt16, kUint16:
		return *(*uint16)(p) == 0
	case kInt32, kUint32:
		return *(*uint32)(p) == 0
	case kInt64, kUint64:
		return *(*uint64)(p) == 0
	case kFloat32:
		return *(*float32)(p) == 0 // true for -0 too, as reflect's IsZero
	case kFloat64:
		return *(*float64)(p) == 0
	case kPointer:
		return *(*unsafe.Pointer)(p) == nil
	case kSlice:
		return (*sliceHeader)(p).len == 0
	case kMap:
		return reflect.NewAt(n.typ, p).Elem().Len() == 0
	}
	return false // structs are never empty
}

// appendFloat is encoding/json's floatEncoder: like ES6's number to string
// conversion. NaN and infinities fail, as json.Marshal does.
func appendFloat(dst []byte, f float64, bits int) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}
