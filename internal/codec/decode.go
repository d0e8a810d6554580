package codec

import (
	"github.com/wsroute/wsroute/internal/frame"
	"math"
	"reflect"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Decoder decodes JSON texts into values of one Go type, as json.Unmarshal
// does, or declines.
type Decoder struct {
	root *decNode
}

// decNode is the plan for decoding into one Go type.
type decNode struct {
	kind kind
	typ  reflect.Type
	elem *decNode // pointer, slice, map: the element's plan

	// slice
	elemSize  uintptr
	emptyData unsafe.Pointer // the data pointer of a non-nil empty slice

	// struct
	fields   []decField
	byName   map[string]int // exact names, for structs with many fields
	nonASCII bool           // some field name is not ASCII

	// map
	keyType reflect.Type
}

type decField struct {
	name   string
	offset uintptr
	node   *decNode
}

// manyFields is the field count from which a struct's keys are looked up in
// a map instead of by a linear scan.
const manyFields = 9

// maxDepth bounds the nesting of arrays and objects the decoder follows;
// deeper input falls back (encoding/json's own limit is 10000).
const maxDepth = 1000

// NewDecoder returns a decoder for values of type t, or nil when t, or a type
// it contains, is one this package does not decode exactly as encoding/json
// does: interfaces, arrays, []byte, channels, functions, complex numbers,
// types with an UnmarshalJSON or UnmarshalText method (on T or *T),
// json.Number, maps with keys other than plain strings, and structs with
// embedded fields, ",string" fields, JSON names used twice or more than 64
// fields.
func NewDecoder(t reflect.Type) *Decoder {
	b := decBuilder{nodes: map[reflect.Type]*decNode{}}
	n := b.node(t)
	if n == nil {
		return nil
	}
	return &Decoder{root: n}
}

type decBuilder struct {
	nodes map[reflect.Type]*decNode // built or being built (recursive types)
}

func (b *decBuilder) node(t reflect.Type) *decNode {
	if n, ok := b.nodes[t]; ok {
		return n
	}
	if custom(t, jsonUnmarshalerType, textUnmarshalerType) {
		return nil
	}
	n := &decNode{typ: t}
	if k, ok := scalarKind(t); ok {
		n.kind = k
		b.nodes[t] = n
		return n
	}
	b.nodes[t] = n
	switch t.Kind() {
	case reflect.Pointer:
		n.kind = kPointer
		if n.elem = b.node(t.Elem()); n.elem == nil {
			return nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64, or numbers: not replicated
		}
		n.kind = kSlice
		n.elemSize = t.Elem().Size()
		n.emptyData = reflect.MakeSlice(t, 0, 0).UnsafePointer()
		if n.elem = b.node(t.Elem()); n.elem == nil {
			return nil
		}
	case reflect.Map:
		kt := t.Key()
		if kt.Kind() != reflect.String || custom(kt, jsonUnmarshalerType, textUnmarshalerType) {
			return nil
		}
		n.kind = kMap
		n.keyType = kt
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
			fn := b.node(f.typ)
			if fn == nil {
				return nil
			}
			n.fields = append(n.fields, decField{name: f.name, offset: f.offset, node: fn})
			if !isASCII(f.name) {
				n.nonASCII = true
			}
		}
		if len(n.fields) >= manyFields {
			n.byName = make(map[string]int, len(n.fields))
			for i, f := range n.fields {
				n.byName[f.name] = i
			}
		}
	default:
		return nil
	}
	return n
}

// Decode decodes the JSON text data into the value of the decoder's type at
// p, which must hold the type's zero value. It reports true only when
// json.Unmarshal(data, v), v a pointer to a zero value, would return nil and
// leave in *v a value deeply equal to the one at p. When it reports false,
// the value at p is undefined (partly decoded): zero it and call
// json.Unmarshal, which gives the error or the result.
//
// Decoded strings never share memory with data.
func (d *Decoder) Decode(data []byte, p unsafe.Pointer) bool {
	s := decState{data: data}
	i := s.value(d.root, p, skipWS(data, 0))
	return i >= 0 && skipWS(data, i) == len(data)
}

