package schema

import (
	"strings"
	"testing"
)

var benchInput = []byte(`{"title":"` + strings.Repeat("a", 100) + `"}`)

func BenchmarkDecodeValidate(b *testing.B) {
	s := mustCompile(b, FromString(todoSchema))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchInput)))
	for b.Loop() {
		v, err := Decode(benchInput)
		if err != nil {
			b.Fatal(err)
		}
		if d := s.Validate(v); d != nil {
			b.Fatal(d)
		}
	}
}

func BenchmarkDecodeOnly(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchInput)))
	for b.Loop() {
		if _, err := Decode(benchInput); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValidateInvalid measures the failure path: leaf collection,
// messages, sorting.
func BenchmarkDecodeValidateInvalid(b *testing.B) {
	s := mustCompile(b, FromString(todoSchema))
	in := []byte(`{"title":1,"extra":true}`)
	b.ReportAllocs()
	for b.Loop() {
		v, err := Decode(in)
		if err != nil {
			b.Fatal(err)
		}
		if d := s.Validate(v); len(d) != 2 {
			b.Fatal(d)
		}
	}
}

// routeSchema and routeFrame are a realistic route: the input of an "echo"
// action, with the route key and ref left out of validation.
const routeSchema = `{"type":"object","required":["data"],"additionalProperties":false,"properties":{"data":{"type":"object","additionalProperties":false,"required":["user","room","text","n","seq"],"properties":{"user":{"type":"string","minLength":1,"maxLength":64},"room":{"type":"string","minLength":1,"maxLength":64},"text":{"type":"string","minLength":1,"maxLength":200},"n":{"type":"integer","minimum":0},"seq":{"type":"integer","minimum":0}}}}}`

var routeFrame = []byte(`{"action":"echo","ref":12345,"data":{"user":"u-123","room":"lobby","text":"` + strings.Repeat("hello, world! ", 5) + `","n":42,"seq":7}}`)

// BenchmarkRoute compares the fast program (ValidateObject) with decoding
// and validating by jsonschema, on a valid route frame.
func BenchmarkRoute(b *testing.B) {
	s := mustCompile(b, FromString(routeSchema))
	if !s.Fast() {
		b.Fatal("no fast program for the route schema")
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(routeFrame)))
		for b.Loop() {
			if d, err := s.ValidateObject(routeFrame, "action", "ref"); d != nil || err != nil {
				b.Fatal(d, err)
			}
		}
	})
	b.Run("slow", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(routeFrame)))
		for b.Loop() {
			v, err := DecodeObject(routeFrame, "action", "ref")
			if err != nil {
				b.Fatal(err)
			}
			if d := s.Validate(v); d != nil {
				b.Fatal(d)
			}
		}
	})
}
