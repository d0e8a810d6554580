package wsroute

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/wsroute/wsroute/internal/schema"
)

// Schema is a JSON Schema for a route's input, set in RouteConfig.Schema and
// compiled once when the route is registered (draft 2020-12 unless the
// document's $schema names another; "format" is asserted). Build one with
// SchemaString, SchemaBytes, SchemaFile or SchemaFS.
//
// The schema validates the message's input: the object without the route key
// and the ref. It may not name either of them as a property.
//
// A schema that uses only the common keywords (type, properties, required,
// additionalProperties, items, prefixItems, min/maxItems, min/maxLength,
// minimum, maximum and their exclusive forms, multipleOf, enum, const,
// pattern, local $ref/$defs, allOf) is also compiled into a validator that
// runs over the frame's bytes without decoding it, about ten times faster
// and without allocating; any other keyword (format included) leaves the
// whole schema to jsonschema v6. jsonschema v6 stays the reference: an input
// the fast validator does not find plainly valid is validated by it, so the
// verdict and the error details are always its own. The fast validator is
// tested against the official JSON Schema Test Suite and fuzzed against v6.
type Schema struct {
	src schema.Source
}

// SchemaString returns a Schema from JSON text.
func SchemaString(s string) *Schema { return &Schema{src: schema.FromString(s)} }

// SchemaBytes returns a Schema from JSON bytes.
func SchemaBytes(b []byte) *Schema { return &Schema{src: schema.FromBytes(b)} }

// SchemaFile returns a Schema read from a file when the route is registered.
// Relative $refs resolve against the file's directory.
func SchemaFile(path string) *Schema { return &Schema{src: schema.FromFile(path)} }

// SchemaFS returns a Schema read from fsys (an embed.FS, say). $refs between
// files of fsys resolve.
func SchemaFS(fsys fs.FS, path string) *Schema { return &Schema{src: schema.FromFS(fsys, path)} }

// Source returns the schema's root document as JSON text: a copy of the text
// given to SchemaString or SchemaBytes, or the file read now. Documents it
// refers to with $ref are not included. Tools built on Router.Walk use it.
func (s *Schema) Source() ([]byte, error) { return s.src.Bytes() }

// mustCompile compiles s for a route or panics naming it.
func (s *Schema) mustCompile(where string, reserved ...string) *schema.Schema {
	sch, err := schema.Compile(s.src)
	if err != nil {
		panic(fmt.Sprintf("%s: schema: %v", where, err))
	}
	for _, p := range sch.Properties() {
		for _, k := range reserved {
			if strings.EqualFold(p, k) {
				panic(fmt.Sprintf("%s: schema %s names property %q, which is reserved for the route key, ref or trace key", where, s.src, p))
			}
		}
	}
	return sch
}

// validateStage validates a routed message's input against sch: over the
// frame's bytes when the schema compiled to a fast program, with
// jsonschema's own verdict and details whenever the input is not plainly
// valid (see internal/schema).
func validateStage(m *Message, sch *schema.Schema) error {
	details, err := sch.ValidateObject(m.data, m.cr.keys...)
	if err != nil { // the frame was valid JSON; only numbers beyond any range get here
		return &Error{Code: CodeInvalid, Message: "input is invalid", Err: err, Details: []Detail{{Message: "cannot decode input"}}}
	}
	if len(details) == 0 {
		return nil
	}
	e := &Error{Code: CodeInvalid, Message: "input is invalid", Details: make([]Detail, len(details))}
	for i, d := range details {
		e.Details[i] = Detail{Pointer: d.Pointer, Message: d.Message}
	}
	return e
}

// keyStage refuses a typed route's input whose keys reach a field of its Go
// type only by case folding, or name no field on a StrictFields route (see
// keyGuard).
func keyStage(m *Message, g *keyGuard) error {
	if d := g.checkInput(m.data, m.cr.keys); d != nil {
		return &Error{Code: CodeInvalid, Message: "input is invalid", Details: []Detail{*d}}
	}
	return nil
}
