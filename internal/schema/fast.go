package schema

import (
	"bytes"
	"encoding/json"
	"math/big"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/wsroute/wsroute/internal/frame"
)

// verdict is what the fast program concludes about one value.
type verdict uint8

const (
	vValid   verdict = iota // valid, and Decode/DecodeObject accept the input
	vInvalid                // invalid, whatever duplicate keys there are
	vUnknown                // cannot decide cheaply: duplicate keys, a refused literal, input that is not valid JSON
)

func (v verdict) String() string {
	switch v {
	case vValid:
		return "valid"
	case vInvalid:
		return "invalid"
	}
	return "unknown"
}

// Fast reports whether the schema has a fast program: ValidateObject and
// ValidateJSON then decide valid input from its bytes alone.
func (s *Schema) Fast() bool { return s.fast != nil }

// ValidateObject is DecodeObject(frame, skip...) followed by Validate: the
// same error, or the same details in the same order. When the schema has a
// fast program (see the package documentation) a valid frame is accepted
// from its bytes without decoding and without allocating; otherwise, and
// whenever the fast program finds the frame invalid or cannot decide, the
// frame is decoded and validated as Validate does.
func (s *Schema) ValidateObject(frame []byte, skip ...string) ([]Detail, error) {
	if s.fast != nil && s.verdict(frame, skip) == vValid {
		return nil, nil
	}
	v, err := DecodeObject(frame, skip...)
	if err != nil {
		return nil, err
	}
	return s.Validate(v), nil
}

// ValidateJSON is Decode(data) followed by Validate, for one JSON value of
// any kind, with the fast program used as in ValidateObject.
func (s *Schema) ValidateJSON(data []byte) ([]Detail, error) {
	if s.fast != nil && s.verdict(data, nil) == vValid {
		return nil, nil
	}
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return s.Validate(v), nil
}

// maxWalkLen is the longest input whose top-level object is checked for
// validity by the walk itself: frame.ObjectIter allows one more level of
// nesting than DecodeAny, and 10001 levels take more than 20000 bytes.
const maxWalkLen = 20000

// verdict runs the fast program over data, a JSON text whose top-level
// object members with a key in skip are left out.
func (s *Schema) verdict(data []byte, skip []string) verdict {
	i := skipWS(data, 0)
	if i == len(data) {
		return vUnknown
	}
	end := len(data)
	for end > i && isWS(data[end-1]) {
		end--
	}
	w := walker{skip: skip}
	if data[i] == '{' && len(data) <= maxWalkLen {
		r := w.eval(s.fast, frame.Object, data[i:end], true)
		if r != vValid {
			return r
		}
		if w.topDone && topEnds(data, i, w.topLast) {
			return vValid
		}
		// The walk did not see the whole object: check the syntax.
		if frame.Parse(data, "", "").Kind == frame.Invalid {
			return vUnknown
		}
		return vValid
	}
	f := frame.Parse(data, "", "")
	if f.Kind == frame.Invalid {
		return vUnknown
	}
	return w.eval(s.fast, f.Kind, data[i:end], f.Kind == frame.Object)
}

