package wsroute_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/nodetest"
	"github.com/wsroute/wsroute/wsroutetest"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The types of the feature router's routes.
type (
	featUser struct {
		ID    string   `json:"id"`
		Roles []string `json:"roles,omitempty"`
	}
	featMessage struct {
		From featUser  `json:"from"`
		Text string    `json:"text"`
		At   time.Time `json:"at"`
	}
	featChat struct {
		Kind    string       `json:"kind"`
		Message *featMessage `json:"message,omitempty"`
	}
	featStrictIn struct {
		N    int    `json:"n"`
		Note string `json:"note,omitempty"`
	}
	featAck struct{}
)

// featureSchema exercises what lift must carry into the document: $defs,
// a local $ref to them and a $ref to the root (a recursive input).
const featureSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://example.com/say.json",
  "type": "object",
  "properties": {
    "text": {"type": "string", "minLength": 1},
    "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
    "quote": {"$ref": "#"}
  },
  "required": ["text"],
  "additionalProperties": false,
  "$defs": {"tag": {"type": "string", "pattern": "^[a-z]+$"}}
}`

// featureRouter registers a channel of every kind AsyncAPI describes: path
// parameters, a TokenAuth with its own query parameter, permissions,
// routes with a schema ($defs, recursion), typed inputs with StrictFields,
// every reply shape (object, pointer, slice, scalar, any, ack), a default
// and a binary handler, typed topics with and without parameters, and a
// second channel with its own route and correlation keys.
func featureRouter(t *testing.T) *wsroute.Router {
	r := newRouter(t, wsroute.Options{})
	rooms := r.Channel("/rooms/{room}", wsroute.ChannelConfig{
		Name:        "rooms",
		Summary:     "A chat room",
		Description: "Open with a token: ?t= or Authorization: Bearer.",
		Authenticator: wsroute.TokenAuth{QueryParam: "t", Check: func(_ context.Context, c *wsroute.Channel, tok string) error {
			c.SetSession(featUser{ID: tok})
			return nil
		}},
		Permissions: func(context.Context, *wsroute.Channel, *wsroute.Message) error { return nil },
	})
	chat := wsroute.NewTopic[featChat](r, "rooms/{room}", wsroute.TopicConfig{Summary: "What is said in a room", Channels: []string{"rooms"}})
	wsroute.NewTopic[string](r, "announcements", wsroute.TopicConfig{Summary: "Announcements to everyone"})

	wsroute.Handle(rooms, "say", func(ctx context.Context, c *wsroute.Channel, in struct {
		Text string `json:"text"`
	}) (featMessage, error) {
		u, _ := wsroute.SessionAs[featUser](c)
		m := featMessage{From: u, Text: in.Text, At: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		return m, chat.At(c.PathValue("room")).Publish(ctx, featChat{Kind: "said", Message: &m})
	}, wsroute.RouteConfig{Schema: wsroute.SchemaString(featureSchema), Summary: "Say something", Description: "Everyone in the room gets it."})
	wsroute.Handle(rooms, "join", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*featAck, error) {
		return nil, chat.At(c.PathValue("room")).Subscribe(c)
	}, wsroute.RouteConfig{Summary: "Receive the room's chat"})
	wsroute.Handle(rooms, "whoami", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*featUser, error) {
		u, ok := wsroute.SessionAs[featUser](c)
		if !ok {
			return nil, nil
		}
		return &u, nil
	})
	wsroute.Handle(rooms, "history", func(context.Context, *wsroute.Channel, struct{}) ([]featMessage, error) {
		return []featMessage{}, nil
	})
	wsroute.Handle(rooms, "count", func(context.Context, *wsroute.Channel, struct{}) (int, error) { return 3, nil })
	wsroute.Handle(rooms, "raw", func(context.Context, *wsroute.Channel, struct{}) (json.RawMessage, error) {
		return json.RawMessage(`[1,"two"]`), nil
	})
	wsroute.Handle(rooms, "strict", func(_ context.Context, _ *wsroute.Channel, in featStrictIn) (map[string]int, error) {
		return map[string]int{"n": in.N}, nil
	}, wsroute.RouteConfig{StrictFields: true, Cost: 5, RateLimit: wsroute.RouteRateLimit{Rate: 2, Burst: 4}})
	wsroute.Handle(rooms, "fail", func(context.Context, *wsroute.Channel, struct{}) (*featAck, error) {
		return nil, wsroute.NewError("teapot", "an application code")
	})
	wsroute.HandleDefaultReply(rooms, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) (map[string]string, error) {
		return map[string]string{"unrouted": string(m.Data())}, nil
	})
	wsroute.HandleBinary(rooms, func(_ context.Context, _ *wsroute.Channel, m *wsroute.Message) ([]byte, error) {
		return m.Data(), nil
	})

	lobby := r.Channel("/lobby", wsroute.ChannelConfig{Public: true, RouteKey: "type", RefKey: "id", TraceKey: "trace"})
	wsroute.Handle(lobby, "ping", func(context.Context, *wsroute.Channel, struct{}) (string, error) { return "pong", nil },
		wsroute.RouteConfig{Public: true})
	return r
}

var featureInfo = wsroute.AsyncAPIInfo{
	Title: "wsroute features", Version: "0.0.1", Description: "Every construct the AsyncAPI mapping knows.",
	Servers: []wsroute.AsyncAPIServer{{Name: "local", Host: "127.0.0.1:8080", Description: "A developer's machine"}},
}

func featureDoc(t *testing.T) []byte {
	doc, err := wsroute.AsyncAPI(featureRouter(t), featureInfo)
	require.NoError(t, err)
	return doc
}

// TestAsyncAPIFeaturesGolden keeps the features document in testdata/
// (the TypeScript generator's tests read it too). Regenerate with
// go test -run AsyncAPIFeaturesGolden -update .
func TestAsyncAPIFeaturesGolden(t *testing.T) {
	doc := featureDoc(t)
	golden := filepath.Join("testdata", "asyncapi-features.json")
	if *updateGolden {
		require.NoError(t, os.WriteFile(golden, doc, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "go test -run AsyncAPIFeaturesGolden -update .")
	require.Equal(t, string(want), string(doc), "go test -run AsyncAPIFeaturesGolden -update . and review the diff")
}

// TestAsyncAPIParser runs the official AsyncAPI parser over the features
// document, and over a broken copy of it to show the check can fail.
func TestAsyncAPIParser(t *testing.T) {
	dir := nodetest.Install(t)
	tmp := t.TempDir()
	good := filepath.Join(tmp, "features.json")
	require.NoError(t, os.WriteFile(good, featureDoc(t), 0o644))
	t.Log(nodetest.Run(t, dir, 2*time.Minute, "node", "scripts/check-asyncapi.mjs", good))

	// A reply naming a message its channel does not have is an error.
	var doc map[string]any
	require.NoError(t, json.Unmarshal(featureDoc(t), &doc))
	msgs := doc["channels"].(map[string]any)["rooms"].(map[string]any)["messages"].(map[string]any)
	delete(msgs, "count.reply")
	b, _ := json.Marshal(doc)
	bad := filepath.Join(tmp, "broken.json")
	require.NoError(t, os.WriteFile(bad, b, 0o644))
	cmd := nodetest.Command(t, dir, 2*time.Minute, "node", "scripts/check-asyncapi.mjs", bad)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the parser accepted a broken document: %v\n%s", err, out)
	require.Contains(t, string(out), "INVALID")
}

// docSchemas compiles payload schemas of an AsyncAPI document with
// jsonschema v6, so tests can check real frames against the document.
type docSchemas struct {
	t *testing.T
	c *jsonschema.Compiler
}

func newDocSchemas(t *testing.T, doc []byte) *docSchemas {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	require.NoError(t, c.AddResource("mem://asyncapi.json", v))
	return &docSchemas{t: t, c: c}
}

// payload compiles the payload schema of message msg of channel ch.
func (d *docSchemas) payload(ch, msg string) *jsonschema.Schema {
	d.t.Helper()
	s, err := d.c.Compile("mem://asyncapi.json#/channels/" + ch + "/messages/" + msg + "/payload")
	require.NoError(d.t, err)
	return s
}

// check validates frame against the payload of message msg of channel ch.
func (d *docSchemas) check(ch, msg string, frame []byte) {
	d.t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
	require.NoError(d.t, err)
	require.NoError(d.t, d.payload(ch, msg).Validate(v), "%s/%s: %s", ch, msg, frame)
}

// refuse shows a payload schema is not vacuous.
func (d *docSchemas) refuse(ch, msg string, frame string) {
	d.t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(frame))
	require.NoError(d.t, err)
	require.Error(d.t, d.payload(ch, msg).Validate(v), "%s/%s accepted %s", ch, msg, frame)
}

// TestAsyncAPIDescribesRealFrames sends every route of the features router
// a request, and checks the request, the reply, the error frames and the
// topic events the server really produced against the document's schemas.
func TestAsyncAPIDescribesRealFrames(t *testing.T) {
	r := featureRouter(t)
	doc, err := wsroute.AsyncAPI(r, featureInfo)
	require.NoError(t, err)
	d := newDocSchemas(t, doc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := wsroutetest.MustDial(t, r, "/rooms/lobby?t=ann", nil)

	requests := []struct {
		route, frame string
		ref          any
	}{
		{"join", `{"action":"join","ref":1}`, 1},
		{"say", `{"action":"say","ref":"2","text":"hi","tags":["a"],"quote":{"text":"earlier"}}`, "2"},
		{"whoami", `{"action":"whoami","ref":3}`, 3},
		{"history", `{"action":"history","ref":4}`, 4},
		{"count", `{"action":"count","ref":5}`, 5},
		{"raw", `{"action":"raw","ref":6}`, 6},
		{"strict", `{"action":"strict","ref":7,"n":2}`, 7},
	}
	for _, rq := range requests {
		d.check("rooms", rq.route+".request", []byte(rq.frame))
		require.NoError(t, c.SendText(rq.frame))
		reply, err := c.ReadReply(ctx, rq.ref)
		require.NoError(t, err, rq.route)
		_, isErr := wsroutetest.ParseError(reply)
		require.False(t, isErr, "%s: %s", rq.route, reply)
		d.check("rooms", rq.route+".reply", reply)
		if rq.route == "say" {
			ev, err := c.Read(ctx) // the event came first; ReadReply kept it
			require.NoError(t, err)
			require.Contains(t, string(ev), `"topic":"rooms/lobby"`)
			d.check("rooms", "rooms.room.event", ev)
		}
	}
	// Errors: invalid with details, an application code, not_found.
	for _, frame := range []string{
		`{"action":"say","ref":8,"text":""}`,
		`{"action":"strict","ref":9,"n":1,"extra":true}`,
		`{"action":"fail","ref":10}`,
	} {
		require.NoError(t, c.SendText(frame))
		reply, err := c.Read(ctx)
		require.NoError(t, err)
		_, isErr := wsroutetest.ParseError(reply)
		require.True(t, isErr, "%s → %s", frame, reply)
		d.check("rooms", "error", reply)
	}
	// The default handler's reply is its output as it is.
	require.NoError(t, c.SendText(`hello`))
	reply, err := c.Read(ctx)
	require.NoError(t, err)
	d.check("rooms", "default.reply", reply)

	// The lobby's own keys.
	l := wsroutetest.MustDial(t, r, "/lobby", nil)
	d.check("lobby", "ping.request", []byte(`{"type":"ping","id":"x"}`))
	const traced = `{"type":"ping","id":"x","trace":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}`
	d.check("lobby", "ping.request", []byte(traced))
	require.NoError(t, l.SendText(traced))
	reply, err = l.Read(ctx)
	require.NoError(t, err)
	d.check("lobby", "ping.reply", reply)

	// The schemas refuse what the server would not send or accept.
	d.refuse("rooms", "say.request", `{"action":"say","text":"hi","extra":1}`)
	d.refuse("rooms", "say.request", `{"action":"whoami","text":"hi"}`)
	d.refuse("rooms", "say.request", `{"action":"say","text":"hi","tags":["UP"]}`)
	d.refuse("rooms", "say.request", `{"action":"say","text":"hi","quote":{}}`)
	d.refuse("rooms", "strict.request", `{"action":"strict","n":1,"other":2}`)
	d.refuse("rooms", "count.reply", `{"action":"count","ref":5}`)
	d.refuse("rooms", "say.reply", `{"action":"say","from":{"id":"a"},"text":"x"}`)
	d.refuse("rooms", "rooms.room.event", `{"topic":"rooms/a/b","data":{"kind":"x"}}`)
	d.refuse("lobby", "ping.reply", `{"type":"ping","id":"x","result":5}`)
}

func TestAsyncAPIErrors(t *testing.T) {
	r := featureRouter(t)
	_, err := wsroute.AsyncAPI(r, wsroute.AsyncAPIInfo{Title: "x"})
	require.ErrorContains(t, err, "Version")
	_, err = wsroute.AsyncAPI(r, wsroute.AsyncAPIInfo{Title: "x", Version: "1", Servers: []wsroute.AsyncAPIServer{{Name: "a"}}})
	require.ErrorContains(t, err, "Host")

	r2 := newRouter(t, wsroute.Options{})
	r2.Channel("/x", wsroute.ChannelConfig{Public: true})
	wsroute.NewTopic[int](r2, "t", wsroute.TopicConfig{Channels: []string{"nope"}})
	_, err = wsroute.AsyncAPI(r2, wsroute.AsyncAPIInfo{Title: "x", Version: "1"})
	require.ErrorContains(t, err, `channel "nope"`)

	r3 := newRouter(t, wsroute.Options{})
	ch := r3.Channel("/x", wsroute.ChannelConfig{Public: true})
	wsroute.Handle(ch, "bad", func(context.Context, *wsroute.Channel, struct{}) (chan int, error) { return nil, nil })
	_, err = wsroute.AsyncAPI(r3, wsroute.AsyncAPIInfo{Title: "x", Version: "1"})
	require.ErrorContains(t, err, `route "bad"`)
}

func TestAsyncAPIHandler(t *testing.T) {
	r := featureRouter(t)
	srv := httptest.NewServer(wsroute.AsyncAPIHandler(r, featureInfo))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.Equal(t, string(featureDoc(t)), string(body))

	res, err = http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	require.Equal(t, "GET, HEAD", res.Header.Get("Allow"))

	// A document that cannot be built is a 500 with a generic error.
	bad := httptest.NewServer(wsroute.AsyncAPIHandler(r, wsroute.AsyncAPIInfo{}))
	defer bad.Close()
	res, err = http.Get(bad.URL)
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusInternalServerError, res.StatusCode)
	require.JSONEq(t, `{"error":{"code":"internal","message":"the AsyncAPI document could not be built"}}`, string(body))
}
