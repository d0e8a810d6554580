package frame

// AppendWithout appends to dst the JSON object obj with every top-level member
// whose unescaped key is one of keys removed. The kept members are written
// with their raw key and value bytes, joined by commas, without the
// whitespace that separated them; `{}` is written when nothing remains.
//
// obj must be a valid JSON object (surrounding whitespace allowed). It is
// validated while it is copied; if it is not valid, dst is returned unchanged.
func AppendWithout(dst, obj []byte, keys ...string) []byte {
	n0 := len(dst)
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return dst
	}
	dst = append(dst, '{')
	dst, ok := appendMembers(dst, len(dst), obj, i, keys...)
	if !ok {
		return dst[:n0]
	}
	return append(dst, '}')
}

// appendMembers appends the members of the object opening at obj[i], except
// those whose key is in skip, each preceded by a comma unless dst has grown
// no further than first. It reports false, with dst possibly partly written,
// when obj[i:] is not a valid object followed only by whitespace.
func appendMembers(dst []byte, first int, obj []byte, i int, skip ...string) ([]byte, bool) {
	var it objIter
	var m member
	it.init(obj, i, 1)
next:
	for it.next(&m) {
		for _, k := range skip {
			if m.keyIs(k) {
				continue next
			}
		}
		if len(dst) > first {
			dst = append(dst, ',')
		}
		dst = append(dst, m.key...)
		dst = append(dst, ':')
		dst = append(dst, m.val...)
	}
	return dst, !it.bad && skipWS(obj, it.i) == len(obj)
}

// AppendReply appends a reply object to dst:
//
//	{"<routeKey>":<route>,"<refKey>":<ref>,<members of out>}
//
// route and ref are raw JSON values copied byte for byte; a nil route or nil
// ref omits that key. routeKey and refKey are written as JSON strings.
//
// out is the JSON encoding of the handler's result (surrounding whitespace
// allowed):
//   - an object: its members follow route and ref, except members whose
//     unescaped key is routeKey or refKey, which are always dropped (the
//     request's values win, even when route or ref is nil);
//   - null, empty or nil: the reply holds only route and ref (`{}` if both
//     are nil);
//   - any other value: `"result":<out>` follows route and ref.
//
// When trusted is false, out is validated; if it is not valid JSON it is left
// out, as if it were null. When trusted is true the caller guarantees that out
// is valid JSON and, if it is an object, that it has no routeKey or refKey
// member: an object is then spliced without being scanned.
func AppendReply(dst []byte, routeKey string, route []byte, refKey string, ref []byte, out []byte, trusted bool) []byte {
	dst = append(dst, '{')
	first := len(dst)
	if route != nil {
		dst = AppendString(dst, routeKey)
		dst = append(dst, ':')
		dst = append(dst, route...)
	}
	if ref != nil {
		if len(dst) > first {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, refKey)
		dst = append(dst, ':')
		dst = append(dst, ref...)
	}
	i := skipWS(out, 0)
	if i == len(out) {
		return append(dst, '}')
	}
	head := len(dst)
	if out[i] == '{' {
		if !trusted {
			var ok bool
			if dst, ok = appendMembers(dst, first, out, i, routeKey, refKey); !ok {
				dst = dst[:head]
			}
			return append(dst, '}')
		}
		// Splice the members and the closing brace; an empty object only
		// needs its brace.
		body := out[i+1 : trimWSRight(out)]
		if j := skipWS(body, 0); j < len(body) && body[j] == '}' {
			return append(dst, '}')
		}
		if len(dst) > first {
			dst = append(dst, ',')
		}
		return append(dst, body...)
	}
	val := out[i:trimWSRight(out)]
	if string(val) == "null" {
		return append(dst, '}')
	}
	if !trusted {
		if end, _ := scanValue(val, 0, 1); end != len(val) {
			return append(dst, '}')
		}
	}
	if len(dst) > first {
		dst = append(dst, ',')
	}
	dst = append(dst, `"result":`...)
	dst = append(dst, val...)
	return append(dst, '}')
}

// trimWSRight returns the length of b without its trailing JSON whitespace.
func trimWSRight(b []byte) int {
	n := len(b)
	for n > 0 {
		switch b[n-1] {
		case ' ', '\t', '\n', '\r':
			n--
		default:
			return n
		}
	}
	return n
}
