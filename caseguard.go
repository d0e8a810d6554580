package wsroute

import (
	"reflect"
	"strconv"
	"strings"
)

// caseGuard closes a gap between a route's schema and its Go input type.
// encoding/json matches object keys to struct fields ignoring case, and the
// last match wins, so {"n":1,"N":9007199254740993} validated by a schema
// about "n" would hand the handler N's value, never validated. On routes with
// a schema, the validated value is checked against the input type: a key that
// names a field only when case is ignored is refused as invalid.
type caseGuard struct {
	fields map[string]*caseGuard // exact JSON name → guard of the field's type (nil: nothing to check inside)
	elem   *caseGuard            // for slices, arrays and maps: guard of the element type
}

// newCaseGuard returns the guard of t, or nil when t holds no struct whose
// fields a JSON object is decoded into.
func newCaseGuard(t reflect.Type, depth int) *caseGuard {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > 16 || plainStructImplements(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		if e := newCaseGuard(t.Elem(), depth+1); e != nil {
			return &caseGuard{elem: e}
		}
		return nil
	case reflect.Struct:
		g := &caseGuard{fields: make(map[string]*caseGuard)}
		for _, f := range jsonFields(t, 0) {
			g.fields[f.name] = newCaseGuard(f.typ, depth+1)
		}
		return g
	}
	return nil
}

// plainStructImplements reports whether t decodes itself (custom
// unmarshaler): its keys are its own business.
func plainStructImplements(t reflect.Type) bool {
	return t.Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType)
}

// check looks for keys in v (as decoded for validation) that would reach a
// field of the input type by case folding only.
func (g *caseGuard) check(v any, ptr string) *Detail {
	if g == nil {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			if g.fields == nil { // a map type: every key is an element
				if d := g.elem.check(sub, ptr+"/"+escapePointer(k)); d != nil {
					return d
				}
				continue
			}
			if fg, ok := g.fields[k]; ok {
				if d := fg.check(sub, ptr+"/"+escapePointer(k)); d != nil {
					return d
				}
				continue
			}
			for name := range g.fields {
				if strings.EqualFold(name, k) {
					return &Detail{Pointer: ptr + "/" + escapePointer(k), Message: "property " + quote(k) + " differs from " + quote(name) + " only by case"}
				}
			}
		}
	case []any:
		for i, sub := range v {
			if d := g.elem.check(sub, ptr+"/"+strconv.Itoa(i)); d != nil {
				return d
			}
		}
	}
	return nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func quote(s string) string { return "'" + s + "'" }
