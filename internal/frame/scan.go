package frame

import (
	"encoding/binary"
	"math/bits"
)

// maxDepth is encoding/json's maxNestingDepth: its scanner pushes one parse
// state per open array or object and fails once more than maxDepth are open,
// so 10000 nested containers are valid and 10001 are not.
const maxDepth = 10000

// String scan flags reported by scanString.
const (
	strEscape = 1 << iota // the string contains a backslash escape
	strHigh               // the string contains a byte >= 0x80
)

const (
	lsbs = 0x0101010101010101
	msbs = 0x8080808080808080
)

// skipWS returns the index of the first non-whitespace byte at or after i
// (len(data) if there is none). Whitespace is space, \t, \n and \r only.
func skipWS(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// scanString scans the string whose opening quote is at data[i] and returns
// the index just past its closing quote, or -1 if it is not a valid JSON
// string. flags tells whether it holds escapes or non-ASCII bytes.
func scanString(data []byte, i int) (end int, flags uint8) {
	i++
	n := len(data)
	var high uint64
	for {
		// Skip eight plain bytes at a time: stop at the first '"', '\\' or
		// control byte. The lowest flagged bit is exact (borrows only travel
		// upwards), so it locates the first special byte.
		for i+8 <= n {
			v := binary.LittleEndian.Uint64(data[i:])
			m := ((v - 0x20*lsbs) | ((v ^ '"'*lsbs) - lsbs) | ((v ^ '\\'*lsbs) - lsbs)) &^ v & msbs
			if m != 0 {
				k := uint(bits.TrailingZeros64(m)) &^ 7
				high |= v & (1<<k - 1)
				i += int(k >> 3)
				break
			}
			high |= v
			i += 8
		}
		if i >= n {
			return -1, 0
		}
		switch c := data[i]; {
		case c == '"':
			if high&msbs != 0 {
				flags |= strHigh
			}
			return i + 1, flags
		case c == '\\':
			flags |= strEscape
			if i+1 >= n {
				return -1, 0
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > n || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return -1, 0
				}
				i += 6
			default:
				return -1, 0
			}
		case c < 0x20:
			return -1, 0
		default:
			high |= uint64(c)
			i++
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber scans the number starting at data[i] and returns the index just
// past it, or -1 if data[i:] does not start with a valid JSON number.
func scanNumber(data []byte, i int) int {
	n := len(data)
	if data[i] == '-' {
		if i++; i >= n {
			return -1
		}
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i++; i < n && isDigit(data[i]); i++ {
		}
	default:
		return -1
	}
	if i < n && data[i] == '.' {
		if i++; i >= n || !isDigit(data[i]) {
			return -1
		}
		for i++; i < n && isDigit(data[i]); i++ {
		}
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		if i++; i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= n || !isDigit(data[i]) {
			return -1
		}
		for i++; i < n && isDigit(data[i]); i++ {
		}
	}
	return i
}

// hasLit reports whether data[i:] starts with lit.
func hasLit(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}

// scanValue scans the value starting at data[i] (i < len(data), no leading
// whitespace) at nesting depth depth (1 for a top-level container) and
// returns the index just past it and its kind, or -1 and Invalid.
func scanValue(data []byte, i, depth int) (int, Kind) {
	switch data[i] {
	case '"':
		end, _ := scanString(data, i)
		return end, String
	case '{', '[':
		return skipContainer(data, i, depth)
	case 't':
		if hasLit(data, i, "true") {
			return i + 4, Bool
		}
	case 'f':
		if hasLit(data, i, "false") {
			return i + 5, Bool
		}
	case 'n':
		if hasLit(data, i, "null") {
			return i + 4, Null
		}
	default:
		return scanNumber(data, i), Number
	}
	return -1, Invalid
}

// bitStack records, for each open container, whether it is an object. The
// first 64 levels need no allocation.
type bitStack struct {
	n  int
	lo uint64
	hi []uint64
}

func (s *bitStack) push(obj bool) {
	var b uint64
	if obj {
		b = 1
	}
	if s.n < 64 {
		s.lo = s.lo&^(1<<s.n) | b<<s.n
	} else {
		k := s.n - 64
		if k>>6 == len(s.hi) {
			s.hi = append(s.hi, 0)
		}
		s.hi[k>>6] = s.hi[k>>6]&^(1<<(k&63)) | b<<(k&63)
	}
	s.n++
}

// pop removes the innermost container and reports whether the new innermost
// one is an object (false when the stack becomes empty).
func (s *bitStack) pop() bool {
	s.n--
	k := s.n - 1
	switch {
	case k < 0:
		return false
	case k < 64:
		return s.lo>>k&1 == 1
	default:
		k -= 64
		return s.hi[k>>6]>>(k&63)&1 == 1
	}
}

// skipContainer scans the array or object opening at data[i], at nesting
// depth depth, without recursion. It returns the index just past the closing
// bracket and the container's kind, or -1 and Invalid.
func skipContainer(data []byte, i, depth int) (int, Kind) {
	var (
		st    bitStack
		n     = len(data)
		kind  = Array
		inObj bool
		c     byte
	)
	if data[i] == '{' {
		kind = Object
	}
open: // data[i] is '{' or '['
	if depth > maxDepth {
		return -1, Invalid
	}
	inObj = data[i] == '{'
	st.push(inObj)
	if i = skipWS(data, i+1); i >= n {
		return -1, Invalid
	}
	if c = data[i]; c == '}' && inObj || c == ']' && !inObj {
		goto closed
	}
	if !inObj {
		goto value
	}
key: // data[i] must start a member key
	if data[i] != '"' {
		return -1, Invalid
	}
	if i, _ = scanString(data, i); i < 0 {
		return -1, Invalid
	}
	if i = skipWS(data, i); i >= n || data[i] != ':' {
		return -1, Invalid
	}
	if i = skipWS(data, i+1); i >= n {
		return -1, Invalid
	}
value: // data[i] must start a value
	switch data[i] {
	case '{', '[':
		depth++
		goto open
	default:
		i, _ = scanValue(data, i, depth)
	}
	if i < 0 {
		return -1, Invalid
	}
after: // a value ended just before data[i]
	if i = skipWS(data, i); i >= n {
		return -1, Invalid
	}
	switch c = data[i]; {
	case c == ',':
		if i = skipWS(data, i+1); i >= n {
			return -1, Invalid
		}
		if inObj {
			goto key
		}
		goto value
	case c == '}' && inObj, c == ']' && !inObj:
	default:
		return -1, Invalid
	}
closed: // data[i] closes the innermost container
	i++
	depth--
	inObj = st.pop()
	if st.n > 0 {
		goto after
	}
	return i, kind
}

// member is one object member found by objIter.
type member struct {
	key  []byte // raw key, quotes included
	esc  bool   // the key holds escapes or non-ASCII bytes and must be decoded to compare it
	kind Kind   // kind of the value
	val  []byte // raw value, capacity clipped
}

// keyIs reports whether the member's unescaped key equals k.
func (m *member) keyIs(k string) bool {
	body := m.key[1 : len(m.key)-1]
	if !m.esc {
		return string(body) == k
	}
	return keyEqual(body, k)
}

// objIter walks the members of an object while validating it.
type objIter struct {
	data  []byte
	i     int  // start of the next member; after the walk, just past '}'
	depth int  // nesting depth of the members' values
	done  bool // the closing brace has been consumed
	bad   bool // the object is not valid JSON
}

// init prepares to walk the object opening at data[i], at nesting depth depth.
func (it *objIter) init(data []byte, i, depth int) {
	*it = objIter{data: data, depth: depth + 1}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
		it.done = true
	}
	it.i = i
}

// next fills m with the next member and reports whether there was one. After
// it returns false, bad tells whether the object was invalid.
func (it *objIter) next(m *member) bool {
	if it.done || it.bad {
		return false
	}
	data, i, n := it.data, it.i, len(it.data)
	if i >= n || data[i] != '"' {
		return it.fail()
	}
	end, flags := scanString(data, i)
	if end < 0 {
		return it.fail()
	}
	m.key, m.esc = data[i:end], flags != 0
	if i = skipWS(data, end); i >= n || data[i] != ':' {
		return it.fail()
	}
	if i = skipWS(data, i+1); i >= n {
		return it.fail()
	}
	start := i
	if i, m.kind = scanValue(data, i, it.depth); i < 0 {
		return it.fail()
	}
	m.val = data[start:i:i]
	if i = skipWS(data, i); i >= n {
		return it.fail()
	}
	switch data[i] {
	case ',':
		it.i = skipWS(data, i+1)
	case '}':
		it.i, it.done = i+1, true
	default:
		return it.fail()
	}
	return true
}

func (it *objIter) fail() bool {
	it.bad = true
	return false
}
