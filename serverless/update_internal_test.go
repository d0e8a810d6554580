package serverless

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/wsroute/wsroute"
)

// TestSameStateSeesEveryField changes each field of a ChannelState in
// turn: sameState must see every change, or a message's change to a field
// it does not compare would be dropped as "nothing changed".
func TestSameStateSeesEveryField(t *testing.T) {
	base := wsroute.ChannelState{ID: "c1", Channel: "ch", URL: "/ch?x=1", Header: http.Header{"A": {"1"}},
		RemoteAddr: "127.0.0.1:1", Session: json.RawMessage(`{"u":"ann"}`), SessionExpires: time.Unix(100, 0),
		Connected: true, Topics: []string{"a", "b"}}
	assert.True(t, sameState(base, base))
	typ := reflect.TypeFor[wsroute.ChannelState]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		other := base
		v := reflect.ValueOf(&other).Elem().Field(i)
		switch x := v.Addr().Interface().(type) {
		case *string:
			*x += "!"
		case *bool:
			*x = !*x
		case *time.Time:
			*x = x.Add(time.Second)
		case *json.RawMessage:
			*x = json.RawMessage(`{"u":"bob"}`)
		case *[]string:
			*x = []string{"a"}
		case *http.Header:
			*x = http.Header{"A": {"2"}}
		default:
			t.Fatalf("field %s of type %s: teach this test (and sameState) about it", f.Name, f.Type)
		}
		assert.False(t, sameState(base, other), "a change of %s went unseen", f.Name)
	}
}

func TestRebase(t *testing.T) {
	st := func(session string, topics ...string) wsroute.ChannelState {
		s := wsroute.ChannelState{ID: "c", Topics: topics}
		if session != "" {
			s.Session = json.RawMessage(session)
		}
		return s
	}
	for _, tc := range []struct {
		name            string
		base, mine, cur wsroute.ChannelState
		want            wsroute.ChannelState
	}{
		{"topics merge", st("", "x"), st("", "x", "m"), st("", "c", "x"), st("", "c", "m", "x")},
		{"a removal stays removed", st("", "x", "y"), st("", "y"), st("", "x", "y", "z"), st("", "y", "z")},
		{"the other's removal stays", st("", "x"), st("", "m", "x"), st(""), st("", "m")},
		{"an untouched session stays the other's", st(`{"u":1}`), st(`{"u":1}`, "m"), st(""), st("", "m")},
		{"a session set wins", st(""), st(`{"u":2}`), st(`{"u":3}`, "c"), st(`{"u":2}`, "c")},
		{"a session cleared wins", st(`{"u":1}`), st(""), st(`{"u":3}`), st("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rebase(tc.base, tc.mine, tc.cur)
			if len(got.Topics) == 0 {
				got.Topics = nil
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