// decState is one Decode call. Its methods take the index of a value's
// first byte and return the index after it, or -1 to fall back.
type decState struct {
	data  []byte
	depth int
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func hasLit(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}

func (s *decState) value(n *decNode, p unsafe.Pointer, i int) int {
	data := s.data
	if i >= len(data) {
		return -1
	}
	c := data[i]
	if c == 'n' {
		if !hasLit(data, i, "null") {
			return -1
		}
		// null sets pointers, slices and maps to nil and leaves other
		// values alone. The value at p is zero (a repeated key falls
		// back), so there is nothing to do.
		return i + 4
	}
	switch n.kind {
	case kString:
		if c != '"' {
			return -1
		}
		return s.str(p, i)
	case kBool:
		if c == 't' && hasLit(data, i, "true") {
			*(*bool)(p) = true
			return i + 4
		}
		if c == 'f' && hasLit(data, i, "false") {
			*(*bool)(p) = false
			return i + 5
		}
		return -1
	case kInt8, kInt16, kInt32, kInt64, kUint8, kUint16, kUint32, kUint64:
		return s.integer(n.kind, p, i)
	case kFloat32, kFloat64:
		return s.float(n.kind, p, i)
	case kPointer:
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			q = reflect.New(n.elem.typ).UnsafePointer()
			*(*unsafe.Pointer)(p) = q
		}
		return s.value(n.elem, q, i)
	case kStruct:
		if c != '{' {
			return -1
		}
		return s.object(n, p, i)
	case kSlice:
		if c != '[' {
			return -1
		}
		return s.slice(n, p, i)
	case kMap:
		if c != '{' {
			return -1
		}
		return s.mapObject(n, p, i)
	}
	return -1
}

func (s *decState) str(p unsafe.Pointer, i int) int {
	end, flags := scanString(s.data, i)
	if end < 0 {
		return -1
	}
	body := s.data[i+1 : end-1]
	if flags&strNonASCII != 0 && !utf8.Valid(body) {
		return -1 // encoding/json replaces invalid UTF-8; not replicated
	}
	if flags&strEscaped == 0 {
		*(*string)(p) = string(body)
	} else {
		b := unescape(make([]byte, 0, len(body)), body)
		*(*string)(p) = unsafe.String(unsafe.SliceData(b), len(b))
	}
	return end
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *decState) integer(k kind, p unsafe.Pointer, i int) int {
	data := s.data
	neg := data[i] == '-'
	if neg {
		i++
	}
	if i >= len(data) {
		return -1
	}
	var u uint64
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for ; i < len(data) && isDigit(data[i]); i++ {
			d := uint64(data[i] - '0')
			if u > (math.MaxUint64-d)/10 {
				return -1 // out of range for any integer type
			}
			u = u*10 + d
		}
	default:
		return -1
	}
	if i < len(data) {
		switch data[i] {
		case '.', 'e', 'E':
			// encoding/json refuses a fraction or exponent for an integer
			// (strconv.ParseInt).
			return -1
		}
	}
	switch k {
	case kInt8, kInt16, kInt32, kInt64:
		bits := uint(8) << (k - kInt8)
		limit := uint64(1) << (bits - 1)
		if !neg {
			limit--
		}
		if u > limit {
			return -1
		}
		v := int64(u)
		if neg {
			v = -v
		}
		switch k {
		case kInt8:
			*(*int8)(p) = int8(v)
		case kInt16:
			*(*int16)(p) = int16(v)
		case kInt32:
			*(*int32)(p) = int32(v)
		default:
			*(*int64)(p) = v
		}
	default:
		if neg {
			return -1 // strconv.ParseUint refuses a sign, even in "-0"
		}
		bits := uint(8) << (k - kUint8)
		if bits < 64 && u >= uint64(1)<<bits {
			return -1
		}
		switch k {
		case kUint8:
			*(*uint8)(p) = uint8(u)
		case kUint16:
			*(*uint16)(p) = uint16(u)
		case kUint32:
			*(*uint32)(p) = uint32(u)
		default:
			*(*uint64)(p) = u
		}
	}
	return i
}

