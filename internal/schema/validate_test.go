package schema

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateTodo(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, FromString(todoSchema))
	tests := []struct {
		name  string
		input string
		want  []Detail
	}{
		{"valid", `{"title":"buy milk"}`, nil},
		{"valid at max length", `{"title":"` + strings.Repeat("é", 200) + `"}`, nil},
		{"missing title", `{}`, []Detail{{"", "missing property 'title'"}}},
		{"extra property", `{"title":"x","done":false}`, []Detail{{"", "additional properties 'done' not allowed"}}},
		{"extra properties sorted", `{"title":"x","z":1,"a":2,"m":3}`, []Detail{{"", "additional properties 'a', 'm', 'z' not allowed"}}},
		{"title wrong type", `{"title":42}`, []Detail{{"/title", "got number, want string"}}},
		{"title empty", `{"title":""}`, []Detail{{"/title", "minLength: got 0, want 1"}}},
		{"title too long", `{"title":"` + strings.Repeat("x", 201) + `"}`, []Detail{{"/title", "maxLength: got 201, want 200"}}},
		{"not an object", `[]`, []Detail{{"", "got array, want object"}}},
		{"several failures", `{"extra":1,"more":null}`, []Detail{
			{"", "additional properties 'extra', 'more' not allowed"},
			{"", "missing property 'title'"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, validate(t, s, tt.input))
		})
	}
}

func TestValidateLeavesAndOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		input  string
		want   []Detail
	}{
		{"escaped pointers",
			`{"properties":{"a/b":{"type":"string"},"m~n":{"type":"string"},"~/":{"type":"string"}}}`,
			`{"a/b":1,"m~n":true,"~/":null}`,
			[]Detail{{"/a~1b", "got number, want string"}, {"/m~0n", "got boolean, want string"}, {"/~0~1", "got null, want string"}}},
		{"nested leaves, groups skipped",
			`{"properties":{"tags":{"type":"array","items":{"type":"string","minLength":2}},"meta":{"properties":{"n":{"type":"integer"}}}}}`,
			`{"tags":["ok","x",3],"meta":{"n":"1"}}`,
			[]Detail{{"/meta/n", "got string, want integer"}, {"/tags/1", "minLength: got 1, want 2"}, {"/tags/2", "got number, want string"}}},
		{"array indexes sort numerically",
			`{"items":{"type":"string"}}`,
			`["a",1,"b","c","d","e","f","g","h","i",2,3]`,
			[]Detail{{"/1", "got number, want string"}, {"/10", "got number, want string"}, {"/11", "got number, want string"}}},
		{"anyOf lists every branch",
			`{"anyOf":[{"type":"string"},{"type":"number"}]}`,
			`true`,
			[]Detail{{"", "got boolean, want number"}, {"", "got boolean, want string"}}},
		{"duplicates removed",
			`{"allOf":[{"required":["a"]},{"required":["a"]},{"$ref":"#/$defs/a"}],"$defs":{"a":{"required":["a"]}}}`,
			`{}`,
			[]Detail{{"", "missing property 'a'"}}},
		{"format asserted", `{"properties":{"email":{"format":"email"},"at":{"format":"date-time"}}}`,
			`{"email":"nobody","at":"yesterday"}`,
			[]Detail{{"/at", "'yesterday' is not valid date-time: less than 20 characters long"}, {"/email", "'nobody' is not valid email: missing @"}}},
		{"format valid", `{"properties":{"email":{"format":"email"}}}`, `{"email":"a@example.com"}`, nil},
		{"enum", `{"enum":["a","b"]}`, `"c"`, []Detail{{"", "value must be one of 'a', 'b'"}}},
		{"false schema", `{"properties":{"x":false}}`, `{"x":1}`, []Detail{{"/x", "false schema"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, FromString(tt.schema))
			for range 5 { // map order varies; the result must not
				if !assert.Equal(t, tt.want, validate(t, s, tt.input)) {
					break
				}
			}
		})
	}
}

