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
