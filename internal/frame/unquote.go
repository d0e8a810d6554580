package frame

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Unquote returns the unescaped value of a raw JSON string (quotes included),
// decoded as encoding/json decodes it: invalid UTF-8 bytes and unpaired
// surrogate escapes become U+FFFD. ok is false if raw is not exactly one valid
// JSON string (no surrounding whitespace). A string without escapes that is
// valid UTF-8 costs only the string conversion.
func Unquote(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	end, flags := scanString(raw, 0)
	if end != len(raw) {
		return "", false
	}
	body := raw[1 : end-1]
	if flags&strEscape == 0 && (flags&strHigh == 0 || utf8.Valid(body)) {
		return string(body), true
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		var r rune
		r, i = decodeChar(body, i)
		b.WriteRune(r)
	}
	return b.String(), true
}

// decodeChar decodes the character at s[i] of the body of a valid JSON string
// the way encoding/json does and returns it with the index of the next one.
// An invalid UTF-8 byte decodes to utf8.RuneError; a surrogate escape that is
// not the first half of a valid pair decodes to utf8.RuneError and consumes
// only its own escape.
func decodeChar(s []byte, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf && c != '\\' {
		return rune(c), i + 1
	}
	if c != '\\' {
		r, size := utf8.DecodeRune(s[i:])
		return r, i + size
	}
	switch c = s[i+1]; c {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := Hex4(s[i+2:])
		i += 6
		if !utf16.IsSurrogate(r) {
			return r, i
		}
		if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
			if d := utf16.DecodeRune(r, Hex4(s[i+2:])); d != utf8.RuneError {
				return d, i + 6
			}
		}
		return utf8.RuneError, i
	default: // '"', '\\', '/'
		return rune(c), i + 2
	}
}

// Hex4 decodes the four hex digits at the start of s (a \u escape's), which
// the scanner has already validated.
func Hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// keyEqual reports whether the body of a valid JSON string decodes to k,
// without allocating.
func keyEqual(body []byte, k string) bool {
	j := 0
	for i := 0; i < len(body); {
		var r rune
		r, i = decodeChar(body, i)
		if r < utf8.RuneSelf {
			if j >= len(k) || k[j] != byte(r) {
				return false
			}
			j++
			continue
		}
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], r)
		if len(k)-j < n || string(buf[:n]) != k[j:j+n] {
			return false
		}
		j += n
	}
	return j == len(k)
}

// htmlSafe[b] says whether json.Marshal writes the ASCII byte b as it is in
// a string: not a control character, quote, backslash, or <, >, & (which it
// escapes for HTML).
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, byte for byte as json.Marshal
// writes it (encoding/json's appendString with HTML escaping): quotes,
// backslashes, control characters and <, >, & are escaped, invalid UTF-8
// becomes \ufffd, U+2028 and U+2029 are escaped.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