func TestValidateNumbers(t *testing.T) {
	t.Parallel()
	maxInt := mustCompile(t, FromString(`{"properties":{"n":{"maximum":9007199254740992}}}`))
	minimum := mustCompile(t, FromString(`{"properties":{"n":{"minimum":1e300}}}`))
	multiple := mustCompile(t, FromString(`{"properties":{"n":{"multipleOf":0.01}}}`))
	tests := []struct {
		name   string
		schema *Schema
		input  string
		want   []Detail
	}{
		{"2^53 ok", maxInt, `{"n": 9007199254740992}`, nil},
		{"2^53+1 fails (no float64 rounding)", maxInt, `{"n": 9007199254740993}`,
			[]Detail{{"/n", "maximum: got 9007199254740993, want 9007199254740992"}}},
		{"1e400 above maximum", maxInt, `{"n": 1e400}`, []Detail{{"/n", "maximum: got 1e+400, want 9007199254740992"}}},
		{"-1e400 below maximum", maxInt, `{"n": -1e400}`, nil},
		{"1e400 above minimum", minimum, `{"n": 1e400}`, nil},
		{"1e-400 below minimum", minimum, `{"n": 1e-400}`, []Detail{{"/n", "minimum: got 1e-400, want 1e+300"}}},
		{"big integer printed as %g", maxInt, `{"n": 1e100}`, []Detail{{"/n", "maximum: got 1e+100, want 9007199254740992"}}},
		{"exclusive bounds", mustCompile(t, FromString(`{"prefixItems":[{"exclusiveMinimum":0},{"exclusiveMaximum":-0.5}]}`)), `[0, -0.5]`,
			[]Detail{{"/0", "exclusiveMinimum: got 0, want 0"}, {"/1", "exclusiveMaximum: got -0.5, want -0.5"}}},
		{"decimal multipleOf ok", multiple, `{"n": 19.99}`, nil},
		{"decimal multipleOf fails", multiple, `{"n": 19.995}`, []Detail{{"/n", "multipleOf: got 19.995, want 0.01"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, validate(t, tt.schema, tt.input))
		})
	}
}

func TestValidateOutOfRangeNumberDoesNotPanic(t *testing.T) {
	t.Parallel()
	// Decode refuses this literal; a caller building the map itself must
	// still not crash on jsonschema's nil *big.Rat.
	s := mustCompile(t, FromString(`{"properties":{"n":{"maximum":1}}}`))
	got := s.Validate(map[string]any{"n": json.Number("1e1000001")})
	require.Len(t, got, 1)
	assert.Equal(t, "", got[0].Pointer)
	assert.Contains(t, got[0].Message, "value cannot be validated")
}

func TestValidateBuiltMap(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, FromString(todoSchema))
	v, err := Decode([]byte(`{"action":"todo.add","title":"x"}`))
	require.NoError(t, err)
	m := v.(map[string]any)
	delete(m, "action")
	assert.Nil(t, s.Validate(m))
	assert.Equal(t, []Detail{{"", "got number, want object"}}, s.Validate(json.Number("1")))
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		input   string
		want    any
		wantErr string
	}{
		{"object", `{"a":[1,"x",null,true]}`, map[string]any{"a": []any{json.Number("1"), "x", nil, true}}, ""},
		{"surrounding white space", " \n\t{}\r\n ", map[string]any{}, ""},
		{"precision kept", `9007199254740993`, json.Number("9007199254740993"), ""},
		{"1e400 kept", `[1e400, -1E+400, 1e-400]`, []any{json.Number("1e400"), json.Number("-1E+400"), json.Number("1e-400")}, ""},
		{"exponent at limit", `1e1000`, json.Number("1e1000"), ""},
		{"exponent leading zeros", `1e0001000`, json.Number("1e0001000"), ""},
		{"exponent over limit", `{"a":[1e1001]}`, nil, "number 1e1001 out of range"},
		{"negative exponent over limit", `1E-1001`, nil, "out of range"},
		{"huge exponent", `1e99999999999999999999`, nil, "out of range"},
		{"literal too long", strings.Repeat("1", 513), nil, "number literal too long"},
		{"trailing value", `{} {}`, nil, "after top-level value"},
		{"trailing garbage", `{}x`, nil, "after top-level value"},
		{"empty", ``, nil, "EOF"},
		{"syntax error", `{"a":}`, nil, "invalid character"},
		{"truncated", `{"a":1`, nil, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Decode([]byte(tt.input))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestValidateConcurrent(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, FromString(todoSchema))
	inputs := []struct {
		input string
		want  []Detail
	}{
		{`{"title":"ok"}`, nil},
		{`{}`, []Detail{{"", "missing property 'title'"}}},
		{`{"title":1,"b":2,"a":3}`, []Detail{{"", "additional properties 'a', 'b' not allowed"}, {"/title", "got number, want string"}}},
		{`{"n":9007199254740993,"title":""}`, []Detail{{"", "additional properties 'n' not allowed"}, {"/title", "minLength: got 0, want 1"}}},
	}
	const workers, rounds = 16, 200
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				in := inputs[(w+i)%len(inputs)]
				v, err := Decode([]byte(in.input))
				if err != nil {
					errs <- err.Error()
					return
				}
				if got := s.Validate(v); !assert.ObjectsAreEqual(in.want, got) {
					errs <- fmt.Sprintf("%s: got %v, want %v", in.input, got, in.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		assert.Fail(t, e)
	}
}
