package schema

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowObject is what ValidateObject must return: DecodeObject + Validate.
func slowObject(s *Schema, data []byte, skip ...string) ([]Detail, error) {
	v, err := DecodeObject(data, skip...)
	if err != nil {
		return nil, err
	}
	return s.Validate(v), nil
}

// slowJSON is what ValidateJSON must return: Decode + Validate.
func slowJSON(s *Schema, data []byte) ([]Detail, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return s.Validate(v), nil
}

// checkSame requires ValidateJSON and ValidateObject to return exactly what
// the slow path returns, and the fast verdict, when it decides, to agree
// with it.
func checkSame(t *testing.T, s *Schema, data []byte, skip ...string) {
	t.Helper()
	want, wantErr := slowJSON(s, data)
	got, err := s.ValidateJSON(data)
	assert.Equal(t, wantErr, err, "ValidateJSON error for %s", data)
	assert.Equal(t, want, got, "ValidateJSON details for %s", data)
	if s.Fast() {
		checkVerdict(t, s.verdict(data, nil), want, wantErr, data)
	}
	want, wantErr = slowObject(s, data, skip...)
	got, err = s.ValidateObject(data, skip...)
	assert.Equal(t, wantErr, err, "ValidateObject error for %s", data)
	assert.Equal(t, want, got, "ValidateObject details for %s", data)
	if s.Fast() {
		checkVerdict(t, s.verdict(data, skip), want, wantErr, data)
	}
}

func checkVerdict(t *testing.T, v verdict, want []Detail, wantErr error, data []byte) {
	t.Helper()
	switch {
	case v == vUnknown:
	case wantErr != nil:
		// A verdict is only defined for input the decoder accepts; "invalid"
		// just sends the input to the slow path, but "valid" would skip the
		// decoder's error.
		assert.NotEqual(t, vValid, v, "fast valid on input the slow path refuses: %s (%v)", data, wantErr)
	case (v == vValid) != (want == nil):
		assert.Fail(t, "fast verdict disagrees", "%s for %s, jsonschema: %v", v, data, want)
	}
}

type fastCase struct {
	in   string
	want verdict // the fast verdict (with the test's skip keys)
}

func runFastCases(t *testing.T, schema string, skip []string, cases []fastCase) {
	t.Helper()
	s := mustCompile(t, FromString(schema))
	require.True(t, s.Fast(), "no fast program for %s", schema)
	for _, c := range cases {
		data := []byte(c.in)
		assert.Equal(t, c.want, s.verdict(data, skip), "verdict for %s against %s", c.in, schema)
		checkSame(t, s, data, skip...)
	}
}

