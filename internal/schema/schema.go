// Package schema compiles the JSON Schemas attached to message routes and
// validates inbound message input against them.
//
// It wraps github.com/santhosh-tekuri/jsonschema/v6: schemas are compiled once
// (draft 2020-12 by default, format assertion on) and a compiled [Schema]
// reports every leaf failure as a [Detail] with an escaped JSON pointer and a
// stable English message.
//
// # Fast path
//
// Compile also builds, when it can, a fast program from jsonschema's
// compiled schema ([Schema.Fast] tells). [Schema.ValidateObject] and
// [Schema.ValidateJSON] run it over the JSON bytes with frame.ObjectIter and
// frame.ArrayIter, without decoding a tree; on valid input they return
// (nil, nil) without allocating. They are exactly equivalent to
// DecodeObject or Decode followed by [Schema.Validate]: whenever the fast
// program finds the input invalid or cannot decide, the input is decoded and
// validated by jsonschema, which gives the error or the details.
//
// The fast program exists only when every schema reachable from the root is
// draft 2020-12 and uses nothing but boolean schemas, type, enum, const,
// properties, required, additionalProperties, prefixItems, items, minItems,
// maxItems, minLength, maxLength, pattern (jsonschema's compiled regexp),
// minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, $ref
// and $defs within the document (cycles are fine unless $ref/allOf loop on
// the same value), allOf, and annotations (title, description, default,
// examples, ...). Any other set field of jsonschema.Schema (format, anyOf,
// oneOf, not, if, dependent*, patternProperties, propertyNames, unevaluated*,
// contains, uniqueItems, min/maxProperties, $dynamicRef, extensions, ...)
// means no fast program for the whole schema.
//
// Numbers are compared exactly: a literal with at most 19 significant digits
// is held as an integer mantissa and a decimal exponent and compared with
// bounds converted the same way at compile time; anything else goes through
// math/big as jsonschema does. 1.0 and 1e2 are integers; enum and const
// compare numbers by value, strings after unescaping, objects regardless of
// member order. String lengths count the code points of the unescaped
// string (invalid UTF-8 and unpaired surrogates count as one U+FFFD each).
//
// The fast program cannot decide, and the slow path runs, on: an object
// with a repeated key where that could matter (jsonschema sees only the last
// value), a number literal Decode refuses (longer than 512 characters or an
// exponent beyond ±1000; the fast program looks at every literal the
// decoder would check, skipped members excepted), and input that is not
// valid JSON. An object schema with more than 256 property and required
// names has no fast program; more than 16 members matched by
// additionalProperties' schema cost a map to find repeated keys.
package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

type sourceKind uint8

const (
	kindNone sourceKind = iota
	kindText
	kindFile
	kindFS
)

// inlineURL is the location given to schemas compiled from a string or bytes.
// Relative $refs in them resolve under the "inline" scheme, which nothing
// loads, so an inline schema cannot reach the file system or the network.
const inlineURL = "inline:///schema.json"

// Source says where a schema comes from. Exactly one of the forms is used:
// text ([FromString], [FromBytes]), a file on disk ([FromFile]) or a file in
// an fs.FS ([FromFS]). The zero Source is empty and does not compile.
type Source struct {
	kind sourceKind
	text []byte
	path string
	fsys fs.FS
}

// FromString returns a Source holding the schema text s.
func FromString(s string) Source {
	return Source{kind: kindText, text: []byte(s)}
}

// FromBytes returns a Source holding the schema text b. b is copied, so the
// caller may reuse it.
func FromBytes(b []byte) Source {
	return Source{kind: kindText, text: bytes.Clone(b)}
}

// FromFile returns a Source for the schema in the file at path on disk.
// Relative $refs in it resolve against the file's directory.
func FromFile(path string) Source {
	return Source{kind: kindFile, path: path}
}

// FromFS returns a Source for the schema at path (slash-separated, as
// fs.ValidPath wants) in fsys, e.g. an embed.FS. $refs between files of fsys
// resolve: relative refs ("title.json", "../defs/x.json#/$defs/y") are
// resolved against the referring file's directory and read from fsys.
func FromFS(fsys fs.FS, path string) Source {
	return Source{kind: kindFS, fsys: fsys, path: path}
}

// String describes the source for error messages: "inline schema",
// "file x.json" or "fs:schemas/todo.json".
func (s Source) String() string {
	switch s.kind {
	case kindText:
		return "inline schema"
	case kindFile:
		return "file " + s.path
	case kindFS:
		return "fs:" + s.path
	default:
		return "empty schema source"
	}
}

