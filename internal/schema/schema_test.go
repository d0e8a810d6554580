package schema

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

//go:embed testdata/fs/*.json testdata/fs/defs/*.json
var testFS embed.FS

var refFS = fstest.MapFS{
	"out.json":    {Data: []byte(`{"$ref":"file:///etc/hostname"}`)},
	"in.json":     {Data: []byte(`{"$ref":"broken.json"}`)},
	"broken.json": {Data: []byte(`{`)},
}

const todoSchema = `{"type":"object","properties":{"title":{"type":"string","minLength":1,"maxLength":200}},"required":["title"],"additionalProperties":false}`

// mustCompile compiles src or fails the test.
func mustCompile(t testing.TB, src Source) *Schema {
	t.Helper()
	s, err := Compile(src)
	require.NoError(t, err)
	return s
}

// validate decodes input and validates it against s.
func validate(t testing.TB, s *Schema, input string) []Detail {
	t.Helper()
	v, err := Decode([]byte(input))
	require.NoError(t, err)
	return s.Validate(v)
}

func TestCompileSources(t *testing.T) {
	t.Parallel()
	sub, err := fs.Sub(testFS, "testdata/fs")
	require.NoError(t, err)
	tests := []struct {
		name    string
		src     Source
		valid   string
		invalid string
		want    []Detail
	}{
		{"string", FromString(todoSchema), `{"title":"x"}`, `{"title":""}`,
			[]Detail{{"/title", "minLength: got 0, want 1"}}},
		{"bytes", FromBytes([]byte(todoSchema)), `{"title":"x"}`, `{}`,
			[]Detail{{"", "missing property 'title'"}}},
		{"file", FromFile("testdata/todo.json"), `{"title":"x"}`, `{"title":"x","done":true}`,
			[]Detail{{"", "additional properties 'done' not allowed"}}},
		{"file with relative $ref", FromFile("testdata/withref.json"), `{"title":"x"}`, `{"title":""}`,
			[]Detail{{"/title", "minLength: got 0, want 1"}}},
		{"absolute file path", FromFile(must(filepath.Abs("testdata/withref.json"))), `{"title":"x"}`, `{"title":1}`,
			[]Detail{{"/title", "got number, want string"}}},
		{"embed.FS", FromFS(testFS, "testdata/fs/todo.json"), `{"title":"x","label":"l","priority":3}`, `{"title":"","label":"","priority":9}`,
			[]Detail{{"/label", "minLength: got 0, want 1"}, {"/priority", "maximum: got 9, want 5"}, {"/title", "minLength: got 0, want 1"}}},
		{"fs.Sub", FromFS(sub, "todo.json"), `{"title":"x"}`, `{"title":"x","priority":1.5}`,
			[]Detail{{"/priority", "got number, want integer"}}},
		{"fs file in a subdirectory", FromFS(sub, "defs/common.json"), `{}`, `[]`, nil},
		{"draft-07 by $schema", FromFile("testdata/draft7.json"), `["a",1]`, `["a",1,2]`,
			[]Detail{{"", "last 1 additionalItem(s) not allowed"}}},
		{"draft 2020-12 by default", FromString(`{"prefixItems":[{"type":"string"}]}`), `["a"]`, `[1]`,
			[]Detail{{"/0", "got number, want string"}}},
		{"draft-07 ignores prefixItems", FromString(`{"$schema":"http://json-schema.org/draft-07/schema#","prefixItems":[{"type":"string"}]}`),
			`[1]`, `[1]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, tt.src)
			assert.Nil(t, validate(t, s, tt.valid), "valid input")
			assert.Equal(t, tt.want, validate(t, s, tt.invalid), "invalid input")
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  Source
		want []string // substrings of the error
	}{
		{"invalid JSON", FromString(`{"type":`), []string{"schema: inline schema: invalid JSON"}},
		{"trailing data", FromString(`{} {}`), []string{"schema: inline schema: invalid JSON"}},
		{"empty text", FromBytes(nil), []string{"schema: inline schema: invalid JSON"}},
		{"not a schema", FromString(`{"type": 12}`), []string{"schema: inline schema:", "not valid against metaschema", "/type"}},
		{"bad regex", FromString(`{"pattern": "("}`), []string{"schema: inline schema:", "/pattern", "not valid regex"}},
		{"draft-07 syntax under the 2020-12 default", FromString(`{"items":[{"type":"string"}]}`), []string{"not valid against metaschema", "/items"}},
		{"unresolvable relative $ref", FromString(`{"$ref":"other.json"}`), []string{"schema: inline schema:", "inline:///other.json", "can only refer to itself"}},
		{"unresolvable pointer", FromString(`{"$ref":"#/$defs/nope"}`), []string{"schema: inline schema:", "/$defs/nope", "not found"}},
		{"inline may not read files", FromString(`{"$ref":"file:///etc/hostname"}`), []string{"schema: inline schema:", "file:///etc/hostname", "can only refer to itself"}},
		{"inline may not fetch", FromString(`{"$ref":"https://example.com/s.json"}`), []string{"https://example.com/s.json", "can only refer to itself"}},
		{"missing file", FromFile("testdata/nope.json"), []string{"schema: file testdata/nope.json:", "no such file"}},
		{"broken file", FromFile("testdata/broken.json"), []string{"schema: file testdata/broken.json: invalid JSON"}},
		{"file not a schema", FromFile("testdata/notschema.json"), []string{"schema: file testdata/notschema.json:", "not valid against metaschema"}},
		{"file with unresolvable $ref", FromFile("testdata/badref.json"), []string{"schema: file testdata/badref.json:", "missing.json", "no such file"}},
		{"missing fs file", FromFS(testFS, "testdata/fs/nope.json"), []string{"schema: fs:testdata/fs/nope.json:", "not exist"}},
		{"fs with unresolvable $ref", FromFS(testFS, "testdata/fs/badref.json"), []string{"schema: fs:testdata/fs/badref.json:", "fs:///testdata/fs/nowhere.json", "not exist"}},
		{"fs refs stay in the fs", FromFS(refFS, "out.json"), []string{"schema: fs:out.json:", "file:///etc/hostname", "only refs to files of the same fs.FS"}},
		{"fs ref to broken JSON", FromFS(refFS, "in.json"), []string{"schema: fs:in.json:", "fs:///broken.json", "invalid JSON"}},
		{"invalid fs path", FromFS(testFS, "../todo.json"), []string{"schema: fs:../todo.json:", "invalid fs path"}},
		{"nil fs", FromFS(nil, "todo.json"), []string{"schema: fs:todo.json: nil fs.FS"}},
		{"zero Source", Source{}, []string{"schema: empty schema source: no schema given"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Compile(tt.src)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestFileRefsOnlyLoadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"$ref":"https://example.com/s.json"}`), 0o600))
	_, err := Compile(FromFile(path))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "schema: file "+path)
	assert.Contains(t, err.Error(), `no URLLoader registered for "https://example.com/s.json"`)
}

