package wsroute

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"

	"github.com/wsroute/wsroute/internal/frame"
)

// keyGuard makes a typed route's input keys match its Go type exactly, as
// JSON Schema matches them. encoding/json matches object keys to struct
// fields ignoring case, and the last match wins, so {"n":1,"N":9007199254740993}
// validated by a schema about "n" would hand the handler N's value, never
// validated; and without a schema {"TEXT":"x"} would fill Text. So on every
// typed route a key that names a field only when case is ignored is refused
// as invalid, with a pointer to it; a route with RouteConfig.StrictFields
// also refuses keys that name no field at all.
//
// It walks the frame's raw bytes (already validated by frame.Parse), without
// decoding them.
type keyGuard struct {
	fields map[string]*keyGuard // exact JSON name → guard of the field's type (nil: nothing to check inside)
	elem   *keyGuard            // for slices, arrays and maps: guard of the element type
	strict bool                 // refuse keys that name no field
}

// newKeyGuard returns the guard of t, or nil when t holds no struct whose
// fields a JSON object is decoded into.
func newKeyGuard(t reflect.Type, strict bool, depth int) *keyGuard {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > 16 || decodesItself(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		if e := newKeyGuard(t.Elem(), strict, depth+1); e != nil {
			return &keyGuard{elem: e}
		}
		return nil
	case reflect.Struct:
		g := &keyGuard{fields: make(map[string]*keyGuard), strict: strict}
		for _, f := range jsonFields(t, 0) {
			g.fields[f.name] = newKeyGuard(f.typ, strict, depth+1)
		}
		return g
	}
	return nil
}

// decodesItself reports whether t has a custom unmarshaler: its keys are
// its own business.
func decodesItself(t reflect.Type) bool {
	return t.Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType)
}

// checkInput checks a routed frame's input: the frame's members but keys
// (the route key, the ref, the trace key). It does not allocate unless it
// refuses.
func (g *keyGuard) checkInput(frameData []byte, keys []string) *Detail {
	if g == nil {
		return nil
	}
	var it frame.ObjectIter
	for ok := it.Reset(frameData); ok && it.Next(); {
		body, esc := it.Key()
		if !esc && isKey(string(body), keys) {
			continue
		}
		if esc && isKey(it.KeyString(), keys) {
			continue
		}
		if d := g.member(&it, nil); d != nil {
			return d
		}
	}
	return nil
}

// isKey reports whether k is one of keys.
func isKey(k string, keys []string) bool {
	for _, key := range keys {
		if k == key {
			return true
		}
	}
	return false
}

// jsonPath is the JSON pointer to a value, built only when a check fails.
type jsonPath struct {
	parent *jsonPath
	key    string // the member's key, or
	index  int    // the element's index when key is "" and isIndex
	elem   bool
}

func (p *jsonPath) String() string {
	if p == nil {
		return ""
	}
	if p.elem {
		return p.parent.String() + "/" + strconv.Itoa(p.index)
	}
	return p.parent.String() + "/" + escapePointer(p.key)
}

// check checks the JSON value v of the given kind against the guard; at is
// where v is.
func (g *keyGuard) check(kind frame.Kind, v []byte, at *jsonPath) *Detail {
	if g == nil {
		return nil
	}
	switch kind {
	case frame.Object:
		var it frame.ObjectIter
		for ok := it.Reset(v); ok && it.Next(); {
			if d := g.member(&it, at); d != nil {
				return d
			}
		}
	case frame.Array:
		var it frame.ArrayIter
		for ok := it.Reset(v); ok && it.Next(); {
			if d := g.elem.check(it.Kind(), it.Value(), &jsonPath{parent: at, index: it.Index(), elem: true}); d != nil {
				return d
			}
		}
	}
	return nil
}

// member checks the member it is at, in an object decoded with this guard.
func (g *keyGuard) member(it *frame.ObjectIter, at *jsonPath) *Detail {
	body, esc := it.Key()
	key := ""
	if esc {
		key = it.KeyString()
		body = []byte(key)
	}
	if g.fields == nil { // a map type: every key is an element
		if g.elem == nil {
			return nil
		}
		return g.elem.check(it.Kind(), it.Value(), &jsonPath{parent: at, key: string(body)})
	}
	if fg, ok := g.fields[string(body)]; ok {
		if fg == nil {
			return nil
		}
		return fg.check(it.Kind(), it.Value(), &jsonPath{parent: at, key: string(body)})
	}
	for name := range g.fields {
		if bytes.EqualFold([]byte(name), body) {
			p := &jsonPath{parent: at, key: string(body)}
			return &Detail{Pointer: p.String(), Message: "property " + quote(string(body)) + " differs from " + quote(name) + " only by case"}
		}
	}
	if g.strict {
		p := &jsonPath{parent: at, key: string(body)}
		return &Detail{Pointer: p.String(), Message: "unknown property " + quote(string(body))}
	}
	return nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func quote(s string) string { return "'" + s + "'" }
