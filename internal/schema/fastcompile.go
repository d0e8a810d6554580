package schema

import (
	"encoding/json"
	"math/big"
	"reflect"
	"regexp"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Type bits of node.types.
const (
	tNull uint8 = 1 << iota
	tBool
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var typeBits = map[string]uint8{
	"null": tNull, "boolean": tBool, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject,
}

// node is the fast program of one compiled jsonschema.Schema.
type node struct {
	never bool  // the false schema
	types uint8 // allowed types; 0 = any

	konst *constSet // const: a set of one
	enum  *constSet

	ref   *node
	allOf []*node

	obj *objSpec
	arr *arrSpec
	str *strSpec
	num *numSpec
}

type addlKind uint8

const (
	addlNone   addlKind = iota // no additionalProperties: other members are unconstrained
	addlFalse                  // additionalProperties: false
	addlSchema                 // additionalProperties: a schema
)

// maxKeys bounds the names under properties and required of one object
// schema, for the bitset of the members seen.
const maxKeys = 256

// maxLinearKeys is the most names looked up by comparing them one by one.
const maxLinearKeys = 8

type objSpec struct {
	keys    map[string]int // property or required name → index
	names   []string       // by index, when there are at most maxLinearKeys
	props   []*node        // by index: the property's schema, nil for a required name without one
	reqMask [maxKeys / 64]uint64
	addl    addlKind
	addlSch *node
}

type arrSpec struct {
	prefix     []*node
	items      *node // nil: elements past prefix are unconstrained
	minN, maxN int   // -1: none
}

type strSpec struct {
	minLen, maxLen int // -1: none
	pattern        jsonschema.Regexp
	re             *regexp.Regexp // pattern, when it is a Go regexp
}

type boundKind uint8

const (
	bMin boundKind = iota
	bMax
	bExMin
	bExMax
)

type numBound struct {
	kind boundKind
	b    bound
}

type numSpec struct {
	bounds     []numBound
	multipleOf *bound
}

// constSet holds the values of an enum (or the one of a const), split by
// kind for comparisons without decoding.
type constSet struct {
	null, yes, no bool
	strs          []string
	nums          []bound
	containers    []any // objects and arrays, as jsonschema.UnmarshalJSON made them
}

// handledFields are the fields of jsonschema.Schema that the fast program
// implements or that do not affect validation. A schema with any other
// exported field set has no fast program.
var handledFields = map[string]bool{
	// identification and annotations
	"DraftVersion": true, "Location": true, "ID": true, "Anchor": true,
	"DynamicAnchor": true, "RecursiveAnchor": true, // only matter to $dynamicRef/$recursiveRef, which are refused
	"Title": true, "Description": true, "Default": true, "Comment": true,
	"ReadOnly": true, "WriteOnly": true, "Examples": true, "Deprecated": true,
	// implemented
	"Bool": true, "Ref": true, "AllOf": true, "Types": true, "Enum": true, "Const": true,
	"Required": true, "Properties": true, "AdditionalProperties": true,
	"MinItems": true, "MaxItems": true, "PrefixItems": true, "Items2020": true,
	"MinLength": true, "MaxLength": true, "Pattern": true,
	"Minimum": true, "Maximum": true, "ExclusiveMinimum": true, "ExclusiveMaximum": true,
	"MultipleOf": true,
}

// fastCompiler builds nodes from a compiled schema graph.
type fastCompiler struct {
	nodes map[*jsonschema.Schema]*node
}

// compileFast returns the fast program of sch, or nil when sch (or a schema
// it reaches) uses anything the fast program does not implement exactly.
func compileFast(sch *jsonschema.Schema) *node {
	c := fastCompiler{nodes: map[*jsonschema.Schema]*node{}}
	root, ok := c.node(sch)
	if !ok || sameValueCycle(root) {
		return nil
	}
	return root
}

func (c *fastCompiler) node(s *jsonschema.Schema) (*node, bool) {
	if n, ok := c.nodes[s]; ok {
		return n, true
	}
	n := &node{}
	c.nodes[s] = n // before the children: cycles through properties and items
	if !supported(s) {
		return nil, false
	}
	if s.Bool != nil {
		n.never = !*s.Bool
		return n, true
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			b, ok := typeBits[t]
			if !ok {
				return nil, false
			}
			n.types |= b
		}
	}
	var ok bool
	if s.Const != nil {
		if n.konst, ok = newConstSet([]any{*s.Const}); !ok {
			return nil, false
		}
	}
	if s.Enum != nil {
		if n.enum, ok = newConstSet(s.Enum.Values); !ok {
			return nil, false
		}
	}
	if s.Ref != nil {
		if n.ref, ok = c.node(s.Ref); !ok {
			return nil, false
		}
	}
	for _, sub := range s.AllOf {
		a, ok := c.node(sub)
		if !ok {
			return nil, false
		}
		n.allOf = append(n.allOf, a)
	}
	if n.obj, ok = c.objSpec(s); !ok {
		return nil, false
	}
	if n.arr, ok = c.arrSpec(s); !ok {
		return nil, false
	}
	n.str = strSpecOf(s)
	if n.num, ok = numSpecOf(s); !ok {
		return nil, false
	}
	return n, true
}

// supported reports whether every exported field of s that is set is one
// the fast program handles, for draft 2020-12 semantics.
func supported(s *jsonschema.Schema) bool {
	if s.DraftVersion != 2020 {
		return false // earlier drafts: $ref hides its siblings, items differs
	}
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || handledFields[f.Name] {
			continue
		}
		if !v.Field(i).IsZero() {
			return false
		}
	}
	return true
}

