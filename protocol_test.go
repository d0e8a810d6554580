package wsroute_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

type titleIn struct {
	Title string `json:"title"`
}

type titleOut struct {
	Title string `json:"title"`
}

// protocolRouter has one route per reply shape and error path of the protocol.
func protocolRouter(t *testing.T, logs *logBuffer, withDefault bool) *wsroute.Router {
	r := newRouter(t, wsroute.Options{Logger: logs.logger(), Authenticator: tokenAuth})
	ch := r.Channel("/p", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in titleIn) (titleOut, error) {
		return titleOut(in), nil
	})
	wsroute.Handle(ch, "ack", func(context.Context, *wsroute.Channel, struct{}) (*titleOut, error) {
		return nil, nil
	})
	wsroute.Handle(ch, "list", func(context.Context, *wsroute.Channel, struct{}) ([]string, error) {
		return []string{"a", "b"}, nil
	})
	wsroute.Handle(ch, "num", func(context.Context, *wsroute.Channel, struct{}) (int, error) { return 42, nil })
	wsroute.Handle(ch, "silent", func(context.Context, *wsroute.Channel, struct{}) (int, error) {
		return 0, wsroute.ErrNoReply
	})
	wsroute.Handle(ch, "fail", func(context.Context, *wsroute.Channel, struct{}) (int, error) {
		return 0, errors.New("db password is hunter2")
	})
	wsroute.Handle(ch, "boom", func(context.Context, *wsroute.Channel, struct{}) (int, error) {
		panic("kaboom")
	})
	wsroute.Handle(ch, "quota", func(context.Context, *wsroute.Channel, struct{}) (int, error) {
		return 0, wsroute.NewError("quota_exceeded", "too many todos")
	})
	wsroute.Handle(ch, "map", func(context.Context, *wsroute.Channel, map[string]any) (map[string]any, error) {
		return map[string]any{"action": "evil", "ref": "evil", "x": 1}, nil
	})
	wsroute.Handle(ch, "input", func(_ context.Context, _ *wsroute.Channel, in map[string]any) (map[string]any, error) {
		return map[string]any{"got": in}, nil
	})
	wsroute.Handle(ch, "open", func(_ context.Context, _ *wsroute.Channel, in titleIn) (titleOut, error) {
		return titleOut(in), nil
	}, wsroute.RouteConfig{Public: true})
	if withDefault {
		wsroute.HandleDefaultReply(ch, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) (any, error) {
			if !m.IsJSON() {
				return map[string]string{"text": string(m.Data())}, nil
			}
			if string(m.Data()) == `"quiet"` {
				return nil, nil
			}
			return map[string]any{"echo": m.Input()}, nil
		})
	}
	return r
}

