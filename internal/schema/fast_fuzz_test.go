package schema

import (
	"slices"
	"strings"
	"testing"
)

// fuzzSchemas are schemas with a fast program, besides the suite's.
var fuzzSchemas = []string{
	routeSchema,
	todoSchema,
	`{"$defs":{"node":{"type":"object","additionalProperties":false,"properties":{"v":{"type":"integer","minimum":-5,"exclusiveMaximum":1e3},"kids":{"type":"array","maxItems":3,"items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}`,
	`{"type":["integer","string"],"multipleOf":0.01,"maximum":12345678901234567890.5,"minLength":1,"maxLength":3,"pattern":"^[a-zé😀]"}`,
	`{"enum":[1,"a",null,true,{"a":[1.0]},[2],0.1]}`,
	`{"additionalProperties":{"type":"number","multipleOf":0.1},"properties":{"s":{"const":"é"}},"required":["s"]}`,
	`{"prefixItems":[{"type":"boolean"},{"type":"null"}],"items":{"type":"object","minItems":1},"minItems":2}`,
	`{"allOf":[{"type":"object"},{"properties":{"action":{"type":"integer"}}}],"required":["x"]}`,
}

// fuzzPool compiles the fast schemas: fuzzSchemas, then those of the suite's
// groups (when the suite is there), with seeds from the suite's test data.
func fuzzPool(f *testing.F) (pool []*Schema, seeds [][]byte, seedIdx []int) {
	for _, src := range fuzzSchemas {
		pool = append(pool, mustCompile(f, FromString(src)))
	}
	for _, in := range []string{
		string(routeFrame), `{"v":1,"kids":[{"v":2},{"kids":[]}]}`, `"é😀"`, `12.34`, `{"s":"é","x":1.1,"x":2}`,
		`[true,null,{"a":1}]`, `{"a":[1.0]}`, `{"x":1,"action":"a","ref":1}`, `1e1001`,
	} {
		for i := range pool {
			seeds, seedIdx = append(seeds, []byte(in)), append(seedIdx, i)
		}
	}
	for _, fg := range fastSuiteGroups(f) {
		if len(pool) == 256 {
			break
		}
		pool = append(pool, fg.schema)
		for _, tc := range fg.group.Tests {
			seeds, seedIdx = append(seeds, tc.Data), append(seedIdx, len(pool)-1)
		}
	}
	return pool, seeds, seedIdx
}

// FuzzFastSchema requires the fast program to agree with jsonschema on
// every input: its verdict, when it decides, equals jsonschema's on input
// the decoder accepts, it never says valid on input the decoder refuses,
// and ValidateJSON and ValidateObject return what the slow path returns.
func FuzzFastSchema(f *testing.F) {
	pool, seeds, seedIdx := fuzzPool(f)
	for i, in := range seeds {
		f.Add(uint8(seedIdx[i]), in)
	}
	f.Fuzz(func(t *testing.T, idx uint8, data []byte) {
		s := pool[int(idx)%len(pool)]
		want, wantErr := slowJSON(s, data)
		got, err := s.ValidateJSON(data)
		if !sameResult(want, wantErr, got, err) {
			t.Fatalf("ValidateJSON(%q) = %v, %v; Decode+Validate: %v, %v", data, got, err, want, wantErr)
		}
		checkFuzzVerdict(t, s.verdict(data, nil), want, wantErr, data)

		skip := []string{"action", "ref"}
		want, wantErr = slowObject(s, data, skip...)
		got, err = s.ValidateObject(data, skip...)
		if !sameResult(want, wantErr, got, err) {
			t.Fatalf("ValidateObject(%q) = %v, %v; DecodeObject+Validate: %v, %v", data, got, err, want, wantErr)
		}
		checkFuzzVerdict(t, s.verdict(data, skip), want, wantErr, data)
	})
}

func sameResult(want []Detail, wantErr error, got []Detail, err error) bool {
	if (wantErr == nil) != (err == nil) {
		return false
	}
	if wantErr != nil && wantErr.Error() != err.Error() {
		// Decode's error for refused literals comes from a walk over the
		// decoded maps, in random order: two calls may name different
		// literals of the same input. Both must be about a literal.
		return isLiteralError(wantErr) && isLiteralError(err)
	}
	return slices.Equal(want, got)
}

func isLiteralError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "number literal too long") || strings.HasPrefix(msg, "number ") && strings.Contains(msg, "out of range: exponent")
}

func checkFuzzVerdict(t *testing.T, v verdict, want []Detail, wantErr error, data []byte) {
	t.Helper()
	switch {
	case v == vUnknown:
	case wantErr != nil:
		if v == vValid {
			t.Fatalf("fast valid on %q, which the decoder refuses: %v", data, wantErr)
		}
	case (v == vValid) != (want == nil):
		t.Fatalf("fast verdict %s on %q; jsonschema: %v", v, data, want)
	}
}

// FuzzFastSchemaMutated mutates the schemas too: the fuzzer rewrites the
// schema text of the seeds (the route-like schemas and every schema of the
// suite that has a fast program, each with its own test data), and every
// mutant that jsonschema compiles and the fast compiler accepts must give
// jsonschema's verdict on the instance.
func FuzzFastSchemaMutated(f *testing.F) {
	for _, src := range fuzzSchemas {
		f.Add([]byte(src), []byte(routeFrame))
	}
	for _, fg := range fastSuiteGroups(f) {
		for _, tc := range fg.group.Tests {
			f.Add([]byte(fg.group.Schema), []byte(tc.Data))
		}
	}
	f.Fuzz(func(t *testing.T, src, data []byte) {
		s := compileQuietly(src)
		if s == nil || !s.Fast() {
			return
		}
		want, wantErr := slowJSON(s, data)
		checkFuzzVerdict(t, s.verdict(data, nil), want, wantErr, data)
		got, err := s.ValidateJSON(data)
		if !sameResult(want, wantErr, got, err) {
			t.Fatalf("schema %s: ValidateJSON(%q) = %v, %v; Decode+Validate: %v, %v", src, data, got, err, want, wantErr)
		}
	})
}

// compileQuietly compiles src, or returns nil if it does not compile (or
// jsonschema panics on it: a mutant is not ours to judge).
func compileQuietly(src []byte) (s *Schema) {
	defer func() {
		if recover() != nil {
			s = nil
		}
	}()
	s, err := Compile(FromBytes(src))
	if err != nil {
		return nil
	}
	return s
}

// fastGroup is a group of the suite whose schema has a fast program.
type fastGroup struct {
	group  suiteGroup
	schema *Schema
}

// fastSuiteGroups returns the suite's groups with a fast program, file by
// file in name order; none when the suite is not there.
func fastSuiteGroups(f *testing.F) []fastGroup {
	dir, ok := findSuite()
	if !ok {
		return nil
	}
	suite, err := readSuite(dir)
	if err != nil {
		f.Fatal(err)
	}
	names := make([]string, 0, len(suite))
	for name := range suite {
		names = append(names, name)
	}
	slices.Sort(names)
	var groups []fastGroup
	for _, name := range names {
		for _, g := range suite[name] {
			if s, err := Compile(FromBytes(g.Schema)); err == nil && s.Fast() {
				groups = append(groups, fastGroup{group: g, schema: s})
			}
		}
	}
	return groups
}