// Schema is a compiled schema, safe for concurrent use.
type Schema struct {
	sch   *jsonschema.Schema
	props []string
	fast  *node // nil: no fast program
}

// Compile compiles src with draft 2020-12 as default ($schema in the document
// selects another draft) and format assertion on. Errors start with
// "schema: " and the source, e.g. `schema: file todo.json: invalid JSON: ...`.
func Compile(src Source) (*Schema, error) {
	doc, loc, loader, err := src.load()
	if err != nil {
		return nil, fmt.Errorf("schema: %s: %w", src, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(loader)
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("schema: %s: %w", src, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("schema: %s: %w", src, err)
	}
	return &Schema{sch: sch, props: topLevelNames(sch), fast: compileFast(sch)}, nil
}

// Bytes returns the text of the root document: a copy of the text, or the
// file read now.
func (s Source) Bytes() ([]byte, error) {
	data, _, _, err := s.read()
	if s.kind == kindText {
		data = bytes.Clone(data)
	}
	return data, err
}

// load reads and parses the root document of s and returns it with the
// location to register it under and the loader for the documents it refers to.
func (s Source) load() (doc any, loc string, loader jsonschema.URLLoader, err error) {
	data, loc, loader, err := s.read()
	if err != nil {
		return nil, "", nil, err
	}
	doc, err = jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, "", nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return doc, loc, loader, nil
}

// read returns the text of the root document of s with the location to
// register it under and the loader for the documents it refers to.
func (s Source) read() (data []byte, loc string, loader jsonschema.URLLoader, err error) {
	switch s.kind {
	case kindText:
		return s.text, inlineURL, noLoader{}, nil
	case kindFile:
		abs, err := filepath.Abs(s.path)
		if err != nil {
			return nil, "", nil, err
		}
		if data, err = os.ReadFile(abs); err != nil {
			return nil, "", nil, err
		}
		// Only file: URLs are loaded; a $ref to http(s) is an error, not a
		// network request.
		return data, abs, jsonschema.SchemeURLLoader{"file": jsonschema.FileLoader{}}, nil
	case kindFS:
		if s.fsys == nil {
			return nil, "", nil, errors.New("nil fs.FS")
		}
		if !fs.ValidPath(s.path) {
			return nil, "", nil, fmt.Errorf("invalid fs path %q", s.path)
		}
		if data, err = fs.ReadFile(s.fsys, s.path); err != nil {
			return nil, "", nil, err
		}
		return data, fsURL(s.path), fsLoader{s.fsys}, nil
	default:
		return nil, "", nil, errors.New("no schema given")
	}
}

// fsURL returns the URL under which the file p of an fs.FS is registered.
func fsURL(p string) string {
	return (&neturl.URL{Scheme: "fs", Path: "/" + p}).String()
}

// fsLoader loads "fs:///path" URLs from an fs.FS.
type fsLoader struct{ fsys fs.FS }

// Load implements jsonschema.URLLoader.
func (l fsLoader) Load(rawURL string) (any, error) {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "fs" || u.Host != "" {
		return nil, fmt.Errorf("only refs to files of the same fs.FS can be loaded, not %q", rawURL)
	}
	p := path.Clean(u.Path)
	if len(p) < 2 || !fs.ValidPath(p[1:]) {
		return nil, fmt.Errorf("invalid fs path %q", u.Path)
	}
	data, err := fs.ReadFile(l.fsys, p[1:])
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return doc, nil
}

// noLoader refuses every URL: inline schemas are self-contained.
type noLoader struct{}

// Load implements jsonschema.URLLoader.
func (noLoader) Load(rawURL string) (any, error) {
	return nil, errors.New("an inline schema can only refer to itself and the standard metaschemas")
}

// topLevelNames returns the sorted, deduplicated names under the top-level
// "properties" and "required" of sch.
func topLevelNames(sch *jsonschema.Schema) []string {
	names := make([]string, 0, len(sch.Properties)+len(sch.Required))
	for name := range sch.Properties {
		names = append(names, name)
	}
	names = append(names, sch.Required...)
	slices.Sort(names)
	return slices.Compact(names)
}

// Properties returns the names listed under the top-level "properties" and
// the top-level "required" of the schema, sorted and deduplicated, so the
// caller can refuse schemas that use reserved keys. Names reached only
// through $ref, allOf and the like are not included. The result is a copy.
func (s *Schema) Properties() []string {
	return slices.Clone(s.props)
}