func TestFastNumbers(t *testing.T) {
	t.Parallel()
	big := "1" + strings.Repeat("0", 40)
	tests := []struct {
		schema string
		cases  []fastCase
	}{
		{`{"type":"integer"}`, []fastCase{
			{`1`, vValid}, {`1.0`, vValid}, {`-0`, vValid}, {`-0.0`, vValid}, {`1e2`, vValid}, {`1E+2`, vValid},
			{`1.5`, vInvalid}, {`1e-2`, vInvalid}, {`0.1e1`, vValid}, {`12.5e-1`, vInvalid}, {`125e-2`, vInvalid}, {`1250e-1`, vValid},
			{`12345678901234567890123`, vValid}, {big + `.0`, vValid}, {`1.00000000000000000000001`, vInvalid},
			{`1.000000000000000000000000000`, vValid}, {`1e1000`, vValid}, {`1e-1000`, vInvalid}, {`0e999`, vValid},
			{`1e1001`, vUnknown}, {`1e-1001`, vUnknown}, {`"1"`, vInvalid}, {`1e0000000000000000002`, vValid},
		}},
		{`{"minimum":0}`, []fastCase{
			{`0`, vValid}, {`-0`, vValid}, {`0.0`, vValid}, {`-1e-300`, vInvalid}, {`1e-300`, vValid}, {`"x"`, vValid},
			{`-0.00000000000000000000000000001`, vInvalid},
		}},
		{`{"maximum":9007199254740993}`, []fastCase{
			{`9007199254740993`, vValid}, {`9007199254740994`, vInvalid}, {`9007199254740993.0000000001`, vInvalid},
			{`9007199254740992.9999999999`, vValid}, {`9.007199254740993e15`, vValid}, {`-` + big, vValid}, {big, vInvalid},
		}},
		{`{"exclusiveMinimum":1.1,"exclusiveMaximum":1e30}`, []fastCase{
			{`1.1`, vInvalid}, {`1.10`, vInvalid}, {`1.1000000000000000001`, vValid}, {`11e-1`, vInvalid}, {`1e30`, vInvalid},
			{`999999999999999999999999999999`, vValid}, {`1000000000000000000000000000000`, vInvalid},
		}},
		{`{"maximum":0.3333333333333333333333333}`, []fastCase{ // more digits than a dec holds: math/big
			{`0.3333333333333333333333333`, vValid}, {`0.33333333333333333333333331`, vInvalid}, {`0.3`, vValid},
		}},
		{`{"multipleOf":0.01}`, []fastCase{
			{`19.99`, vValid}, {`0.075`, vInvalid}, {`1e-2`, vValid}, {`1e-3`, vInvalid}, {`1e300`, vValid}, {`0`, vValid}, {`-0.07`, vValid},
		}},
		{`{"multipleOf":0.1}`, []fastCase{{`4.5`, vValid}, {`4.55`, vInvalid}, {`1.1e1`, vValid}}},
		{`{"multipleOf":0.0001}`, []fastCase{{`0.0075`, vValid}, {`0.00751`, vInvalid}}},
		{`{"type":"integer","multipleOf":0.123456789}`, []fastCase{{`1e308`, vInvalid}, {`0.123456789`, vInvalid}}},
		{`{"multipleOf":3}`, []fastCase{{`1e30`, vInvalid}, {`3e30`, vValid}, {`300000000000000000000000000000000000003`, vValid}, {`4.5`, vInvalid}}},
		{`{"multipleOf":7e-20}`, []fastCase{{`1.4e-19`, vValid}, {`7`, vValid}, {`1`, vInvalid}, {`1e-19`, vInvalid}}},
		{`{"enum":[1,"a",null,true,{"a":[1.0]},[2]]}`, []fastCase{
			{`1.0`, vValid}, {`1e0`, vValid}, {`10e-1`, vValid}, {`2`, vInvalid}, {`"\u0061"`, vValid}, {`"b"`, vInvalid},
			{`null`, vValid}, {`true`, vValid}, {`false`, vInvalid}, {`{"a":[1]}`, vValid}, {`{"a":[1,2]}`, vInvalid},
			{`[2.00]`, vValid}, {`[1]`, vInvalid}, {`{}`, vInvalid},
		}},
		{`{"const":{"b":1,"a":2}}`, []fastCase{
			{`{"a":2,"b":1.0}`, vValid}, {`{"a":2}`, vInvalid}, {`{"a":2,"b":1,"c":3}`, vInvalid},
		}},
		{`{"const":123456789012345678901234567890}`, []fastCase{
			{`123456789012345678901234567890`, vValid}, {`1.2345678901234567890123456789e29`, vValid}, {`123456789012345678901234567891`, vInvalid},
		}},
	}
	for _, tt := range tests {
		runFastCases(t, tt.schema, nil, tt.cases)
	}
}

