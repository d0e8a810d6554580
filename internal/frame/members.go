package frame

// Members calls fn for each member of the JSON object v (a value Parse
// accepted, with surrounding whitespace allowed), in order, with its key
// unescaped and its raw value; it stops early when fn returns false. It
// reports false when v is not an object. It allocates only for keys that
// hold escapes.
func Members(v []byte, fn func(key string, kind Kind, val []byte) bool) bool {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '{' {
		return false
	}
	var it objIter
	var m member
	it.init(v, i, 0)
	for it.next(&m) {
		body := m.key[1 : len(m.key)-1]
		key := string(body)
		if m.esc {
			key, _ = Unquote(m.key)
		}
		if !fn(key, m.kind, m.val) {
			return true
		}
	}
	return !it.bad
}

// Elements calls fn for each element of the JSON array v, in order, with its
// index and raw value; it stops early when fn returns false. It reports
// false when v is not an array.
func Elements(v []byte, fn func(i int, kind Kind, val []byte) bool) bool {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '[' {
		return false
	}
	i = skipWS(v, i+1)
	if i < len(v) && v[i] == ']' {
		return true
	}
	for n := 0; i < len(v); n++ {
		start := i
		end, kind := scanValue(v, i, 1)
		if end < 0 {
			return false
		}
		if !fn(n, kind, v[start:end:end]) {
			return true
		}
		if i = skipWS(v, end); i >= len(v) {
			return false
		}
		if v[i] == ']' {
			return true
		}
		if v[i] != ',' {
			return false
		}
		i = skipWS(v, i+1)
	}
	return false
}