func (s *decState) float(k kind, p unsafe.Pointer, i int) int {
	end := scanNumber(s.data, i)
	if end < 0 {
		return -1
	}
	num := unsafe.String(&s.data[i], end-i)
	if k == kFloat32 {
		f, err := strconv.ParseFloat(num, 32)
		if err != nil {
			return -1
		}
		*(*float32)(p) = float32(f)
	} else {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return -1
		}
		*(*float64)(p) = f
	}
	return end
}

// afterValue reads what follows a member or element that ended at i (-1: it
// failed): a ',' (more, and i at the next token) or the container's closer
// (not more, i past it, the depth given back); anything else fails (-1).
func (s *decState) afterValue(i int, closer byte) (next int, more bool) {
	if i < 0 {
		return -1, false
	}
	data := s.data
	if i = skipWS(data, i); i >= len(data) {
		return -1, false
	}
	switch data[i] {
	case ',':
		return skipWS(data, i+1), true
	case closer:
		s.depth--
		return i + 1, false
	}
	return -1, false
}

// object decodes a JSON object (data[i] is '{') into a struct.
func (s *decState) object(n *decNode, p unsafe.Pointer, i int) int {
	if s.depth++; s.depth > maxDepth {
		return -1
	}
	data := s.data
	var seen uint64
	var scratch [64]byte
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		s.depth--
		return i + 1
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return -1
		}
		end, flags := scanString(data, i)
		if end < 0 {
			return -1
		}
		key := data[i+1 : end-1]
		if flags&strEscaped != 0 {
			key = unescape(scratch[:0], key)
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return -1
		}
		i = skipWS(data, i+1)
		f := n.find(key)
		switch {
		case f == fieldUnsure:
			return -1
		case f == fieldNone:
			i = s.skip(i)
		default:
			if seen&(1<<f) != 0 {
				return -1 // a repeated key: encoding/json merges, not replicated
			}
			seen |= 1 << f
			fd := &n.fields[f]
			i = s.value(fd.node, unsafe.Add(p, fd.offset), i)
		}
		var more bool
		if i, more = s.afterValue(i, '}'); !more {
			return i
		}
	}
}

const (
	fieldNone   = -1 // no field: the member is ignored
	fieldUnsure = -2 // encoding/json might match a field case-insensitively
)

// find returns the index of the field with JSON name key, fieldNone, or
// fieldUnsure when encoding/json's case-insensitive match (Unicode simple
// folding) might pick a field.
func (n *decNode) find(key []byte) int {
	if n.byName != nil {
		if f, ok := n.byName[string(key)]; ok {
			return f
		}
	} else {
		for f := range n.fields {
			if n.fields[f].name == string(key) {
				return f
			}
		}
	}
	if n.nonASCII {
		return fieldUnsure
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return fieldUnsure // may fold to ASCII (U+212A KELVIN SIGN is 'k')
		}
	}
	for f := range n.fields {
		if equalFoldASCII(n.fields[f].name, key) {
			return fieldUnsure
		}
	}
	return fieldNone
}

