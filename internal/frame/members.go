package frame

// Members calls fn for each member of the JSON object v (a value Parse
// accepted, with surrounding whitespace allowed), in order, with its key
// unescaped and its raw value; it stops early when fn returns false. It
// reports false when v is not an object. For a walk without allocations,
// use ObjectIter.
func Members(v []byte, fn func(key string, kind Kind, val []byte) bool) bool {
	var it ObjectIter
	if !it.Reset(v) {
		return false
	}
	for it.Next() {
		if !fn(it.KeyString(), it.Kind(), it.Value()) {
			return true
		}
	}
	return it.Valid()
}

// ObjectIter walks the members of a JSON object without allocating:
//
//	var it frame.ObjectIter
//	for ok := it.Reset(v); ok && it.Next(); {
//		use(it.Key(), it.Kind(), it.Value())
//	}
type ObjectIter struct {
	it objIter
	m  member
}

// Reset starts a walk of v and reports whether v is an object.
func (o *ObjectIter) Reset(v []byte) bool {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '{' {
		o.it = objIter{done: true}
		return false
	}
	o.it.init(v, i, 0)
	return true
}

// Next moves to the next member and reports whether there is one.
func (o *ObjectIter) Next() bool { return o.it.next(&o.m) }

// Valid reports, after the walk, whether the object was valid JSON.
func (o *ObjectIter) Valid() bool { return !o.it.bad }

// Key returns the member's key as it is between its quotes, and whether it
// holds escapes (then KeyString decodes it).
func (o *ObjectIter) Key() (body []byte, escaped bool) {
	return o.m.key[1 : len(o.m.key)-1], o.m.esc
}

// KeyString returns the member's key, unescaped.
func (o *ObjectIter) KeyString() string {
	if !o.m.esc {
		return string(o.m.key[1 : len(o.m.key)-1])
	}
	s, _ := Unquote(o.m.key)
	return s
}

// Kind returns the kind of the member's value.
func (o *ObjectIter) Kind() Kind { return o.m.kind }

// Value returns the member's raw value.
func (o *ObjectIter) Value() []byte { return o.m.val }

// ArrayIter walks the elements of a JSON array without allocating.
type ArrayIter struct {
	v    []byte
	i    int
	n    int // index of the current element
	kind Kind
	val  []byte
	done bool
}

// Reset starts a walk of v and reports whether v is an array.
func (a *ArrayIter) Reset(v []byte) bool {
	*a = ArrayIter{v: v, n: -1, done: true}
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '[' {
		return false
	}
	i = skipWS(v, i+1)
	a.i, a.done = i, i < len(v) && v[i] == ']'
	return true
}

// Next moves to the next element and reports whether there is one.
func (a *ArrayIter) Next() bool {
	if a.done || a.i >= len(a.v) {
		a.done = true
		return false
	}
	start := a.i
	end, kind := scanValue(a.v, start, 1)
	if end < 0 {
		a.done = true
		return false
	}
	a.n++
	a.kind, a.val = kind, a.v[start:end:end]
	i := skipWS(a.v, end)
	switch {
	case i < len(a.v) && a.v[i] == ',':
		a.i = skipWS(a.v, i+1)
	default:
		a.done = true
	}
	return true
}

// Index returns the current element's index.
func (a *ArrayIter) Index() int { return a.n }

// Kind returns the kind of the current element.
func (a *ArrayIter) Kind() Kind { return a.kind }

// Value returns the current element's raw value.
func (a *ArrayIter) Value() []byte { return a.val }
