package ojson

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTripKeepsOrder(t *testing.T) {
	in := `{"z":1,"a":{"y":[1,2.5,"x",null,true],"b":{}},"m":[]}`
	v, err := Decode([]byte(in))
	require.NoError(t, err)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	require.Equal(t, in, string(out))
}

func TestDuplicateKeyKeepsLast(t *testing.T) {
	v, err := Decode([]byte(`{"a":1,"b":2,"a":3}`))
	require.NoError(t, err)
	out, _ := json.Marshal(v)
	require.Equal(t, `{"a":3,"b":2}`, string(out))
}

func TestDecodeRefusesTrailingData(t *testing.T) {
	_, err := Decode([]byte(`{} {}`))
	require.Error(t, err)
	_, err = Decode([]byte(`{"a":`))
	require.Error(t, err)
}

func TestCloneIsDeep(t *testing.T) {
	o := New("a", New("b", []any{1}))
	c := Clone(o).(*Object)
	inner, _ := c.Get("a")
	inner.(*Object).Set("b", "changed")
	got, _ := json.Marshal(o)
	require.Equal(t, `{"a":{"b":[1]}}`, string(got))
}

func TestSetGetDelete(t *testing.T) {
	o := New("a", 1, "b", 2)
	o.Set("a", 3)
	o.Set("c", 4)
	o.Delete("b")
	got, _ := json.Marshal(o)
	require.Equal(t, `{"a":3,"c":4}`, string(got))
	_, ok := o.Get("b")
	require.False(t, ok)
	require.Equal(t, 2, o.Len())
}