func equalFoldASCII(name string, key []byte) bool {
	if len(name) != len(key) {
		return false
	}
	for i := 0; i < len(key); i++ {
		a, b := name[i], key[i]
		if 'a' <= a && a <= 'z' {
			a -= 'a' - 'A'
		}
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// slice decodes a JSON array (data[i] is '[') into a nil slice.
func (s *decState) slice(n *decNode, p unsafe.Pointer, i int) int {
	if s.depth++; s.depth > maxDepth {
		return -1
	}
	data := s.data
	h := (*sliceHeader)(p)
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		h.data = n.emptyData // encoding/json makes [] a non-nil empty slice
		s.depth--
		return i + 1
	}
	// Grown through reflect, so the backing array has the element type.
	sv := reflect.NewAt(n.typ, p).Elem()
	for {
		if h.len == h.cap {
			sv.Grow(1)
		}
		h.len++
		i = s.value(n.elem, unsafe.Add(h.data, uintptr(h.len-1)*n.elemSize), i)
		var more bool
		if i, more = s.afterValue(i, ']'); !more {
			return i
		}
	}
}

// mapObject decodes a JSON object (data[i] is '{') into a map with string
// keys.
func (s *decState) mapObject(n *decNode, p unsafe.Pointer, i int) int {
	if s.depth++; s.depth > maxDepth {
		return -1
	}
	data := s.data
	mv := reflect.NewAt(n.typ, p).Elem()
	if mv.IsNil() {
		mv.Set(reflect.MakeMap(n.typ))
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		s.depth--
		return i + 1
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return -1
		}
		kp := reflect.New(n.keyType)
		if i = s.str(kp.UnsafePointer(), i); i < 0 {
			return -1
		}
		i = skipWS(data, i)
		if i >= len(data) || data[i] != ':' {
			return -1
		}
		ev := reflect.New(n.elem.typ)
		if i = s.value(n.elem, ev.UnsafePointer(), skipWS(data, i+1)); i < 0 {
			return -1
		}
		mv.SetMapIndex(kp.Elem(), ev.Elem())
		var more bool
		if i, more = s.afterValue(i, '}'); !more {
			return i
		}
	}
}

// skip checks and skips any JSON value.
func (s *decState) skip(i int) int {
	data := s.data
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; c {
	case '"':
		end, _ := scanString(data, i)
		return end
	case 't':
		if hasLit(data, i, "true") {
			return i + 4
		}
	case 'f':
		if hasLit(data, i, "false") {
			return i + 5
		}
	case 'n':
		if hasLit(data, i, "null") {
			return i + 4
		}
	case '{', '[':
		if s.depth++; s.depth > maxDepth {
			return -1
		}
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == closer {
			s.depth--
			return i + 1
		}
		for {
			if c == '{' {
				if i >= len(data) || data[i] != '"' {
					return -1
				}
				if i, _ = scanString(data, i); i < 0 {
					return -1
				}
				i = skipWS(data, i)
				if i >= len(data) || data[i] != ':' {
					return -1
				}
				i = skipWS(data, i+1)
			}
			var more bool
			if i, more = s.afterValue(s.skip(i), closer); !more {
				return i
			}
		}
	default:
		return scanNumber(data, i)
	}
	return -1
}

// scanNumber returns the index after the JSON number at data[i], or -1.
func scanNumber(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return -1
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return -1
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	return i
}

const (
	strEscaped  = 1 << iota // the string holds a backslash escape
	strNonASCII             // the string holds a byte ≥ 0x80
)

// scanString returns the index after the JSON string starting at data[i]
// (a '"'), or -1, and what it holds.
func scanString(data []byte, i int) (int, uint8) {
	var flags uint8
	for i++; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			return i + 1, flags
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(data) {
				return -1, 0
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(data)-i < 6 || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return -1, 0
				}
				i += 6
			default:
				return -1, 0
			}
		case c < ' ':
			return -1, 0
		default:
			if c >= utf8.RuneSelf {
				flags |= strNonASCII
			}
			i++
		}
	}
	return -1, 0
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unescape appends to dst the body of a JSON string (scanString checked it,
// and it is valid UTF-8), unescaped as encoding/json does: a \u escape of a
// surrogate that does not pair with a following \u escape gives U+FFFD.
func unescape(dst, body []byte) []byte {
	for r := 0; r < len(body); {
		c := body[r]
		if c != '\\' {
			start := r
			for r < len(body) && body[r] != '\\' {
				r++
			}
			dst = append(dst, body[start:r]...)
			continue
		}
		switch e := body[r+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			rr := frame.Hex4(body[r+2:])
			r += 6
			if utf16.IsSurrogate(rr) {
				if len(body)-r >= 6 && body[r] == '\\' && body[r+1] == 'u' {
					if dec := utf16.DecodeRune(rr, frame.Hex4(body[r+2:])); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						r += 6
						continue
					}
				}
				rr = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, rr)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		r += 2
	}
	return dst
}