// topEnds reports whether the top-level object, opening at data[open] and
// walked by frame.ObjectIter up to its last member value last (nil if it has
// no members), is followed by only white space after its closing brace.
func topEnds(data []byte, open int, last []byte) bool {
	j := open + 1
	if last != nil {
		// last is a sub-slice of data: its offset is its distance from
		// data's start. Anything else means the iterator copied it.
		off := uintptr(unsafe.Pointer(unsafe.SliceData(last))) - uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		if off >= uintptr(len(data)) || uintptr(len(last)) > uintptr(len(data))-off {
			return false
		}
		j = int(off) + len(last)
	}
	j = skipWS(data, j)
	if j >= len(data) || data[j] != '}' {
		return false
	}
	return skipWS(data, j+1) == len(data)
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(data []byte, i int) int {
	for i < len(data) && isWS(data[i]) {
		i++
	}
	return i
}

// walker holds the state of one run of the fast program.
type walker struct {
	skip    []string // top-level keys left out
	topDone bool     // the top-level object was walked to its end
	topLast []byte   // its last member value, nil if none
}

// eval applies n to the value raw of kind k; top says raw is the top-level
// value (where skip applies).
func (w *walker) eval(n *node, k frame.Kind, raw []byte, top bool) verdict {
	if n.never {
		return vInvalid
	}
	var num number
	if k == frame.Number {
		if checkLiteral(raw) != nil {
			return vUnknown // Decode refuses it
		}
		if n.types != 0 || n.num != nil || n.konst != nil || n.enum != nil {
			num = newNumber(raw)
		}
	}
	if n.types != 0 {
		if r := typeOK(n.types, k, &num); r != vValid {
			return r
		}
	}
	if n.konst != nil {
		if r := n.konst.has(k, raw, &num); r != vValid {
			return r
		}
	}
	if n.enum != nil {
		if r := n.enum.has(k, raw, &num); r != vValid {
			return r
		}
	}
	r := vValid
	switch k {
	case frame.Object:
		if n.obj != nil {
			r = w.evalObject(n.obj, raw, top)
		} else {
			r = limitsIn(raw)
		}
	case frame.Array:
		if n.arr != nil {
			r = w.evalArray(n.arr, raw)
		} else {
			r = limitsIn(raw)
		}
	case frame.String:
		if n.str != nil {
			r = n.str.eval(raw)
		}
	case frame.Number:
		if n.num != nil {
			r = n.num.eval(&num)
		}
	}
	if r != vValid {
		return r
	}
	if n.ref != nil {
		if r := w.eval(n.ref, k, raw, top); r != vValid {
			return r
		}
	}
	for _, a := range n.allOf {
		if r := w.eval(a, k, raw, top); r != vValid {
			return r
		}
	}
	return vValid
}

func typeOK(t uint8, k frame.Kind, num *number) verdict {
	var ok bool
	switch k {
	case frame.Null:
		ok = t&tNull != 0
	case frame.Bool:
		ok = t&tBool != 0
	case frame.String:
		ok = t&tString != 0
	case frame.Array:
		ok = t&tArray != 0
	case frame.Object:
		ok = t&tObject != 0
	case frame.Number:
		if ok = t&tNumber != 0; !ok && t&tInteger != 0 {
			is, decided := num.isInt()
			if !decided {
				return vUnknown
			}
			ok = is
		}
	default:
		return vUnknown
	}
	if !ok {
		return vInvalid
	}
	return vValid
}

// evalObject applies o to the object raw. Members whose key repeats an
// earlier one make the verdict unknown when the repetition could matter:
// jsonschema sees only the last of them.
func (w *walker) evalObject(o *objSpec, raw []byte, top bool) verdict {
	var it frame.ObjectIter
	if !it.Reset(raw) {
		return vUnknown
	}
	var (
		seen  [maxKeys / 64]uint64
		extra keySet // members matched by additionalProperties' schema
		bad   bool   // a member value is invalid
		last  []byte
	)
	skip := top && len(w.skip) > 0
	for it.Next() {
		body, esc := it.Key()
		last = it.Value()
		var key string
		if esc {
			key = it.KeyString()
		}
		if skip && inSkip(body, esc, key, w.skip) {
			continue
		}
		idx, found := o.index(body, esc, key)
		if found {
			word, bit := &seen[idx/64], uint64(1)<<(idx%64)
			if *word&bit != 0 {
				return vUnknown
			}
			*word |= bit
			if p := o.props[idx]; p != nil {
				if !bad {
					switch w.eval(p, it.Kind(), it.Value(), false) {
					case vUnknown:
						return vUnknown
					case vInvalid:
						bad = true
					}
				}
				continue
			}
		}
		switch o.addl {
		case addlFalse:
			return vInvalid // the member is there whatever its duplicates
		case addlSchema:
			if !found {
				k := body
				if esc {
					k = []byte(key)
				}
				if extra.add(k) {
					return vUnknown
				}
			}
			if !bad {
				switch w.eval(o.addlSch, it.Kind(), it.Value(), false) {
				case vUnknown:
					return vUnknown
				case vInvalid:
					bad = true
				}
			}
		default:
			if !bad {
				if r := limitsOf(it.Kind(), it.Value()); r != vValid {
					return r
				}
			}
		}
	}
	if !it.Valid() {
		return vUnknown
	}
	for i, m := range o.reqMask {
		if seen[i]&m != m {
			return vInvalid
		}
	}
	if bad {
		return vInvalid
	}
	if top {
		w.topDone, w.topLast = true, last
	}
	return vValid
}

// index returns the index of the member key (raw body, or key when
// escaped) among the names of o.
func (o *objSpec) index(body []byte, esc bool, key string) (int, bool) {
	if esc {
		i, ok := o.keys[key]
		return i, ok
	}
	if o.names != nil { // few names: comparing beats hashing
		for i, n := range o.names {
			if len(n) == len(body) && string(body) == n {
				return i, true
			}
		}
		return 0, false
	}
	i, ok := o.keys[string(body)]
	return i, ok
}

// inSkip reports whether the key (raw body, or key when escaped) is one of
// skip, compared after unescaping as DecodeObject compares.
func inSkip(body []byte, esc bool, key string, skip []string) bool {
	for _, s := range skip {
		if esc && key == s || !esc && string(body) == s {
			return true
		}
	}
	return false
}

// keySet finds repeated member keys without allocating for the first 16.
type keySet struct {
	n     int
	small [16][]byte
	m     map[string]struct{}
}

// add adds k and reports whether it was there already.
func (s *keySet) add(k []byte) bool {
	if s.n < len(s.small) {
		for _, x := range s.small[:s.n] {
			if bytes.Equal(x, k) {
				return true
			}
		}
		s.small[s.n] = k
		s.n++
		return false
	}
	if s.m == nil {
		s.m = make(map[string]struct{}, 2*len(s.small))
		for _, x := range s.small {
			s.m[string(x)] = struct{}{}
		}
	}
	if _, ok := s.m[string(k)]; ok {
		return true
	}
	s.m[string(k)] = struct{}{}
	return false
}

func (w *walker) evalArray(a *arrSpec, raw []byte) verdict {
	var it frame.ArrayIter
	if !it.Reset(raw) {
		return vUnknown
	}
	n := 0
	for it.Next() {
		i := it.Index()
		n++
		sch := a.items
		if i < len(a.prefix) {
			sch = a.prefix[i]
		}
		var r verdict
		if sch != nil {
			r = w.eval(sch, it.Kind(), it.Value(), false)
		} else {
			r = limitsOf(it.Kind(), it.Value())
		}
		if r != vValid {
			return r
		}
	}
	if a.minN >= 0 && n < a.minN || a.maxN >= 0 && n > a.maxN {
		return vInvalid
	}
	return vValid
}

func (st *strSpec) eval(raw []byte) verdict {
	body := raw[1 : len(raw)-1]
	if st.minLen >= 0 || st.maxLen >= 0 {
		n := runeCount(body)
		if st.minLen >= 0 && n < st.minLen || st.maxLen >= 0 && n > st.maxLen {
			return vInvalid
		}
	}
	if st.pattern != nil {
		var ok bool
		if plain := bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body); plain && st.re != nil {
			ok = st.re.Match(body)
		} else if plain {
			ok = st.pattern.MatchString(string(body))
		} else {
			s, _ := frame.Unquote(raw)
			ok = st.pattern.MatchString(s)
		}
		if !ok {
			return vInvalid
		}
	}
	return vValid
}