func (c *fastCompiler) objSpec(s *jsonschema.Schema) (*objSpec, bool) {
	if len(s.Properties) == 0 && len(s.Required) == 0 && s.AdditionalProperties == nil {
		return nil, true
	}
	o := &objSpec{keys: map[string]int{}}
	for name, sub := range s.Properties {
		p, ok := c.node(sub)
		if !ok {
			return nil, false
		}
		o.keys[name] = len(o.props)
		o.props = append(o.props, p)
	}
	for _, name := range s.Required {
		i, ok := o.keys[name]
		if !ok {
			i = len(o.props)
			o.keys[name] = i
			o.props = append(o.props, nil)
		}
		if i >= maxKeys {
			return nil, false
		}
		o.reqMask[i/64] |= 1 << (i % 64)
	}
	if len(o.props) > maxKeys {
		return nil, false
	}
	if len(o.props) <= maxLinearKeys {
		o.names = make([]string, len(o.props))
		for name, i := range o.keys {
			o.names[i] = name
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		if !a {
			o.addl = addlFalse
		}
	case *jsonschema.Schema:
		sub, ok := c.node(a)
		if !ok {
			return nil, false
		}
		o.addl, o.addlSch = addlSchema, sub
	default:
		return nil, false
	}
	return o, true
}

func (c *fastCompiler) arrSpec(s *jsonschema.Schema) (*arrSpec, bool) {
	if len(s.PrefixItems) == 0 && s.Items2020 == nil && s.MinItems == nil && s.MaxItems == nil {
		return nil, true
	}
	a := &arrSpec{minN: intOr(s.MinItems), maxN: intOr(s.MaxItems)}
	for _, sub := range s.PrefixItems {
		p, ok := c.node(sub)
		if !ok {
			return nil, false
		}
		a.prefix = append(a.prefix, p)
	}
	if s.Items2020 != nil {
		var ok bool
		if a.items, ok = c.node(s.Items2020); !ok {
			return nil, false
		}
	}
	return a, true
}

func intOr(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

func strSpecOf(s *jsonschema.Schema) *strSpec {
	if s.MinLength == nil && s.MaxLength == nil && s.Pattern == nil {
		return nil
	}
	st := &strSpec{minLen: intOr(s.MinLength), maxLen: intOr(s.MaxLength), pattern: s.Pattern}
	st.re, _ = s.Pattern.(*regexp.Regexp)
	return st
}

func numSpecOf(s *jsonschema.Schema) (*numSpec, bool) {
	var ns numSpec
	for _, b := range []struct {
		kind boundKind
		r    *big.Rat
	}{{bMin, s.Minimum}, {bMax, s.Maximum}, {bExMin, s.ExclusiveMinimum}, {bExMax, s.ExclusiveMaximum}} {
		if b.r != nil {
			ns.bounds = append(ns.bounds, numBound{b.kind, newBound(b.r)})
		}
	}
	if s.MultipleOf != nil {
		if s.MultipleOf.Sign() <= 0 {
			return nil, false
		}
		b := newBound(s.MultipleOf)
		ns.multipleOf = &b
	}
	if ns.bounds == nil && ns.multipleOf == nil {
		return nil, true
	}
	return &ns, true
}

// newConstSet sorts the values of an enum or const by kind. Numbers are
// compared as jsonschema does, by the exact value of their literal.
func newConstSet(vals []any) (*constSet, bool) {
	cs := &constSet{}
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			cs.null = true
		case bool:
			if v {
				cs.yes = true
			} else {
				cs.no = true
			}
		case string:
			cs.strs = append(cs.strs, v)
		case json.Number:
			r, ok := new(big.Rat).SetString(string(v))
			if !ok {
				return nil, false
			}
			cs.nums = append(cs.nums, newBound(r))
		case map[string]any, []any:
			if !plainJSON(v) {
				return nil, false
			}
			cs.containers = append(cs.containers, v)
		default:
			return nil, false
		}
	}
	return cs, true
}

