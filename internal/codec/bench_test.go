package codec

import (
	"encoding/json"
	"reflect"
	"testing"
	"unsafe"
)

// Side by side: the codec and encoding/json on the realistic frame and type.

func BenchmarkDecode(b *testing.B) {
	data := []byte(realFrame)
	b.Run("codec", func(b *testing.B) {
		d := NewDecoder(reflect.TypeFor[frameData]())
		v := new(frameData)
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			*v = frameData{}
			if !d.Decode(data, unsafe.Pointer(v)) {
				b.Fatal("fallback")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		v := new(frameData)
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			*v = frameData{}
			if err := json.Unmarshal(data, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	var v frameData
	if err := json.Unmarshal([]byte(realFrame), &v); err != nil {
		b.Fatal(err)
	}
	b.Run("codec", func(b *testing.B) {
		e := NewEncoder(reflect.TypeFor[frameData]())
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			var ok bool
			if buf, ok = e.Append(buf[:0], unsafe.Pointer(&v)); !ok {
				b.Fatal("fallback")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The wider type, for a view beyond the one realistic message.
func BenchmarkDecodeAllKinds(b *testing.B) {
	data := []byte(allKindsJSON)
	b.Run("codec", func(b *testing.B) {
		d := NewDecoder(reflect.TypeFor[allKinds]())
		b.ReportAllocs()
		for b.Loop() {
			var v allKinds
			if !d.Decode(data, unsafe.Pointer(&v)) {
				b.Fatal("fallback")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v allKinds
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeAllKinds(b *testing.B) {
	var v allKinds
	if err := json.Unmarshal([]byte(allKindsJSON), &v); err != nil {
		b.Fatal(err)
	}
	b.Run("codec", func(b *testing.B) {
		e := NewEncoder(reflect.TypeFor[allKinds]())
		buf := make([]byte, 0, 2048)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = e.Append(buf[:0], unsafe.Pointer(&v))
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
