package jsonreflect

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/internal/ojson"
)

type (
	Todo struct {
		ID    string     `json:"id"`
		Title string     `json:"title"`
		Done  bool       `json:"done"`
		Due   *time.Time `json:"due,omitempty"`
		Tags  []string   `json:"tags"`
	}
	Base struct {
		ID      int    `json:"id"`
		Created string `json:"created,omitempty"`
	}
	Extra struct {
		Note string
		ID   string // hidden by Base.ID? no: same depth, Base.ID is tagged → Base wins
	}
	Tree struct {
		Name     string  `json:"name"`
		Children []*Tree `json:"children,omitempty"`
		Parent   *Tree   `json:"parent"`
	}
	Everything struct {
		Base
		*Extra
		Bool    bool               `json:"bool"`
		Int8    int8               `json:"int8"`
		Uint    uint               `json:"uint"`
		Float   float64            `json:"float"`
		Str     string             `json:"str,omitempty"`
		Quoted  int                `json:"quoted,string"`
		QuotedP *bool              `json:"quotedP,string"`
		Bytes   []byte             `json:"bytes"`
		Arr     [2]uint8           `json:"arr"`
		Map     map[string]int     `json:"map"`
		IntMap  map[int]Todo       `json:"intMap,omitempty"`
		Any     any                `json:"any"`
		Raw     json.RawMessage    `json:"raw"`
		Num     json.Number        `json:"num"`
		When    time.Time          `json:"when"`
		Addr    netip.Addr         `json:"addr"` // a TextMarshaler
		Todos   []Todo             `json:"todos"`
		Tree    Tree               `json:"tree"`
		Anon    struct{ X, Y int } `json:"anon"`
		Skipped string             `json:"-"`
		//lint:ignore SA5008 deliberate: "-," names the field "-" (encoding/json's rule under test)
		Dash  string `json:"-,"`
		NoTag string
		//lint:ignore U1000 deliberate: an unexported field is left out
		zero     int
		ZeroOmit time.Time `json:"zeroOmit,omitzero"`
	}
)

// compile builds a validator for t's schema, its definitions under $defs.
func compile(t *testing.T, typ reflect.Type) (*jsonschema.Schema, []byte) {
	t.Helper()
	defs := &ojson.Object{}
	r := New("#/$defs/", defs)
	s, err := r.Schema(typ)
	require.NoError(t, err)
	root := ojson.New("$schema", "https://json-schema.org/draft/2020-12/schema",
		"allOf", []any{s}, "$defs", defs)
	doc, err := json.Marshal(root)
	require.NoError(t, err)
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	require.NoError(t, c.AddResource("mem://schema.json", parsed))
	sch, err := c.Compile("mem://schema.json")
	require.NoError(t, err, "%s", doc)
	return sch, doc
}

func validate(sch *jsonschema.Schema, b []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// TestEncodingsValidate is the property the package promises: whatever
// encoding/json makes of a value of a type validates against the type's
// schema. Values are random, nil and zero included.
func TestEncodingsValidate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []reflect.Type{
		reflect.TypeFor[Everything](),
		reflect.TypeFor[*Everything](),
		reflect.TypeFor[[]Todo](),
		reflect.TypeFor[map[string]*Tree](),
		reflect.TypeFor[Tree](),
		reflect.TypeFor[string](),
	} {
		sch, doc := compile(t, typ)
		for i := range 300 {
			v := reflect.New(typ).Elem()
			fill(rng, v, 0)
			b, err := json.Marshal(v.Interface())
			require.NoError(t, err)
			require.NoError(t, validate(sch, b), "%v #%d: %s\nschema: %s", typ, i, b, doc)
		}
	}
}

// TestSchemaRefuses shows the schemas are not vacuous: encodings that the
// type cannot produce are refused.
func TestSchemaRefuses(t *testing.T) {
	sch, _ := compile(t, reflect.TypeFor[Todo]())
	require.NoError(t, validate(sch, []byte(`{"id":"1","title":"x","done":false,"tags":null}`)))
	for _, bad := range []string{
		`{"title":"x","done":false,"tags":[]}`,                  // id missing
		`{"id":1,"title":"x","done":false,"tags":[]}`,           // id not a string
		`{"id":"1","title":"x","done":"no","tags":[]}`,          // done not a bool
		`{"id":"1","title":"x","done":false,"tags":[1]}`,        // tag not a string
		`{"id":"1","title":"x","done":false,"tags":[],"due":1}`, // due not a date-time
		`null`,
	} {
		require.Error(t, validate(sch, []byte(bad)), bad)
	}
	uintSch, _ := compile(t, reflect.TypeFor[uint16]())
	require.Error(t, validate(uintSch, []byte(`-1`)))
	require.Error(t, validate(uintSch, []byte(`1.5`)))
}