func TestFrameTable(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	tests := []struct {
		name, frame, want string
	}{
		{"not JSON", `{"action":`, `{"error":{"code":"bad_request","message":"frame is not valid JSON"}}`},
		{"nesting deeper than encoding/json allows", deep, `{"error":{"code":"bad_request","message":"frame is not valid JSON"}}`},
		{"route key twice", `{"action":"echo","action":"echo","ref":1}`, `{"ref":1,"error":{"code":"bad_request","message":"\"action\" appears more than once"}}`},
		{"route key twice, escaped", `{"action":"echo","\u0061ction":"x"}`, `{"error":{"code":"bad_request","message":"\"action\" appears more than once"}}`},
		{"ref twice", `{"action":"echo","ref":1,"ref":2}`, `{"action":"echo","error":{"code":"bad_request","message":"\"ref\" appears more than once"}}`},
		{"ref object", `{"action":"echo","ref":{}}`, `{"action":"echo","error":{"code":"bad_request","message":"\"ref\" must be a string or a number"}}`},
		{"ref null", `{"action":"echo","ref":null}`, `{"action":"echo","error":{"code":"bad_request","message":"\"ref\" must be a string or a number"}}`},
		{"ref bool", `{"action":"echo","ref":true}`, `{"action":"echo","error":{"code":"bad_request","message":"\"ref\" must be a string or a number"}}`},
		{"ref array", `{"action":"echo","ref":[1]}`, `{"action":"echo","error":{"code":"bad_request","message":"\"ref\" must be a string or a number"}}`},
		{"array", `[1,2]`, `{"error":{"code":"not_found","message":"message names no route (\"action\" missing or not a string)"}}`},
		{"string", `"echo"`, `{"error":{"code":"not_found","message":"message names no route (\"action\" missing or not a string)"}}`},
		{"key missing", `{"ref":"r1","title":"x"}`, `{"ref":"r1","error":{"code":"not_found","message":"message names no route (\"action\" missing or not a string)"}}`},
		{"key not a string", `{"action":7,"ref":"r1"}`, `{"ref":"r1","error":{"code":"not_found","message":"message names no route (\"action\" missing or not a string)"}}`},
		{"unknown route", `{"action":"nope","ref":"r1"}`, `{"action":"nope","ref":"r1","error":{"code":"not_found","message":"no route \"nope\""}}`},
		{"case-sensitive key", `{"Action":"echo"}`, `{"error":{"code":"not_found","message":"message names no route (\"action\" missing or not a string)"}}`},
		{"case-sensitive value", `{"action":"ECHO"}`, `{"action":"ECHO","error":{"code":"not_found","message":"no route \"ECHO\""}}`},
		{"routed", `{"action":"echo","ref":"7","title":"hi"}`, `{"action":"echo","ref":"7","title":"hi"}`},
		{"routed with escaped value", `{"action":"\u0065cho","title":"hi"}`, `{"action":"\u0065cho","title":"hi"}`},
		{"ref echoed byte for byte", `{"action":"echo","ref":1.50e0,"title":"x"}`, `{"action":"echo","ref":1.50e0,"title":"x"}`},
		{"ref string echoed byte for byte", `{"action":"echo","ref":"\u0037","title":"x"}`, `{"action":"echo","ref":"\u0037","title":"x"}`},
		{"whitespace around", " \n{ \"action\" : \"echo\" , \"ref\" : 9 }\t", `{"action":"echo","ref":9,"title":""}`},
	}
	logs := &logBuffer{}
	r := protocolRouter(t, logs, false)
	c := wsroutetest.MustDial(t, r, "/p?token=alice-token", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, one(t, c, tt.frame))
		})
	}
}

func TestFrameTableDefaultHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, frame, want string
	}{
		{"not JSON gets the raw text", `hello {`, `{"text":"hello {"}`},
		{"not an object", `[1,2]`, `{"echo":[1,2]}`},
		{"key missing", `{"ref":1}`, `{"echo":{"ref":1}}`},
		{"key not a string", `{"action":1}`, `{"echo":{"action":1}}`},
		{"unknown route", `{"action":"nope","x":[true]}`, `{"echo":{"action":"nope","x":[true]}}`},
		{"routed still routed", `{"action":"echo","title":"t"}`, `{"action":"echo","title":"t"}`},
		{"duplicates still refused", `{"action":"a","action":"b"}`, `{"error":{"code":"bad_request","message":"\"action\" appears more than once"}}`},
	}
	r := protocolRouter(t, &logBuffer{}, true)
	c := wsroutetest.MustDial(t, r, "/p?token=alice-token", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, one(t, c, tt.frame))
		})
	}
	t.Run("nil result sends nothing", func(t *testing.T) {
		assert.Empty(t, exchange(t, c, `"quiet"`))
	})
}

