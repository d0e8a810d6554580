package apigw

import (
	"encoding/json"
	"testing"
)

// FuzzSelectRoute feeds client messages — untrusted bytes — to route
// selection: it never panics, and picks a configured key only when the
// message is JSON whose "action" is that key.
func FuzzSelectRoute(f *testing.F) {
	for _, seed := range []string{`{"action":"create"}`, `{"action":1}`, `{"action":null}`, `not json`,
		`{"action":"create"} {}`, `{"action":{"a":1}}`, `[]`, `{"action":"\u0063reate"}`, ""} {
		f.Add([]byte(seed))
	}
	s, err := newRouteSelector("$request.body.action", []string{"create", "1", `{"a":1}`})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := s.selectRoute(body)
		if got == RouteDefault {
			return
		}
		if !s.keys[got] {
			t.Fatalf("%q: selected %q, which is not configured", body, got)
		}
		var v map[string]json.RawMessage
		if json.Unmarshal(body, &v) != nil {
			t.Fatalf("%q is not a JSON object, yet %q was selected", body, got)
		}
		if _, ok := v["action"]; !ok {
			t.Fatalf("%q has no action, yet %q was selected", body, got)
		}
	})
}
