package frame

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by the error DecodeAny returns when its input is not
// valid JSON.
var ErrInvalid = errors.New("invalid JSON")

// syntaxError is DecodeAny's error for input that is not valid JSON.
type syntaxError struct{ off int }

func (e *syntaxError) Error() string {
	return "frame: invalid JSON at offset " + strconv.Itoa(e.off)
}

func (e *syntaxError) Unwrap() error { return ErrInvalid }

// DecodeAny decodes data, which must be valid JSON (as Parse reported), into
// the value encoding/json produces with Decoder.UseNumber: map[string]any,
// []any, string, json.Number, bool, nil. At the top level of an object,
// members whose key is one of skip are left out (the route key and ref).
// check, if non-nil, is called with each number literal and may refuse it
// (its error is returned).
//
// The result equals encoding/json's for every valid input: a duplicated key
// keeps its last value, and invalid UTF-8 and unpaired surrogate escapes in
// strings become U+FFFD. Keys are compared with skip after unescaping
// (`"\u0061ction"` is skipped for "action"); members left out are validated
// but not decoded, so check is not called for their numbers.
//
// Input that is not valid JSON (the grammar json.Valid accepts: one value,
// surrounding white space allowed, at most 10000 nested arrays and objects)
// yields an error wrapping ErrInvalid, never a panic.
//
// Strings without escapes or invalid UTF-8, map keys among them, and number
// literals are substrings of one copy of data, so together they cost one
// allocation; while any of them is reachable that copy stays in memory. Each
// map and slice is allocated at its final size.
func DecodeAny(data []byte, check func(num []byte) error, skip ...string) (any, error) {
	var (
		d         = decoder{data: data}
		entryBuf  [16]entry
		levelBuf  [8]level
		entries   = entryBuf[:0] // members and elements of the open containers
		levels    = levelBuf[:0] // the open containers, outermost first
		n         = len(data)
		i         = skipWS(data, 0)
		v         any // the value just decoded
		end       int
		flags     uint8
		c         byte
		obj, drop bool
		lv        level
	)
	if i >= n {
		goto fail
	}
value: // data[i] must start a value
	switch c = data[i]; c {
	case '{', '[':
		if len(levels) == maxDepth {
			goto fail
		}
		obj = c == '{'
		if i = skipWS(data, i+1); i >= n {
			goto fail
		}
		if obj && data[i] == '}' {
			v, i = map[string]any{}, i+1
			goto ended
		}
		if !obj && data[i] == ']' {
			v, i = []any{}, i+1
			goto ended
		}
		levels = append(levels, level{base: len(entries), obj: obj})
		if obj {
			goto key
		}
		goto value
	case '"':
		if end, flags = scanString(data, i); end < 0 {
			goto fail
		}
		v, i = d.str(i+1, end-1, flags), end
	case 't':
		if !hasLit(data, i, "true") {
			goto fail
		}
		v, i = true, i+4
	case 'f':
		if !hasLit(data, i, "false") {
			goto fail
		}
		v, i = false, i+5
	case 'n':
		if !hasLit(data, i, "null") {
			goto fail
		}
		v, i = nil, i+4
	default:
		if end = scanNumber(data, i); end < 0 {
			goto fail
		}
		if check != nil {
			if err := check(data[i:end:end]); err != nil {
				return nil, err
			}
		}
		v, i = json.Number(d.sub(i, end)), end
	}
ended: // the value v ended just before data[i]
	if len(levels) == 0 {
		if skipWS(data, i) != n {
			goto fail
		}
		return v, nil
	}
	if levels[len(levels)-1].obj {
		entries[len(entries)-1].val = v // its key was pushed before it
	} else {
		entries = append(entries, entry{val: v})
	}
next: // a member or an element ended just before data[i]
	if i = skipWS(data, i); i >= n {
		goto fail
	}
	lv = levels[len(levels)-1]
	switch c = data[i]; {
	case c == ',':
		if i = skipWS(data, i+1); i >= n {
			goto fail
		}
		if lv.obj {
			goto key
		}
		goto value
	case c == '}' && lv.obj:
		m := make(map[string]any, len(entries)-lv.base)
		for _, e := range entries[lv.base:] {
			m[e.key] = e.val
		}
		v = m
	case c == ']' && !lv.obj:
		a := make([]any, len(entries)-lv.base)
		for k, e := range entries[lv.base:] {
			a[k] = e.val
		}
		v = a
	default:
		goto fail
	}
	entries, levels, i = entries[:lv.base], levels[:len(levels)-1], i+1
	goto ended
key: // data[i] must start the key of a member of the innermost object
	if data[i] != '"' {
		goto fail
	}
	if end, flags = scanString(data, i); end < 0 {
		goto fail
	}
	drop = len(levels) == 1 && len(skip) > 0 && keyIn(data[i+1:end-1], flags, skip)
	if !drop {
		entries = append(entries, entry{key: d.str(i+1, end-1, flags)})
	}
	if i = skipWS(data, end); i >= n || data[i] != ':' {
		goto fail
	}
	if i = skipWS(data, i+1); i >= n {
		goto fail
	}
	if !drop {
		goto value
	}
	if end, _ = scanValue(data, i, 2); end < 0 {
		goto fail
	}
	i = end
	goto next
fail:
	return nil, &syntaxError{off: min(i, n)} // i is where the bad value or token starts
}

// entry is a member (key and value) or an element (value only) of an open
// container.
type entry struct {
	key string
	val any
}

// level is one open container.
type level struct {
	base int  // index in the entries of its first member or element
	obj  bool // an object, not an array
}

// decoder holds the lazily made string copy of the input.
type decoder struct {
	data   []byte
	src    string // string(data), once made
	copied bool
}

// sub returns string(d.data[start:end]) as a substring of one shared copy.
func (d *decoder) sub(start, end int) string {
	if start == end {
		return ""
	}
	if !d.copied {
		d.src, d.copied = string(d.data), true
	}
	return d.src[start:end]
}

// str returns the value of the body d.data[start:end] of a valid JSON string
// whose scan flags are flags.
func (d *decoder) str(start, end int, flags uint8) string {
	if flags&strEscape == 0 && (flags&strHigh == 0 || utf8.Valid(d.data[start:end])) {
		return d.sub(start, end)
	}
	return unescape(d.data[start:end])
}

// keyIn reports whether the body of a valid JSON string, whose scan flags
// are flags, decodes to one of keys.
func keyIn(body []byte, flags uint8, keys []string) bool {
	for _, k := range keys {
		if flags == 0 && string(body) == k || flags != 0 && keyEqual(body, k) {
			return true
		}
	}
	return false
}

// unescape decodes the body of a valid JSON string the way encoding/json
// does (see decodeChar), copying runs of plain characters at once.
func unescape(body []byte) string {
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		j := i
		for j < len(body) {
			if c := body[j]; c < utf8.RuneSelf {
				if c == '\\' {
					break
				}
				j++
				continue
			}
			r, size := utf8.DecodeRune(body[j:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			j += size
		}
		b.Write(body[i:j])
		if i = j; i == len(body) {
			break
		}
		var r rune
		r, i = decodeChar(body, i)
		b.WriteRune(r)
	}
	return b.String()
}
