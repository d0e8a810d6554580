package wsroute

import (
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

// checkInput checks a routed frame's input: the frame's members but the
// route key and the ref.
func (g *keyGuard) checkInput(frameData []byte, routeKey, refKey string) *Detail {
	if g == nil {
		return nil
	}
	var d *Detail
	frame.Members(frameData, func(key string, kind frame.Kind, val []byte) bool {
		if key == routeKey || key == refKey {
			return true
		}
		d = g.member(key, kind, val, "")
		return d == nil
	})
	return d
}

// check checks the JSON value v against the guard; ptr is v's pointer.
func (g *keyGuard) check(kind frame.Kind, v []byte, ptr string) *Detail {
	if g == nil {
		return nil
	}
	var d *Detail
	switch kind {
	case frame.Object:
		frame.Members(v, func(key string, kind frame.Kind, val []byte) bool {
			d = g.member(key, kind, val, ptr)
			return d == nil
		})
	case frame.Array:
		frame.Elements(v, func(i int, kind frame.Kind, val []byte) bool {
			d = g.elem.check(kind, val, ptr+"/"+strconv.Itoa(i))
			return d == nil
		})
	}
	return d
}

// member checks one member of an object decoded with this guard.
func (g *keyGuard) member(key string, kind frame.Kind, val []byte, ptr string) *Detail {
	at := ptr + "/" + escapePointer(key)
	if g.fields == nil { // a map type: every key is an element
		return g.elem.check(kind, val, at)
	}
	if fg, ok := g.fields[key]; ok {
		return fg.check(kind, val, at)
	}
	for name := range g.fields {
		if strings.EqualFold(name, key) {
			return &Detail{Pointer: at, Message: "property " + quote(key) + " differs from " + quote(name) + " only by case"}
		}
	}
	if g.strict {
		return &Detail{Pointer: at, Message: "unknown property " + quote(key)}
	}
	return nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func quote(s string) string { return "'" + s + "'" }