// plainJSON reports whether v holds only the types jsonschema.UnmarshalJSON
// produces.
func plainJSON(v any) bool {
	switch v := v.(type) {
	case nil, bool, string:
		return true
	case json.Number:
		_, ok := new(big.Rat).SetString(string(v))
		return ok
	case map[string]any:
		for _, x := range v {
			if !plainJSON(x) {
				return false
			}
		}
		return true
	case []any:
		for _, x := range v {
			if !plainJSON(x) {
				return false
			}
		}
		return true
	}
	return false
}

// sameValueCycle reports whether $ref and allOf edges, which apply a schema
// to the same value, form a cycle among the nodes reachable from root.
// jsonschema reports such a cycle as an error when it meets it; the fast
// program leaves those schemas to it. Cycles through properties or items
// move to a nested value at each turn and are fine.
func sameValueCycle(root *node) bool {
	var all []*node
	seen := map[*node]bool{root: true}
	for queue := []*node{root}; len(queue) > 0; {
		n := queue[0]
		queue = queue[1:]
		all = append(all, n)
		for _, m := range append(n.sameValue(), n.children()...) {
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[*node]uint8{}
	var cyclic func(n *node) bool
	cyclic = func(n *node) bool {
		switch state[n] {
		case active:
			return true
		case done:
			return false
		}
		state[n] = active
		for _, m := range n.sameValue() {
			if cyclic(m) {
				return true
			}
		}
		state[n] = done
		return false
	}
	for _, n := range all {
		if cyclic(n) {
			return true
		}
	}
	return false
}

// sameValue returns the nodes n applies to the value itself.
func (n *node) sameValue() []*node {
	out := append([]*node(nil), n.allOf...)
	if n.ref != nil {
		out = append(out, n.ref)
	}
	return out
}

// children returns the nodes n applies to members and elements of the value.
func (n *node) children() []*node {
	var out []*node
	if n.obj != nil {
		for _, p := range n.obj.props {
			if p != nil {
				out = append(out, p)
			}
		}
		if n.obj.addlSch != nil {
			out = append(out, n.obj.addlSch)
		}
	}
	if n.arr != nil {
		out = append(out, n.arr.prefix...)
		if n.arr.items != nil {
			out = append(out, n.arr.items)
		}
	}
	return out
}
