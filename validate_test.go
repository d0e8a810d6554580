package wsroute_test

import (
	"context"
	"embed"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

//go:embed testdata/schemas/*.json
var schemaFS embed.FS

func TestSchemaSources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema *wsroute.Schema
	}{
		{"file with $ref", wsroute.SchemaFile("testdata/schemas/todo.json")},
		{"embed.FS with $ref", wsroute.SchemaFS(schemaFS, "testdata/schemas/todo.json")},
		{"bytes", wsroute.SchemaBytes([]byte(`{"properties":{"title":{"type":"string","minLength":1,"maxLength":200}},"required":["title"],"additionalProperties":false}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRouter(t, wsroute.Options{})
			ch := r.Channel("/c", wsroute.ChannelConfig{Public: true})
			wsroute.Handle(ch, "create", func(_ context.Context, _ *wsroute.Channel, in titleIn) (titleOut, error) {
				return titleOut(in), nil
			}, wsroute.RouteConfig{Public: true, Schema: tt.schema})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			assert.Equal(t, `{"action":"create","title":"a"}`, one(t, c, `{"action":"create","title":"a"}`))
			assert.Equal(t, `{"action":"create","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"","message":"additional properties 'x' not allowed"},{"pointer":"/title","message":"minLength: got 0, want 1"}]}}`,
				one(t, c, `{"action":"create","title":"","x":1}`))
		})
	}
}