// runeCount returns the number of code points of the unescaped body of a
// valid JSON string, decoded as encoding/json decodes it: an invalid UTF-8
// byte or an unpaired surrogate escape is one U+FFFD.
func runeCount(body []byte) int {
	n := 0
	for i := 0; i < len(body); n++ {
		c := body[i]
		switch {
		case c < utf8.RuneSelf && c != '\\':
			i++
		case c != '\\':
			_, size := utf8.DecodeRune(body[i:])
			i += size
		case body[i+1] != 'u':
			i += 2
		default:
			r := frame.Hex4(body[i+2:])
			i += 6
			if utf16.IsSurrogate(r) && i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' &&
				utf16.DecodeRune(r, frame.Hex4(body[i+2:])) != utf8.RuneError {
				i += 6
			}
		}
	}
	return n
}

func (ns *numSpec) eval(num *number) verdict {
	for i := range ns.bounds {
		b := &ns.bounds[i]
		c, decided := num.cmp(&b.b)
		if !decided {
			return vUnknown
		}
		var ok bool
		switch b.kind {
		case bMin:
			ok = c >= 0
		case bMax:
			ok = c <= 0
		case bExMin:
			ok = c > 0
		case bExMax:
			ok = c < 0
		}
		if !ok {
			return vInvalid
		}
	}
	if ns.multipleOf != nil {
		is, decided := num.multipleOf(ns.multipleOf)
		if !decided {
			return vUnknown
		}
		if !is {
			return vInvalid
		}
	}
	return vValid
}

