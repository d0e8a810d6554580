// Package ojson holds JSON values whose objects keep their members in order,
// for documents people read (an AsyncAPI document, its schemas): a schema's
// properties stay in the order they were written or declared, and the same
// input always gives the same bytes.
package ojson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Member is one member of an Object.
type Member struct {
	Key   string
	Value any
}

// Object is a JSON object whose members keep their order. Values are nil,
// bool, json.Number, string, float64 or int (when built in Go), []any,
// *Object, json.RawMessage, or anything else encoding/json encodes.
type Object struct {
	Members []Member
}

// New returns an object of the given key/value pairs: New("a", 1, "b", 2).
func New(kv ...any) *Object {
	if len(kv)%2 != 0 {
		panic("ojson.New: odd number of arguments")
	}
	o := &Object{}
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// Get returns the value of key.
func (o *Object) Get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for _, m := range o.Members {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of key, or appends key.
func (o *Object) Set(key string, v any) {
	for i := range o.Members {
		if o.Members[i].Key == key {
			o.Members[i].Value = v
			return
		}
	}
	o.Members = append(o.Members, Member{key, v})
}

// Delete removes key.
func (o *Object) Delete(key string) {
	for i := range o.Members {
		if o.Members[i].Key == key {
			o.Members = append(o.Members[:i], o.Members[i+1:]...)
			return
		}
	}
}

// Len returns the number of members.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.Members)
}

// MarshalJSON encodes the members in order.
func (o *Object) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o.Members {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", m.Key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Clone returns a deep copy of v (objects and arrays; other values are
// immutable).
func Clone(v any) any {
	switch v := v.(type) {
	case *Object:
		c := &Object{Members: make([]Member, len(v.Members))}
		for i, m := range v.Members {
			c.Members[i] = Member{m.Key, Clone(m.Value)}
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = Clone(e)
		}
		return c
	}
	return v
}

// Walk calls fn for every object in v, v itself included, parents first.
func Walk(v any, fn func(*Object)) {
	switch v := v.(type) {
	case *Object:
		fn(v)
		for _, m := range v.Members {
			Walk(m.Value, fn)
		}
	case []any:
		for _, e := range v {
			Walk(e, fn)
		}
	}
}

// Decode parses one JSON value, keeping object members in order and numbers
// as json.Number. A duplicate key keeps its last value, as encoding/json does.
func Decode(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("ojson: data after the value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &Object{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				o.Set(k.(string), v)
			}
			_, err := d.Token() // '}'
			return o, err
		case '[':
			a := []any{}
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token() // ']'
			return a, err
		}
		return nil, fmt.Errorf("ojson: unexpected %v", t)
	default:
		return t, nil
	}
}