// TestFastNumberLimits: literals Decode refuses give DecodeObject's error
// wherever they are, even where no schema looks.
func TestFastNumberLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("1", 513)
	for _, schema := range []string{`{}`, `true`, `{"type":"object"}`, `{"properties":{"a":{}}}`, `{"properties":{"a":{"type":"number"}}}`, `{"items":{}}`} {
		s := mustCompile(t, FromString(schema))
		require.True(t, s.Fast(), schema)
		for _, in := range []string{
			`{"a":` + long + `}`, `{"b":[1,{"c":1e1001}]}`, `{"a":1E-2000}`, `[1,2,-1e+1001]`, `{"x":"1e9999","y":[1e1001]}`,
			`{"s":"\"1e9999"}`, `{"a":1e1000,"b":"` + long + `"}`, `{"action":1e5000,"a":1}`,
		} {
			checkSame(t, s, []byte(in), "action")
		}
	}
	s := mustCompile(t, FromString(`{}`))
	_, err := s.ValidateObject([]byte(`{"a":[` + long + `]}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "number literal too long")
	d, err := s.ValidateObject([]byte(`{"action":1e5000,"a":1}`), "action")
	assert.NoError(t, err, "a skipped member's numbers are not checked")
	assert.Nil(t, d)
}

func TestFastStrings(t *testing.T) {
	t.Parallel()
	runFastCases(t, `{"minLength":2,"maxLength":3}`, nil, []fastCase{
		{`"ab"`, vValid}, {`"a"`, vInvalid}, {`"abcd"`, vInvalid},
		{`"\ud83d\ude00"`, vInvalid}, {`"😀😀"`, vValid}, {`"\ud83d\ude00\ud83d\ude00"`, vValid},
		{`"\ud83d"`, vInvalid}, {`"\ud83dx"`, vValid}, {`"\ude00\ud83d"`, vValid}, {`"\ud83d\ud83d\ude00"`, vValid},
		{`"é"`, vInvalid}, {`"\u00e9\u00e9"`, vValid}, {`"\n\t"`, vValid}, {`"\\\""`, vValid}, {`"\/"`, vInvalid},
		{"\"\xff\xfe\"", vValid}, {"\"\xed\xa0\x80\"", vValid}, {"\"\xe2\x82\"", vValid}, {"\"a\xe2\x82\xac\"", vValid},
		{`1`, vValid},
	})
	runFastCases(t, `{"pattern":"^a+é$"}`, nil, []fastCase{
		{`"aé"`, vValid}, {`"a\u0061\u00e9"`, vValid}, {`"b"`, vInvalid}, {"\"a\xff\"", vInvalid}, {`"a\u00e8"`, vInvalid},
	})
	runFastCases(t, `{"pattern":"\\x{fffd}"}`, nil, []fastCase{
		{"\"a\xff\"", vValid}, {`"\ud800"`, vValid}, {`"a"`, vInvalid},
	})
	runFastCases(t, `{"enum":["\u00e9","a\"b"]}`, nil, []fastCase{
		{`"é"`, vValid}, {`"\u00e9"`, vValid}, {`"a\"b"`, vValid}, {`"a\u0022b"`, vValid}, {`"e"`, vInvalid},
	})
}

func TestFastDuplicateKeys(t *testing.T) {
	t.Parallel()
	runFastCases(t, `{"properties":{"a":{"type":"string"}}}`, nil, []fastCase{
		{`{"a":1,"a":"x"}`, vUnknown}, // jsonschema sees the last: valid
		{`{"a":"x","a":1}`, vUnknown}, // invalid
		{`{"a":"x","\u0061":1}`, vUnknown},
		{`{"b":1,"b":2,"a":"x"}`, vValid}, // unconstrained member
		{`{"a":"x"}`, vValid},
	})
	runFastCases(t, `{"additionalProperties":{"type":"integer"},"properties":{"s":{"type":"string"}}}`, nil, []fastCase{
		{`{"x":"s","x":1}`, vUnknown}, {`{"x":1,"y":2,"x":"s"}`, vUnknown}, {`{"x":1,"\u0078":"s"}`, vUnknown},
		{`{"x":1,"y":2,"s":"s"}`, vValid}, {`{"x":1,"y":"2"}`, vInvalid},
		{manyKeys(40, false), vValid}, {manyKeys(40, true), vUnknown},
	})
	runFastCases(t, `{"additionalProperties":false}`, nil, []fastCase{{`{"x":1,"x":1}`, vInvalid}, {`{}`, vValid}})
	runFastCases(t, `{"required":["a"],"additionalProperties":{"type":"integer"}}`, nil, []fastCase{
		{`{"a":"x","a":1}`, vUnknown}, {`{"a":1}`, vValid}, {`{"a":"x"}`, vInvalid}, {`{"b":1}`, vInvalid},
	})
	runFastCases(t, `{"const":{"a":1}}`, nil, []fastCase{{`{"a":2,"a":1}`, vValid}, {`{"a":1,"a":2}`, vInvalid}})
}

// manyKeys returns an object of n integer members, the last one repeating
// the first when dup.
func manyKeys(n int, dup bool) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	if dup {
		b.WriteString(`,"k":"dup"`)
	}
	b.WriteByte('}')
	return b.String()
}

func TestFastRefs(t *testing.T) {
	t.Parallel()
	tree := `{"$defs":{"node":{"type":"object","additionalProperties":false,"properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}`
	runFastCases(t, tree, nil, []fastCase{
		{`{"v":1,"kids":[{"v":2},{"kids":[{"v":3,"kids":[]}]}]}`, vValid},
		{`{"v":1,"kids":[{"v":2},{"kids":[{"v":3.5}]}]}`, vInvalid},
		{`{"v":1,"kids":[{"w":2}]}`, vInvalid},
	})
	runFastCases(t, `{"allOf":[{"required":["a"]},{"$ref":"#/$defs/b"}],"$defs":{"b":{"properties":{"a":{"maximum":3}}}}}`, nil, []fastCase{
		{`{"a":3}`, vValid}, {`{"a":4}`, vInvalid}, {`{}`, vInvalid}, {`[]`, vValid},
	})
	for _, schema := range []string{
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"allOf":[{"$ref":"#"}]}`,
		`{"properties":{"x":{"$ref":"#/$defs/a"}},"$defs":{"a":{"allOf":[{"$ref":"#/$defs/a"}]}}}`,
	} {
		s, err := Compile(FromString(schema))
		if err != nil {
			continue // jsonschema refuses it: nothing to run
		}
		assert.False(t, s.Fast(), "a $ref/allOf cycle on the same value has no fast program: %s", schema)
		for _, in := range []string{`{}`, `{"x":1}`, `1`} {
			checkSame(t, s, []byte(in))
		}
	}
}

func TestFastSkipAndEscapedKeys(t *testing.T) {
	t.Parallel()
	skip := []string{"action", "ref"}
	runFastCases(t, routeSchema, skip, []fastCase{
		{string(routeFrame), vValid},
		{`{"action":"echo","ref":1,"data":{"user":"u","room":"r","text":"t","n":0,"seq":0}}`, vValid},
		{`{"\u0061ction":"echo","r\u0065f":"x","data":{"user":"u","room":"r","text":"t","n":0,"seq":0}}`, vValid},
		{`{"action":1,"action":2,"ref":[1e1000],"data":{"user":"u","room":"r","text":"t","n":0,"seq":0}}`, vValid},
		{`{"action":"echo","data":{"action":"x","user":"u","room":"r","text":"t","n":0,"seq":0}}`, vInvalid},
		{`{"action":"echo","data":{"user":"u","room":"r","text":"","n":0,"seq":0}}`, vInvalid},
		{`{"action":"echo","data":{"user":"u","room":"r","text":"t","n":-1,"seq":0}}`, vInvalid},
		{`{"action":"echo","data":{"user":"u","room":"r","text":"t","n":1.0,"seq":2e3}}`, vValid},
		{`{"action":"echo","data":{"user":"u","room":"r","text":"t","n":0}}`, vInvalid},
		{`{"action":"echo","data":{"user":"u","room":"r","text":"t","n":0,"seq":0},"x":1}`, vInvalid},
		{`{"action":"echo"}`, vInvalid},
		{`{"data":{"user":"u","room":"r","text":"t","n":0,"s\u0065q":0}}`, vValid},
	})
	s := mustCompile(t, FromString(routeSchema))
	d, err := s.ValidateObject([]byte(`{"action":"echo","ref":1,"data":{"user":"u","room":"r","text":"t","n":0,"seq":0}}`))
	require.NoError(t, err)
	assert.Equal(t, []Detail{{"", "additional properties 'action', 'ref' not allowed"}}, d, "without skip the keys are validated")
	runFastCases(t, todoSchema, nil, []fastCase{
		{`{"ti\u0074le":"x"}`, vValid}, {`{"ti\u0074le":""}`, vInvalid}, {`{"title":"x","tit\u006ce":"y"}`, vUnknown},
		{`{"títle":"x"}`, vInvalid},
	})
}

// TestFastInvalidJSON: input the decoder refuses gets its error, never a
// fast "valid".
func TestFastInvalidJSON(t *testing.T) {
	t.Parallel()
	deep := func(n int) string {
		return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	for _, schema := range []string{`{}`, todoSchema, `{"properties":{"a":{}}}`, `{"type":["object","array","string"]}`} {
		s := mustCompile(t, FromString(schema))
		require.True(t, s.Fast())
		for _, in := range []string{
			`{"title":"x"} x`, `{"title":"x"}}`, `{"title":"x"},`, ` {"title":"x"} `, `{}`, `{} {}`, `{"title":"x",}`,
			`[1,2] ]`, `"x" "y"`, ``, ` `, `{"title":"x"`, `[1 2]`, deep(10000), deep(10001), `{"title":"x"}` + strings.Repeat(" ", 30000) + "x",
		} {
			checkSame(t, s, []byte(in), "action")
		}
	}
}

func TestFastNotUsed(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{
		`{"format":"email"}`, `{"anyOf":[{}]}`, `{"oneOf":[{}]}`, `{"not":{}}`, `{"if":{},"then":{}}`,
		`{"dependentRequired":{"a":["b"]}}`, `{"dependentSchemas":{"a":{}}}`, `{"patternProperties":{"^a":{}}}`,
		`{"propertyNames":{}}`, `{"unevaluatedProperties":false}`, `{"unevaluatedItems":false}`, `{"contains":{}}`,
		`{"uniqueItems":true}`, `{"minProperties":1}`, `{"maxProperties":1}`, `{"minContains":1,"contains":{}}`,
		`{"$dynamicRef":"#"}`, `{"properties":{"a":{"format":"ipv4"}}}`, `{"items":{"anyOf":[{}]}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}`,
		`{"$ref":"https://json-schema.org/draft/2020-12/schema"}`,
	} {
		s := mustCompile(t, FromString(schema))
		assert.False(t, s.Fast(), schema)
		d, err := s.ValidateJSON([]byte(`{"a":"x"}`))
		want, wantErr := slowJSON(s, []byte(`{"a":"x"}`))
		assert.Equal(t, wantErr, err)
		assert.Equal(t, want, d)
	}
	for _, schema := range []string{`{}`, `true`, `false`, todoSchema, routeSchema, `{"title":"t","description":"d","$comment":"c","examples":[1],"default":1,"deprecated":true}`} {
		assert.True(t, mustCompile(t, FromString(schema)).Fast(), schema)
	}
}

// TestFastValidPathDoesNotAllocate holds the point of the fast program.
func TestFastValidPathDoesNotAllocate(t *testing.T) { // not parallel: AllocsPerRun
	s := mustCompile(t, FromString(routeSchema))
	var d []Detail
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		d, err = s.ValidateObject(routeFrame, "action", "ref")
	})
	require.NoError(t, err)
	require.Nil(t, d)
	assert.Zero(t, allocs)
}
