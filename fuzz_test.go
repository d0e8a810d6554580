package wsroute_test

import (
	"context"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// FuzzHandleFrame sends arbitrary text through the whole message lifecycle:
// the library must never crash, and must answer every valid UTF-8 frame with
// exactly one JSON frame (the routes here always reply).
func FuzzHandleFrame(f *testing.F) {
	for _, s := range []string{
		`{"action":"echo","ref":1,"title":"x"}`,
		`{"action":"map","ref":"a","k":[1,{"x":null}]}`,
		`{"action":"echo","action":"echo"}`,
		`{"action":"echo","ref":{}}`,
		`{"action":"\u0065cho","ref":1e400,"title":"\ud800"}`,
		`[`, `"x"`, `{}`, `{"action":7}`, ` {"ref" : -0.0 , "action":"map"} `,
		`{"action":"nested","items":[{"name":"a"},{"NAME":"b"}],"m":{"k":{"x":1,"y":2}}}`,
		`{"action":"nested","\u0069tems":[],"M":{}}`,
	} {
		f.Add(s)
	}
	r := wsroute.New(wsroute.Options{})
	ch := r.Channel("/f", wsroute.ChannelConfig{Public: true})
	public := wsroute.RouteConfig{Public: true}
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in titleIn) (titleOut, error) {
		return titleOut(in), nil
	}, wsroute.RouteConfig{Public: true, Schema: wsroute.SchemaString(`{"type":"object","properties":{"title":{"type":"string","maxLength":200}},"required":["title"]}`)})
	wsroute.Handle(ch, "map", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
		return in, nil
	}, public)
	type nestedIn struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
		M map[string]struct {
			X int `json:"x"`
		} `json:"m"`
	}
	wsroute.Handle(ch, "nested", func(_ context.Context, _ *wsroute.Channel, in nestedIn) (nestedIn, error) {
		return in, nil
	}, wsroute.RouteConfig{Public: true, StrictFields: true})
	f.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	f.Fuzz(func(t *testing.T, frame string) {
		c, err := wsroutetest.Dial(context.Background(), r, "/f", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Drop()
		if err := c.SendText(frame); err != nil {
			t.Fatal(err)
		}
		got, err := c.Received(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(frame) {
			if len(got) != 0 {
				t.Fatalf("invalid UTF-8 answered with %q", got)
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("frame %q answered with %d frames: %q", frame, len(got), got)
		}
		if !json.Valid(got[0]) {
			t.Fatalf("frame %q answered with invalid JSON %q", frame, got[0])
		}
	})
}