// has reports whether the value is one of the set.
func (cs *constSet) has(k frame.Kind, raw []byte, num *number) verdict {
	found := false
	switch k {
	case frame.Null:
		found = cs.null
	case frame.Bool:
		found = raw[0] == 't' && cs.yes || raw[0] == 'f' && cs.no
	case frame.String:
		if len(cs.strs) == 0 {
			break
		}
		body := raw[1 : len(raw)-1]
		if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
			for _, s := range cs.strs {
				if string(body) == s {
					found = true
					break
				}
			}
			break
		}
		s, _ := frame.Unquote(raw)
		for _, x := range cs.strs {
			if s == x {
				found = true
				break
			}
		}
	case frame.Number:
		for i := range cs.nums {
			c, decided := num.cmp(&cs.nums[i])
			if !decided {
				return vUnknown
			}
			if c == 0 {
				found = true
				break
			}
		}
	case frame.Object, frame.Array:
		if len(cs.containers) == 0 {
			break
		}
		// Rare: decode the value and compare as jsonschema does.
		v, err := frame.DecodeAny(raw, nil)
		if err != nil {
			return vUnknown
		}
		for _, c := range cs.containers {
			eq, decided := equalJSON(v, c)
			if !decided {
				return vUnknown
			}
			if eq {
				found = true
				break
			}
		}
	default:
		return vUnknown
	}
	if !found {
		return vInvalid
	}
	return vValid
}

// limitsOf checks the number literal limits in a value no schema applies to.
func limitsOf(k frame.Kind, raw []byte) verdict {
	switch k {
	case frame.Number:
		if checkLiteral(raw) != nil {
			return vUnknown
		}
	case frame.Object, frame.Array:
		return limitsIn(raw)
	}
	return vValid
}

// limitsIn checks the number literal limits of every number in the valid
// JSON container raw: Decode refuses the whole input for one of them.
func limitsIn(raw []byte) verdict {
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '"':
			i = skipString(raw, i)
		case c == '-' || '0' <= c && c <= '9':
			j := i + 1
			for j < len(raw) && isNumberByte(raw[j]) {
				j++
			}
			if checkLiteral(raw[i:j]) != nil {
				return vUnknown
			}
			i = j
		default:
			i++
		}
	}
	return vValid
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// skipString returns the index just past the valid JSON string opening at
// raw[i].
func skipString(raw []byte, i int) int {
	i++
	for {
		k := bytes.IndexByte(raw[i:], '"')
		if k < 0 {
			return len(raw)
		}
		j := i + k
		n := 0 // backslashes right before the quote
		for p := j - 1; p >= i && raw[p] == '\\'; p-- {
			n++
		}
		i = j + 1
		if n%2 == 0 {
			return i
		}
	}
}

// equalJSON compares two decoded values as jsonschema's const and enum do:
// objects by their members in any order, numbers by exact value.
func equalJSON(a, b any) (eq, decided bool) {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false, true
		}
		for k, x := range a {
			y, ok := b[k]
			if !ok {
				return false, true
			}
			if eq, decided := equalJSON(x, y); !eq || !decided {
				return eq, decided
			}
		}
		return true, true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false, true
		}
		for i := range a {
			if eq, decided := equalJSON(a[i], b[i]); !eq || !decided {
				return eq, decided
			}
		}
		return true, true
	case nil:
		return b == nil, true
	case bool:
		b, ok := b.(bool)
		return ok && a == b, true
	case string:
		b, ok := b.(string)
		return ok && a == b, true
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false, true
		}
		ra, ok1 := new(big.Rat).SetString(string(a))
		rb, ok2 := new(big.Rat).SetString(string(b))
		return ok1 && ok2 && ra.Cmp(rb) == 0, true
	}
	return false, false
}
