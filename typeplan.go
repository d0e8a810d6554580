package wsroute

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/wsroute/wsroute/internal/codec"
)

// This file holds what reflection decides once, at registration, about a
// route's Go input and output types.

// inputPlan says how a route decodes its input into its Go type.
type inputPlan struct {
	// whole: decode the whole frame directly (the type is a plain struct
	// without the route key or ref among its fields, so they are ignored),
	// which saves building the input object.
	whole bool
	// dec decodes the whole frame without encoding/json when it can; nil
	// when the type holds anything it does not handle (see internal/codec).
	dec *codec.Decoder
	// guard refuses keys that reach a field only by case (see keyGuard);
	// nil when the type has no such fields.
	guard *keyGuard
	// strict: RouteConfig.StrictFields; the guard also refuses unknown keys.
	strict bool
}

func inputPlanFor[In any](where string, keys []string, strict bool) inputPlan {
	t := reflect.TypeFor[In]()
	if !fromObject(t) {
		panic(fmt.Sprintf("%s: input type %v cannot be decoded from a JSON object (the message without its route key and ref); use a struct, a map or any", where, t))
	}
	checkReserved(where, "input type", t, keys...)
	p := inputPlan{whole: plainStruct(t, jsonUnmarshalerType, textUnmarshalerType), strict: strict}
	p.guard = newKeyGuard(t, strict, 0)
	if p.whole {
		p.dec = codec.NewDecoder(t)
	}
	return p
}

// decodeInput checks m's input keys against the key guard and decodes the
// input into *v, which holds In's zero value. The fast decoder either
// produces exactly what json.Unmarshal would or declines; then
// encoding/json decides, into a fresh value (the declined attempt may have
// filled part of *v) and with its own error.
//
// The guard folds into the fast decoder's pass: the decoder declines every
// key that is not an exact field name yet equal to one ignoring case, at
// every level it decodes, so after it succeeded the guard has nothing to
// refuse — unless the route is strict, where unknown keys are refused too.
func decodeInput[In any](p *inputPlan, m *Message, v *In) error {
	if p.strict && p.guard != nil {
		if err := keyStage(m, p.guard); err != nil {
			return err
		}
	}
	if p.dec != nil && p.dec.Decode(m.data, unsafe.Pointer(v)) {
		return nil
	}
	if !p.strict && p.guard != nil {
		if err := keyStage(m, p.guard); err != nil {
			return err
		}
	}
	data := m.data
	if !p.whole {
		data = m.Input()
	}
	nv := new(In)
	if err := json.Unmarshal(data, nv); err != nil {
		return decodeError(err)
	}
	*v = *nv
	return nil
}

// outputPlan says how a route's result is merged into its reply.
type outputPlan struct {
	// trusted: the result type is a plain struct without the route key or
	// ref among its fields, so its encoding needs no scan for them.
	trusted bool
	// enc encodes the result without encoding/json when it can, to exactly
	// json.Marshal's bytes; nil when the type holds anything it does not
	// handle (see internal/codec).
	enc *codec.Encoder
}

func outputPlanFor[Out any](where, routeKey, refKey string) outputPlan {
	t := reflect.TypeFor[Out]()
	checkReserved(where, "output type", t, routeKey, refKey)
	return outputPlan{trusted: plainStruct(t, jsonMarshalerType, textMarshalerType), enc: codec.NewEncoder(t)}
}

// setTypedReply encodes a routed handler's result *res as its reply (see
// Message.setReply), with the plan's encoder when it can.
func setTypedReply[Out any](m *Message, res *Out, p *outputPlan) error {
	if p.enc == nil {
		return m.setReply(*res, *p)
	}
	sp := scratch.Get().(*[]byte)
	defer scratch.Put(sp)
	b, ok := p.enc.Append((*sp)[:0], unsafe.Pointer(res))
	if cap(b) <= 64<<10 {
		*sp = b[:0]
	}
	if !ok {
		return m.setReply(*res, *p)
	}
	m.mergeReply(b, p.trusted)
	return nil
}

// scratch recycles the buffers replies are encoded into before merging.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// plainStruct reports whether t (or what it points to) is a struct that
// encoding/json handles field by field, without a custom (un)marshaler.
func plainStruct(t reflect.Type, custom ...reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		for _, c := range custom {
			if t.Implements(c) {
				return false
			}
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for _, c := range custom {
		if t.Implements(c) || reflect.PointerTo(t).Implements(c) {
			return false
		}
	}
	return true
}

// checkReserved panics if struct type t has a JSON field named like the route
// key or the ref. The match ignores case because encoding/json's decoding does.
func checkReserved(where, what string, t reflect.Type, keys ...string) {
	for _, f := range jsonFields(t, 0) {
		for _, k := range keys {
			if strings.EqualFold(f.name, k) {
				panic(fmt.Sprintf("%s: %s %v has a field named %q, which is reserved for the route key, ref or trace key", where, what, t, f.name))
			}
		}
	}
}

// jsonField is one member of a struct type's JSON encoding.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields returns the JSON members of t (or of what it points to, if a
// struct), with embedded structs flattened as encoding/json does.
func jsonFields(t reflect.Type, depth int) []jsonField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 8 {
		return nil
	}
	var fields []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				fields = append(fields, jsonFields(ft, depth+1)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, jsonField{name: name, typ: f.Type})
	}
	return fields
}

// decodeError turns an encoding/json error into an invalid *Error.
func decodeError(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		ptr := ""
		if te.Field != "" {
			ptr = "/" + strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(te.Field, "~", "~0"), "/", "~1"), ".", "/")
		}
		return &Error{Code: CodeInvalid, Message: "input is invalid", Err: err, Details: []Detail{{
			Pointer: ptr, Message: fmt.Sprintf("expected %v, got %s", te.Type, te.Value),
		}}}
	}
	return &Error{Code: CodeInvalid, Message: "input is invalid", Err: err, Details: []Detail{{Message: err.Error()}}}
}

// fromObject reports whether a JSON object can be decoded into a t: a
// struct, a map with string-like keys, an interface (any), or a type that
// decodes itself from JSON (json.Unmarshaler, json.RawMessage).
func fromObject(t reflect.Type) bool {
	if t.Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		return true
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
			return true
		}
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Interface:
		return true
	case reflect.Map:
		switch t.Key().Kind() {
		case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return true
		}
		return t.Key().Implements(textUnmarshalerType) || reflect.PointerTo(t.Key()).Implements(textUnmarshalerType)
	}
	return false
}