func TestSourceString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  Source
		want string
	}{
		{FromString("{}"), "inline schema"},
		{FromBytes([]byte("{}")), "inline schema"},
		{FromFile("x.json"), "file x.json"},
		{FromFS(testFS, "schemas/todo.json"), "fs:schemas/todo.json"},
		{Source{}, "empty schema source"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.src.String())
	}
}

func TestFromBytesCopies(t *testing.T) {
	t.Parallel()
	b := []byte(`{"type":"string"}`)
	src := FromBytes(b)
	copy(b, `{"type":"number"}`)
	s := mustCompile(t, src)
	assert.Nil(t, validate(t, s, `"x"`))
}

func TestProperties(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		want   []string
	}{
		{"todo", todoSchema, []string{"title"}},
		{"properties and required merged", `{"properties":{"title":{},"action":{}},"required":["ref","title"]}`, []string{"action", "ref", "title"}},
		{"patternProperties ignored", `{"patternProperties":{"^x":{}}}`, []string{}},
		{"nested ignored", `{"properties":{"a":{"properties":{"ref":{}}}}}`, []string{"a"}},
		{"none", `{}`, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, FromString(tt.schema))
			got := s.Properties()
			assert.Equal(t, tt.want, got)
			if len(got) > 0 {
				got[0] = "changed"
				assert.Equal(t, tt.want, s.Properties(), "Properties returns a copy")
			}
		})
	}
}
