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

// appendQuoted appends s as a JSON string. Quotes, backslashes and control
// characters are escaped and invalid UTF-8 becomes \ufffd, so the result is
// always valid JSON that decodes back to s (when s is valid UTF-8).
func appendQuoted(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
