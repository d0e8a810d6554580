// Package frame classifies and rewrites the JSON text frames handled by the
// wsroute router.
//
// Parse is a single-pass validating scanner that accepts exactly the inputs
// json.Valid accepts and, for objects, locates the route and correlation keys
// without allocating. AppendWithout and AppendReply build replies by splicing
// raw JSON instead of decoding and re-encoding it.
//
// The package is internal: its API makes no public compatibility promise and
// may change whenever the router's needs change.
package frame

import "strconv"

// Kind is the JSON type of a value.
type Kind uint8

// The kinds of JSON values. Invalid is the zero Kind and marks text that is
// not valid JSON.
const (
	Invalid Kind = iota // not valid JSON
	Null                // null
	Bool                // true or false
	Number              // a JSON number
	String              // a JSON string
	Array               // a JSON array
	Object              // a JSON object
)

var kindNames = [...]string{
	Invalid: "invalid",
	Null:    "null",
	Bool:    "bool",
	Number:  "number",
	String:  "string",
	Array:   "array",
	Object:  "object",
}

// String returns the lower-case name of k, such as "object", or "Kind(n)" for
// values outside the defined kinds.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Field is what Parse found for one looked-up top-level key.
type Field struct {
	Found bool   // the key is present at the top level
	Dup   bool   // the key appears more than once at the top level
	Kind  Kind   // kind of the (first) value
	Raw   []byte // raw bytes of the (first) value, a sub-slice of the input (strings include quotes)
}

// set records one occurrence of the key: the first one fills the field, any
// later one only marks it as duplicated.
func (f *Field) set(kind Kind, raw []byte) {
	if f.Found {
		f.Dup = true
		return
	}
	f.Found, f.Kind, f.Raw = true, kind, raw
}

// Frame is the classification of one frame.
type Frame struct {
	Kind  Kind  // top-level kind; Invalid when the text is not valid JSON
	Route Field // the route key (e.g. "action"); only for objects
	Ref   Field // the correlation key (e.g. "ref"); only for objects
}

// Parse validates data as one JSON text exactly as json.Valid does (same
// grammar, leading and trailing whitespace allowed, nesting deeper than 10000
// arrays/objects rejected) and, when it is an object, looks up the two
// top-level keys routeKey and refKey.
//
// Keys are compared after unescaping (`"\u0061ction"` is "action"), exactly and
// case-sensitively, with the same decoding rules as encoding/json. Parse does
// not check UTF-8 validity: invalid UTF-8 inside strings is accepted, as
// encoding/json accepts it. Raw values are sub-slices of data with their
// capacity clipped, so appending to them never overwrites data.
//
// When data is not valid JSON, Parse returns the zero Frame (Kind Invalid).
// Parse does not allocate unless a single value nests deeper than 64 levels.
func Parse(data []byte, routeKey, refKey string) Frame {
	i := skipWS(data, 0)
	if i >= len(data) {
		return Frame{}
	}
	var f Frame
	if data[i] == '{' {
		var it objIter
		var m member
		it.init(data, i, 1)
		for it.next(&m) {
			if m.keyIs(routeKey) {
				f.Route.set(m.kind, m.val)
			}
			if m.keyIs(refKey) {
				f.Ref.set(m.kind, m.val)
			}
		}
		if it.bad {
			return Frame{}
		}
		i, f.Kind = it.i, Object
	} else {
		i, f.Kind = scanValue(data, i, 1)
		if i < 0 {
			return Frame{}
		}
	}
	if skipWS(data, i) != len(data) {
		return Frame{}
	}
	return f
}