func TestSchemaShape(t *testing.T) {
	defs := &ojson.Object{}
	r := New("#/components/schemas/", defs)
	s, err := r.Schema(reflect.TypeFor[*Todo]())
	require.NoError(t, err)
	got, _ := json.Marshal(s)
	require.JSONEq(t, `{"anyOf":[{"$ref":"#/components/schemas/Todo"},{"type":"null"}]}`, string(got))
	got, _ = json.Marshal(defs)
	require.Equal(t, `{"Todo":{"type":"object","properties":{`+
		`"id":{"type":"string"},"title":{"type":"string"},"done":{"type":"boolean"},`+
		`"due":{"type":"string","format":"date-time"},"tags":{"type":["array","null"],"items":{"type":"string"}}},`+
		`"required":["id","title","done","tags"]}}`, string(got))

	// Expand describes the top inline and says whether a pointer led there.
	e, null, err := r.Expand(reflect.TypeFor[*Todo]())
	require.NoError(t, err)
	require.True(t, null)
	props, _ := e.(*ojson.Object).Get("properties")
	require.Equal(t, 5, props.(*ojson.Object).Len())
}

func TestPromotionAndDominance(t *testing.T) {
	var names []string
	for _, f := range fields(reflect.TypeFor[Everything]()) {
		names = append(names, f.name)
	}
	// Base.ID (tagged "id") and Extra.ID ("ID") differ in name: both stay.
	require.Subset(t, names, []string{"id", "created", "Note", "ID", "-", "NoTag", "zeroOmit"})
	require.NotContains(t, names, "Skipped")
	require.NotContains(t, names, "zero")

	type A struct{ X int }
	type B struct{ X int }
	type Tie struct {
		A
		B
	}
	require.Empty(t, fields(reflect.TypeFor[Tie]()), "a tie at one depth leaves the name out")
	type Deep struct{ Tie }
	require.Empty(t, fields(reflect.TypeFor[Deep]()), "a tie also hides the name from deeper levels")
	type C struct {
		X int `json:"X"`
	}
	type TaggedWins struct {
		A
		C
	}
	fs := fields(reflect.TypeFor[TaggedWins]())
	require.Len(t, fs, 1)
	require.Equal(t, []int{1, 0}, fs[0].index)
}

func TestUnsupported(t *testing.T) {
	r := New("#/$defs/", &ojson.Object{})
	for _, typ := range []reflect.Type{
		reflect.TypeFor[chan int](),
		reflect.TypeFor[func()](),
		reflect.TypeFor[struct{ C complex64 }](),
		reflect.TypeFor[map[[2]int]string](),
	} {
		_, err := r.Schema(typ)
		require.Error(t, err, "%v", typ)
	}
}

func TestNameCollisionsQualify(t *testing.T) {
	defs := ojson.New("Todo", ojson.New())
	r := New("#/$defs/", defs)
	s, err := r.Schema(reflect.TypeFor[Todo]())
	require.NoError(t, err)
	got, _ := json.Marshal(s)
	require.JSONEq(t, `{"$ref":"#/$defs/jsonreflect.Todo"}`, string(got))
	type G[T any] struct{ V T }
	s, err = r.Schema(reflect.TypeFor[G[Todo]]())
	require.NoError(t, err)
	got, _ = json.Marshal(s)
	require.Regexp(t, `^\{"\$ref":"#/\$defs/G_[A-Za-z0-9._-]+"\}$`, string(got))
}

// fill sets v to a random value: nil and zero often, so every branch of
// encoding/json's rules (omitempty, null) is reached.
func fill(rng *rand.Rand, v reflect.Value, depth int) {
	if !v.CanSet() {
		return
	}
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		if rng.IntN(3) > 0 {
			v.Set(reflect.ValueOf(time.Unix(rng.Int64N(4e9), 0).UTC()))
		}
		return
	case reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage([]string{`{"a":1}`, `[1,2]`, `"s"`, `null`}[rng.IntN(4)])))
		return
	case reflect.TypeFor[json.Number]():
		v.Set(reflect.ValueOf(json.Number([]string{"1", "-2.5", "1e3"}[rng.IntN(3)])))
		return
	case reflect.TypeFor[netip.Addr]():
		if rng.IntN(2) == 0 {
			v.Set(reflect.ValueOf(netip.MustParseAddr("127.0.0.1")))
		}
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int64N(200) - 100)
		if v.OverflowInt(v.Int()) {
			v.SetInt(0)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(rng.Uint64N(200))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(rng.Float64()*200 - 100)
	case reflect.String:
		v.SetString([]string{"", "a", "héllo", "\x00<>&"}[rng.IntN(4)])
	case reflect.Interface:
		if rng.IntN(2) == 0 {
			v.Set(reflect.ValueOf(map[string]any{"k": []any{1.5, "x", nil}}))
		}
	case reflect.Pointer:
		if depth < 4 && rng.IntN(3) > 0 {
			p := reflect.New(v.Type().Elem())
			fill(rng, p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		if depth < 4 && rng.IntN(3) > 0 {
			n := rng.IntN(3)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				fill(rng, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(rng, v.Index(i), depth+1)
		}
	case reflect.Map:
		if depth < 4 && rng.IntN(3) > 0 {
			m := reflect.MakeMap(v.Type())
			for range rng.IntN(3) {
				k := reflect.New(v.Type().Key()).Elem()
				fill(rng, k, depth+1)
				e := reflect.New(v.Type().Elem()).Elem()
				fill(rng, e, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(rng, v.Field(i), depth+1)
		}
	}
}
