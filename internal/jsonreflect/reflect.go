// Package jsonreflect derives a JSON Schema from a Go type by the rules
// encoding/json follows when it encodes and decodes that type: json tags
// (names, "-", omitempty, omitzero, string), embedded structs and their
// promoted fields with Go's dominance rules, []byte as base64, nil pointers,
// slices and maps as null, time.Time as a date-time string, TextMarshaler
// as a string. The schema describes exactly the JSON the type produces, so a
// document or a generated client built from it does not drift from what the
// server sends; reflect_test.go checks that every value's encoding validates.
//
// Named struct types become definitions, referenced with $ref, so recursive
// types work and a type used twice is described once.
package jsonreflect

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wsroute/wsroute/internal/jsontag"
	"github.com/wsroute/wsroute/internal/ojson"
)

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	numberType        = reflect.TypeFor[json.Number]()
	timeType          = reflect.TypeFor[time.Time]()
)

// Reflector builds schemas and collects the definitions of named struct
// types into one object (an AsyncAPI document's components.schemas).
type Reflector struct {
	prefix string        // "#/components/schemas/"
	defs   *ojson.Object // name → schema, shared with the caller
	names  map[reflect.Type]string
}

// New returns a Reflector that adds definitions to defs (which may hold
// other entries already: their names are not reused) and refers to them as
// prefix+name.
func New(prefix string, defs *ojson.Object) *Reflector {
	return &Reflector{prefix: prefix, defs: defs, names: map[reflect.Type]string{}}
}

// Schema returns the schema of the JSON encoding of t: a $ref for a named
// struct type, inline otherwise. A nil pointer, slice or map at the top
// encodes to null, so those are nullable.
func (r *Reflector) Schema(t reflect.Type) (any, error) {
	return r.schema(t, true, false)
}

// Expand is Schema with a named struct type described inline at the top
// (its fields still refer to definitions), for a caller that adds
// properties to it. Pointers are followed; Nullable says one was.
func (r *Reflector) Expand(t reflect.Type) (s any, nullable bool, err error) {
	for t.Kind() == reflect.Pointer && !special(t) {
		t, nullable = t.Elem(), true
	}
	if t.Kind() == reflect.Struct && !special(t) {
		s, err = r.object(t)
		return s, nullable, err
	}
	s, err = r.schema(t, false, false)
	return s, nullable, err
}

// special reports whether encoding/json encodes t by a method or a special
// rule rather than by its kind.
func special(t reflect.Type) bool {
	switch t {
	case rawMessageType, numberType, timeType:
		return true
	}
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshalerType) || pt.Implements(jsonMarshalerType) ||
		t.Implements(textMarshalerType) || pt.Implements(textMarshalerType)
}

func typ(names ...string) any {
	if len(names) == 1 {
		return names[0]
	}
	a := make([]any, len(names))
	for i, n := range names {
		a[i] = n
	}
	return a
}

// nullable widens s to also accept null.
func nullable(s any) any {
	o, ok := s.(*ojson.Object)
	if !ok || o.Len() == 0 {
		return s // {} accepts null already
	}
	if t, ok := o.Get("type"); ok {
		if name, ok := t.(string); ok {
			o.Set("type", typ(name, "null"))
			if e, ok := o.Get("enum"); ok {
				o.Set("enum", append(e.([]any), nil))
			}
			return o
		}
	}
	return ojson.New("anyOf", []any{o, ojson.New("type", "null")})
}