func TestReplyShapes(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	r := protocolRouter(t, logs, false)
	c := wsroutetest.MustDial(t, r, "/p?token=alice-token", nil)
	tests := []struct {
		name, frame, want string
	}{
		{"object merged", `{"action":"echo","ref":1,"title":"a"}`, `{"action":"echo","ref":1,"title":"a"}`},
		{"no ref, none sent", `{"action":"echo","title":"a"}`, `{"action":"echo","title":"a"}`},
		{"null is an ack", `{"action":"ack","ref":"x"}`, `{"action":"ack","ref":"x"}`},
		{"array wrapped", `{"action":"list","ref":2}`, `{"action":"list","ref":2,"result":["a","b"]}`},
		{"number wrapped", `{"action":"num"}`, `{"action":"num","result":42}`},
		{"request key and ref win", `{"action":"map","ref":3}`, `{"action":"map","ref":3,"x":1}`},
		{"ref in output dropped without request ref", `{"action":"map"}`, `{"action":"map","x":1}`},
		{"input excludes route key and ref", `{"action":"input","ref":4,"a":1}`, `{"action":"input","ref":4,"got":{"a":1}}`},
		{"typed error", `{"action":"quota","ref":5}`, `{"action":"quota","ref":5,"error":{"code":"quota_exceeded","message":"too many todos"}}`},
		{"plain error is internal", `{"action":"fail","ref":6}`, `{"action":"fail","ref":6,"error":{"code":"internal","message":"internal error"}}`},
		{"panic is internal", `{"action":"boom","ref":7}`, `{"action":"boom","ref":7,"error":{"code":"internal","message":"internal error"}}`},
		{"decode failure is invalid", `{"action":"echo","ref":8,"title":5}`, `{"action":"echo","ref":8,"error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/title","message":"expected string, got number"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, one(t, c, tt.frame))
		})
	}
	t.Run("ErrNoReply sends nothing", func(t *testing.T) {
		assert.Empty(t, exchange(t, c, `{"action":"silent","ref":1}`))
	})
	t.Run("internal errors are logged, never sent", func(t *testing.T) {
		assert.Contains(t, logs.String(), "hunter2")
		assert.Contains(t, logs.String(), "kaboom")
	})
}

func TestAuthByDefault(t *testing.T) {
	t.Parallel()
	r := protocolRouter(t, &logBuffer{}, true)
	c := wsroutetest.MustDial(t, r, "/p", nil) // no token: the channel is public, the routes are not
	assert.Equal(t, `{"action":"echo","ref":1,"error":{"code":"unauthenticated","message":"authentication required"}}`,
		one(t, c, `{"action":"echo","ref":1,"title":"x"}`))
	assert.Equal(t, `{"error":{"code":"unauthenticated","message":"authentication required"}}`,
		one(t, c, `{"anything":1}`), "the default handler requires a session too")
	assert.Equal(t, `{"action":"open","title":"x"}`, one(t, c, `{"action":"open","title":"x"}`))
}

func TestCloseCodesInMemory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		send func(c *wsroutetest.Conn) error
		code websocket.StatusCode
	}{
		{"binary frame", func(c *wsroutetest.Conn) error { return c.SendBinary([]byte{1, 2}) }, websocket.StatusPolicyViolation},
		{"invalid UTF-8", func(c *wsroutetest.Conn) error { return c.SendText("{\"action\":\"\xff\"}") }, websocket.StatusInvalidFramePayloadData},
		{"too big", func(c *wsroutetest.Conn) error { return c.SendText(`"` + strings.Repeat("x", 64<<10) + `"`) }, websocket.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var closed []wsroute.CloseInfo
			r := newRouter(t, wsroute.Options{})
			r.Channel("/c", wsroute.ChannelConfig{Public: true,
				OnDisconnect: func(_ context.Context, _ *wsroute.Channel, info wsroute.CloseInfo) { closed = append(closed, info) }})
			c := wsroutetest.MustDial(t, r, "/c", nil)
			require.NoError(t, tt.send(c))
			err := c.Wait(t.Context())
			assert.Equal(t, tt.code, websocket.CloseStatus(err), "%v", err)
			require.Len(t, closed, 1)
			assert.Equal(t, tt.code, closed[0].Code)
		})
	}
}
