package frame

import (
	"encoding/json"
	"strings"
	"testing"
)

var benchFrame = `{"action":"echo","ref":12345,"title":"` + strings.Repeat("lorem ipsum ", 8) + `dolor"}`

func BenchmarkParse(b *testing.B) {
	in := []byte(benchFrame)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if f := Parse(in, "action", "ref"); !f.Route.Found {
			b.Fatal("route not found")
		}
	}
}

func BenchmarkJSONValid(b *testing.B) {
	in := []byte(benchFrame)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(in) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkUnmarshalStruct(b *testing.B) {
	in := []byte(benchFrame)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var v struct{ Title string }
		if err := json.Unmarshal(in, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendReply(b *testing.B) {
	out := []byte(`{"id":42,"title":"` + strings.Repeat("lorem ipsum ", 8) + `","tags":["a","b"],"done":false}`)
	route, ref := []byte(`"create"`), []byte(`"7"`)
	for _, bc := range []struct {
		name    string
		trusted bool
	}{{"trusted", true}, {"untrusted", false}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendReply(buf[:0], "action", route, "ref", ref, out, bc.trusted)
			}
			if !json.Valid(buf) {
				b.Fatal("invalid reply")
			}
		})
	}
}
