package frame

import (
	"encoding/json"
	"testing"
)

func TestMembersAndElements(t *testing.T) {
	t.Parallel()
	obj := []byte(` {"a":1, "b\u0063":{"x":[1,2]}, "d":"s" , "":null} `)
	var got []string
	if !Members(obj, func(key string, kind Kind, val []byte) bool {
		got = append(got, key+"="+kind.String()+":"+string(val))
		return true
	}) {
		t.Fatal("Members: not an object")
	}
	want := []string{"a=number:1", `bc=object:{"x":[1,2]}`, `d=string:"s"`, "=null:null"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d: got %q, want %q", i, got[i], want[i])
		}
	}
	n := 0
	Members(obj, func(string, Kind, []byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("Members did not stop: %d calls", n)
	}
	if Members([]byte(`[1]`), func(string, Kind, []byte) bool { return true }) {
		t.Error("Members accepted an array")
	}

	var elems []string
	var a ArrayIter
	if !a.Reset([]byte(` [ 1, {"a":[]} ,"x",[ ] ] `)) {
		t.Fatal("ArrayIter: not an array")
	}
	for a.Next() {
		if a.Index() != len(elems) {
			t.Errorf("index %d at element %d", a.Index(), len(elems))
		}
		elems = append(elems, a.Kind().String()+":"+string(a.Value()))
	}
	wantElems := []string{"number:1", `object:{"a":[]}`, `string:"x"`, "array:[ ]"}
	if len(elems) != len(wantElems) {
		t.Fatalf("got %q, want %q", elems, wantElems)
	}
	for i := range wantElems {
		if elems[i] != wantElems[i] {
			t.Errorf("element %d: got %q, want %q", i, elems[i], wantElems[i])
		}
	}
	if !a.Reset([]byte(`[]`)) || a.Next() {
		t.Error("ArrayIter on []")
	}
	var o ObjectIter
	if !o.Reset([]byte(`{"\u0041b":1}`)) || !o.Next() {
		t.Fatal("ObjectIter")
	}
	if body, esc := o.Key(); string(body) != `\u0041b` || !esc || o.KeyString() != "Ab" {
		t.Errorf("Key %q %v, KeyString %q", body, esc, o.KeyString())
	}

}

func TestIterDoesNotAllocate(t *testing.T) { // not parallel: AllocsPerRun
	obj := []byte(`{"a":1,"b":{"x":[1,2,{"y":null}]},"c":"s"}`)
	if n := testing.AllocsPerRun(100, func() {
		var o ObjectIter
		for ok := o.Reset(obj); ok && o.Next(); {
			_, _ = o.Key()
			var a ArrayIter
			for ok := a.Reset(o.Value()); ok && a.Next(); {
				_ = a.Value()
			}
		}
	}); n != 0 {
		t.Errorf("a walk allocates %v times", n)
	}
}

// FuzzMembers: on any valid JSON object, Members sees the keys and values
// encoding/json sees.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,{"c":2}]},"d":"\u00e9"}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ref map[string]json.RawMessage
		if json.Unmarshal(data, &ref) != nil || Parse(data, "action", "ref").Kind != Object {
			return
		}
		seen := map[string]json.RawMessage{}
		if !Members(data, func(key string, _ Kind, val []byte) bool {
			seen[key] = json.RawMessage(val) // the last duplicate wins, as in encoding/json
			return true
		}) {
			t.Fatalf("Members refused %q", data)
		}
		if len(seen) != len(ref) {
			t.Fatalf("%q: Members saw %d keys, encoding/json %d", data, len(seen), len(ref))
		}
		for k, v := range ref {
			if string(seen[k]) != string(v) {
				t.Fatalf("%q: key %q: Members %q, encoding/json %q", data, k, seen[k], v)
			}
		}
	})
}