// schema describes t. null: a nil value of t is encoded (not omitted) here.
// quoted: the field has the ",string" option.
func (r *Reflector) schema(t reflect.Type, null, quoted bool) (any, error) {
	switch t {
	case timeType:
		return ojson.New("type", "string", "format", "date-time"), nil
	case rawMessageType:
		return ojson.New("description", "any JSON value"), nil
	case numberType:
		return ojson.New("type", "number"), nil
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		if t.Implements(jsonMarshalerType) || pt.Implements(jsonMarshalerType) {
			return ojson.New("description", "encoded by "+t.String()+"'s MarshalJSON"), nil
		}
		if t.Implements(textMarshalerType) || pt.Implements(textMarshalerType) {
			return ojson.New("type", "string"), nil
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		if quoted {
			return ojson.New("type", "string", "enum", []any{"true", "false"}), nil
		}
		return ojson.New("type", "boolean"), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if quoted {
			return ojson.New("type", "string", "pattern", `^-?(0|[1-9][0-9]*)$`), nil
		}
		return ojson.New("type", "integer"), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if quoted {
			return ojson.New("type", "string", "pattern", `^(0|[1-9][0-9]*)$`), nil
		}
		return ojson.New("type", "integer", "minimum", 0), nil
	case reflect.Float32, reflect.Float64:
		if quoted {
			return ojson.New("type", "string"), nil
		}
		return ojson.New("type", "number"), nil
	case reflect.String:
		return ojson.New("type", "string"), nil
	case reflect.Interface:
		return ojson.New(), nil
	case reflect.Pointer:
		s, err := r.schema(t.Elem(), null, quoted)
		if err != nil || !null {
			return s, err
		}
		return nullable(s), nil
	case reflect.Slice:
		var s *ojson.Object
		if t.Elem().Kind() == reflect.Uint8 && !special(t.Elem()) {
			s = ojson.New("type", "string", "contentEncoding", "base64")
		} else {
			items, err := r.schema(t.Elem(), true, false)
			if err != nil {
				return nil, err
			}
			s = ojson.New("type", "array", "items", items)
		}
		if null {
			return nullable(s), nil
		}
		return s, nil
	case reflect.Array:
		items, err := r.schema(t.Elem(), true, false)
		if err != nil {
			return nil, err
		}
		return ojson.New("type", "array", "items", items, "minItems", t.Len(), "maxItems", t.Len()), nil
	case reflect.Map:
		switch k := t.Key(); {
		case k.Kind() == reflect.String,
			k.Implements(textMarshalerType),
			k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr:
		default:
			return nil, fmt.Errorf("jsonreflect: %v: map key type %v cannot be encoded", t, k)
		}
		values, err := r.schema(t.Elem(), true, false)
		if err != nil {
			return nil, err
		}
		s := ojson.New("type", "object", "additionalProperties", values)
		if null {
			return nullable(s), nil
		}
		return s, nil
	case reflect.Struct:
		if t.Name() == "" {
			return r.object(t)
		}
		name, err := r.define(t)
		if err != nil {
			return nil, err
		}
		return ojson.New("$ref", r.prefix+name), nil
	}
	return nil, fmt.Errorf("jsonreflect: %v cannot be encoded as JSON", t)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// define adds the definition of the named struct type t (once) and returns
// its name: the type's name, qualified by its package when two types share
// it, made of the characters component names may hold.
func (r *Reflector) define(t reflect.Type) (string, error) {
	if name, ok := r.names[t]; ok {
		return name, nil
	}
	clean := func(s string) string { return strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_") }
	name := clean(t.Name())
	if _, taken := r.defs.Get(name); taken {
		pkg := t.PkgPath()
		pkg = pkg[strings.LastIndexByte(pkg, '/')+1:]
		name = clean(pkg + "." + t.Name())
		for i := 2; ; i++ {
			if _, taken := r.defs.Get(name); !taken {
				break
			}
			name = clean(fmt.Sprintf("%s.%s_%d", pkg, t.Name(), i))
		}
	}
	r.names[t] = name
	r.defs.Set(name, ojson.New()) // a placeholder, so recursion finds the name
	s, err := r.object(t)
	if err != nil {
		return "", err
	}
	r.defs.Set(name, s)
	return name, nil
}

// object describes a struct's JSON object.
func (r *Reflector) object(t reflect.Type) (*ojson.Object, error) {
	props := &ojson.Object{}
	var required []any
	for _, f := range fields(t) {
		s, err := r.schema(f.typ, !f.omitEmpty, f.quoted)
		if err != nil {
			return nil, fmt.Errorf("%v.%s: %w", t, f.goName, err)
		}
		props.Set(f.name, s)
		if !f.omitEmpty && !f.omitZero && !f.viaPointer {
			required = append(required, f.name)
		}
	}
	o := ojson.New("type", "object", "properties", props)
	if len(required) > 0 {
		o.Set("required", required)
	}
	return o, nil
}

// field is a JSON member of a struct, as encoding/json's typeFields finds it.
type field struct {
	name       string
	goName     string
	typ        reflect.Type
	index      []int
	tagged     bool
	omitEmpty  bool
	omitZero   bool
	quoted     bool
	viaPointer bool // reached through an embedded pointer, which may be nil
}

// fields returns t's JSON fields in encoding/json's order, after its
// dominance rules: the shallowest field of a name wins, a tagged one among
// equals, and a tie leaves the name out.
func fields(t reflect.Type) []field {
	type level struct {
		t     reflect.Type
		index []int
		ptr   bool
	}
	var all []field
	taken := map[string]bool{} // names decided at a shallower depth, won or tied
	visited := map[reflect.Type]bool{}
	next := []level{{t: t}}
	for len(next) > 0 {
		current := next
		next = nil
		count := map[string]int{}
		var found []field
		for _, lv := range current {
			if visited[lv.t] {
				continue
			}
			visited[lv.t] = true
			for i := range lv.t.NumField() {
				sf := lv.t.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !jsontag.ValidName(name) {
					name = ""
				}
				index := append(slices.Clone(lv.index), i)
				ptr := lv.ptr || (sf.Anonymous && sf.Type.Kind() == reflect.Pointer)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, level{t: ft, index: index, ptr: ptr})
					continue
				}
				f := field{name: name, goName: sf.Name, typ: sf.Type, index: index, tagged: name != "", viaPointer: lv.ptr}
				if f.name == "" {
					f.name = sf.Name
				}
				for _, o := range strings.Split(opts, ",") {
					switch o {
					case "omitempty":
						f.omitEmpty = true
					case "omitzero":
						f.omitZero = true
					case "string":
						qt := sf.Type
						if qt.Name() == "" && qt.Kind() == reflect.Pointer {
							qt = qt.Elem()
						}
						switch qt.Kind() {
						case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
							reflect.Float32, reflect.Float64, reflect.String:
							f.quoted = true
						}
					}
				}
				found = append(found, f)
				count[f.name]++
			}
		}
		// At this depth: a name already taken by a shallower field loses;
		// among fields of one depth, a single tagged one wins, else none.
		for name, n := range count {
			if taken[name] {
				found = slices.DeleteFunc(found, func(f field) bool { return f.name == name })
				continue
			}
			if n > 1 {
				var tagged []field
				for _, f := range found {
					if f.name == name && f.tagged {
						tagged = append(tagged, f)
					}
				}
				found = slices.DeleteFunc(found, func(f field) bool {
					return f.name == name && (len(tagged) != 1 || !f.tagged)
				})
			}
		}
		all = append(all, found...)
		for name := range count {
			taken[name] = true
		}
	}
	slices.SortFunc(all, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return all
}
