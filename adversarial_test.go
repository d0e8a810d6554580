package wsroute_test

// Adversarial tests, in memory unless the network matters (then also over
// loopback). The helpers here serve adversarial_net_test.go too. Every channel
// that connected must see OnDisconnect exactly once (checked by advRouter).

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// advTracker records the life of every channel of an advRouter.
type advTracker struct {
	mu        sync.Mutex
	connected map[string]bool
	infos     map[string][]wsroute.CloseInfo
	ended     map[string]chan struct{}
	servers   []*httptest.Server
	echoes    atomic.Int64 // calls of the "echo" handler
	// "block" signals started, then cancelled once its context is, waits for release, sets returned.
	started, cancelled, release chan struct{}
	returned                    atomic.Bool
	returnedAtEnd               map[string]bool // at OnDisconnect: had "block" returned
}

func (tr *advTracker) endedChan(id string) chan struct{} {
	ch, ok := tr.ended[id]
	if !ok {
		ch = make(chan struct{})
		tr.ended[id] = ch
	}
	return ch
}

func (tr *advTracker) connect(_ context.Context, c *wsroute.Channel) error {
	tr.mu.Lock()
	tr.connected[c.ID()] = true
	tr.mu.Unlock()
	if c.Name() == "net" { // network clients learn their channel's id
		return c.Send(context.Background(), map[string]string{"hello": c.ID()})
	}
	return nil
}

func (tr *advTracker) disconnect(_ context.Context, c *wsroute.Channel, info wsroute.CloseInfo) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.infos[c.ID()] = append(tr.infos[c.ID()], info)
	tr.returnedAtEnd[c.ID()] = tr.returned.Load()
	if len(tr.infos[c.ID()]) == 1 {
		close(tr.endedChan(c.ID()))
	}
}

// wait waits (bounded) for channel id's OnDisconnect and returns what it saw.
func (tr *advTracker) wait(t *testing.T, id string) wsroute.CloseInfo {
	t.Helper()
	tr.mu.Lock()
	ch := tr.endedChan(id)
	tr.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("OnDisconnect of %s did not run", id)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.infos[id][0]
}

// count returns how many times channel id's OnDisconnect ran so far.
func (tr *advTracker) count(id string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.infos[id])
}

type (
	advNumber struct {
		N json.Number `json:"n"`
	}
	advPublish struct {
		N    int `json:"n"`
		Size int `json:"size"`
	}
	advLen struct {
		Len int `json:"len"`
	}
	advTyped struct {
		I int64   `json:"i"`
		F float64 `json:"f"`
		U uint8   `json:"u"`
		P struct {
			I int64 `json:"i"`
		} `json:"p"`
	}
)

// advRouter returns a Router with a public channel "/m" (in memory) and "/n"
// (network: OnConnect sends {"hello":<id>}), both with the routes below. When
// the test ends it shuts the Router down, closes the servers of advServe and
// checks that every channel that connected saw OnDisconnect exactly once.
func advRouter(t *testing.T, opts wsroute.Options) (*wsroute.Router, *advTracker) {
	t.Helper()
	tr := &advTracker{
		connected: map[string]bool{}, infos: map[string][]wsroute.CloseInfo{}, ended: map[string]chan struct{}{},
		returnedAtEnd: map[string]bool{},
		started:       make(chan struct{}, 1), cancelled: make(chan struct{}, 1), release: make(chan struct{}),
	}
	r := wsroute.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, r.Shutdown(ctx))
		for _, s := range tr.servers {
			s.Close()
		}
		assert.Zero(t, r.Len())
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for id := range tr.connected {
			assert.Len(t, tr.infos[id], 1, "OnDisconnect of %s: %v", id, tr.infos[id])
		}
		for id := range tr.infos {
			assert.True(t, tr.connected[id], "OnDisconnect of %s without OnConnect", id)
		}
	})
	public := wsroute.RouteConfig{Public: true}
	for _, name := range []string{"mem", "net"} {
		ch := r.Channel("/"+name[:1], wsroute.ChannelConfig{Name: name, Public: true, OnConnect: tr.connect, OnDisconnect: tr.disconnect})
		wsroute.Handle(ch, "echo", func(_ context.Context, _ *wsroute.Channel, in titleIn) (titleOut, error) {
			tr.echoes.Add(1)
			return titleOut(in), nil
		}, public)
		wsroute.Handle(ch, "café", noop[struct{}, *struct{}], public) // NFC: "caf\u00e9"
		wsroute.Handle(ch, "n", func(_ context.Context, _ *wsroute.Channel, in advNumber) (advNumber, error) {
			return in, nil
		}, wsroute.RouteConfig{Public: true, Schema: wsroute.SchemaString(
			`{"type":"object","properties":{"n":{"type":"integer","maximum":9007199254740992}},"required":["n"]}`)})
		wsroute.Handle(ch, "typed", func(_ context.Context, _ *wsroute.Channel, in advTyped) (advTyped, error) {
			return in, nil
		}, public)
		rawLen := func(_ context.Context, _ *wsroute.Channel, in json.RawMessage) (advLen, error) {
			return advLen{len(in)}, nil
		}
		wsroute.Handle(ch, "raw", rawLen, public)
		wsroute.Handle(ch, "input", func(_ context.Context, _ *wsroute.Channel, in json.RawMessage) (map[string]json.RawMessage, error) {
			return map[string]json.RawMessage{"got": in}, nil
		}, public)
		wsroute.Handle(ch, "tree", rawLen, wsroute.RouteConfig{Public: true, Schema: wsroute.SchemaString(
			`{"$defs":{"t":{"type":["array","integer"],"items":{"$ref":"#/$defs/t"}}},"type":"object","properties":{"x":{"$ref":"#/$defs/t"}}}`)})
		wsroute.Handle(ch, "sub", func(_ context.Context, c *wsroute.Channel, _ struct{}) (*struct{}, error) {
			return nil, c.Subscribe("t")
		}, public)
		wsroute.Handle(ch, "publish", func(ctx context.Context, c *wsroute.Channel, in advPublish) (*struct{}, error) {
			payload := strings.Repeat("x", in.Size)
			for range in.N {
				if err := c.Router().Publish(ctx, "t", payload, wsroute.PublishOptions{}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}, public)
		wsroute.Handle(ch, "block", func(ctx context.Context, _ *wsroute.Channel, _ struct{}) (*struct{}, error) {
			defer tr.returned.Store(true)
			tr.started <- struct{}{}
			select {
			case <-ctx.Done():
				tr.cancelled <- struct{}{}
			case <-time.After(20 * time.Second): // a bound, not a sleep: the test fails without the cancel
			}
			<-tr.release
			return nil, nil
		}, public)
	}
	return r, tr
}

// advMustDial opens "/m" in memory.
func advMustDial(t *testing.T, r *wsroute.Router) *wsroutetest.Conn {
	t.Helper()
	return wsroutetest.MustDial(t, r, "/m", nil)
}

// advError decodes an error frame and returns its code, its action (ok false
// when absent) and its raw ref (nil when absent).
func advError(t *testing.T, frame string) (code string, action string, hasAction bool, ref json.RawMessage) {
	t.Helper()
	require.True(t, json.Valid([]byte(frame)), "reply is not valid JSON: %q", frame)
	var e struct {
		Action *string         `json:"action"`
		Ref    json.RawMessage `json:"ref"`
		Error  *struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(frame), &e))
	require.True(t, e.Error != nil && e.Error.Message != "", "not an error frame: %s", frame)
	if e.Action != nil {
		action, hasAction = *e.Action, true
	}
	return e.Error.Code, action, hasAction, e.Ref
}

// advServing checks that r still answers a new channel.
func advServing(t *testing.T, r *wsroute.Router) {
	t.Helper()
	c := advMustDial(t, r)
	assert.Equal(t, `{"action":"echo","ref":"alive","title":"ok"}`, one(t, c, `{"action":"echo","ref":"alive","title":"ok"}`))
	c.Drop()
}

func TestAdversarialRouteKeyValues(t *testing.T) {
	t.Parallel()
	r, tr := advRouter(t, wsroute.Options{})
	c := advMustDial(t, r)
	tests := []struct {
		name, raw string // raw: the JSON of the route key's value
		routed    bool
	}{
		{"control: plain", `"echo"`, true}, {"control: escaped", `"\u0065ch\u006f"`, true},
		{"control: NFC café", `"café"`, true}, {"control: NFC café escaped", `"caf\u00e9"`, true},
		{"empty", `""`, false}, {"60 KiB", `"` + strings.Repeat("e", 60<<10) + `"`, false},
		{"number", `1`, false}, {"huge number", `1e400`, false}, {"null", `null`, false}, {"true", `true`, false},
		{"array", `["echo"]`, false}, {"object", `{"echo":"echo"}`, false},
		{"__proto__", `"__proto__"`, false}, {"constructor", `"constructor"`, false},
		{"toString", `"toString"`, false}, {"hasOwnProperty", `"hasOwnProperty"`, false},
		{"Cyrillic е", `"еcho"`, false}, {"Cyrillic о", `"echо"`, false}, {"fullwidth", `"ｅｃｈｏ"`, false},
		{"zero-width joiner", "\"ec\u200dho\"", false}, {"zero-width joiner escaped", `"ec\u200dho"`, false},
		{"zero-width space", "\"echo\u200b\"", false}, {"BOM", "\"\ufeffecho\"", false},
		{"soft hyphen", "\"ec\u00adho\"", false}, {"no-break space", "\"echo\u00a0\"", false},
		{"combining accent", "\"echo\u0301\"", false}, {"right-to-left override", "\"\u202eohce\"", false},
		{"trailing space", `"echo "`, false}, {"leading space", `" echo"`, false},
		{"trailing newline escaped", `"echo\n"`, false}, {"trailing NUL escaped", `"echo\u0000"`, false},
		{"upper case", `"ECHO"`, false}, {"title case", `"Echo"`, false}, {"lone surrogate", `"\ud800echo"`, false},
		{"NFD café", "\"cafe\u0301\"", false}, {"NFD café escaped", `"cafe\u0301"`, false},
		{"quote inside", `"echo\""`, false}, {"backslash inside", `"echo\\"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tr.echoes.Load()
			reply := one(t, c, `{"action":`+tt.raw+`,"ref":"k","title":"t"}`)
			var want string
			isString := strings.HasPrefix(tt.raw, `"`) && json.Unmarshal([]byte(tt.raw), &want) == nil
			if tt.routed {
				require.True(t, json.Valid([]byte(reply)), reply)
				assert.NotContains(t, reply, `"error"`)
				return
			}
			code, action, hasAction, ref := advError(t, reply)
			assert.Equal(t, wsroute.CodeNotFound, code)
			assert.Equal(t, `"k"`, string(ref))
			assert.Equal(t, isString, hasAction, "action echoed only when it is a string: %s", reply)
			if isString {
				assert.Equal(t, want, action, "the action is echoed as the same string")
			}
			assert.Equal(t, before, tr.echoes.Load(), "never routed to echo")
		})
	}
}

// advBadRequest asserts a bad_request error frame with neither action nor ref.
func advBadRequest(t *testing.T, reply, sent string) {
	t.Helper()
	code, _, hasAction, ref := advError(t, reply)
	assert.Equal(t, wsroute.CodeBadRequest, code, "reply to %q", sent)
	assert.False(t, hasAction, "no action in %s (sent %q)", reply, sent)
	assert.Nil(t, ref, "no ref in %s (sent %q)", reply, sent)
}

func TestAdversarialMalformedJSON(t *testing.T) {
	t.Parallel()
	r, _ := advRouter(t, wsroute.Options{})
	malformed := []string{
		``, ` `, "\n\t", `{`, `}`, `[`, `]`, `{"action"`, `{"action":`, `{"action":}`, `{"action":"echo",}`,
		`{"action":"echo" "title":"x"}`, `{"action":"echo",,"title":"x"}`, `{"action"::"echo"}`, `{,}`, `[,]`, `[1,]`, `[1 2]`,
		`{'action':'echo'}`, `{action:"echo"}`, `{"action":"echo"}}`, `{"action":"echo"}{"action":"echo"}`, `{"action":"echo"} x`,
		`NaN`, `Infinity`, `-Infinity`, `-`, `01`, `-01`, `1.`, `.5`, `+1`, `0x10`, `1e`, `1e+`, `tru`, `nul`, `fals`, `tRue`, `None`,
		`"unterminated`, `"\x"`, `"\u12"`, `"\uZZZZ"`, `"\`, "\"a\tb\"", "\"a\nb\"", "{\"action\":\"echo\",\"title\":\"\x01\"}",
		"\ufeff{\"action\":\"echo\"}", "\x00", "{\"action\":\"echo\"}\x00", `// {"action":"echo"}`, `/* */{"action":"echo"}`,
		`{"action":"echo","title":"x"`, `[[]`, `{"a":[}`, `{"":}`, `{"a":1 "b":2}`, `<xml/>`, `action=echo&title=x`,
	}
	t.Run("malformed", func(t *testing.T) {
		c := advMustDial(t, r)
		got := exchange(t, c, append(malformed, `{"action":"echo","ref":1,"title":"after"}`)...)
		require.Len(t, got, len(malformed)+1)
		for i, f := range malformed {
			advBadRequest(t, got[i], f)
		}
		assert.Equal(t, `{"action":"echo","ref":1,"title":"after"}`, got[len(malformed)], "the connection stays open")
	})
	t.Run("every prefix of a valid frame", func(t *testing.T) {
		c := advMustDial(t, r)
		valid := `{"action":"echo","ref":"r1","title":"x\"é€😀\u00e9y","n":[1,2.5e3,-0,{"k":null}],"b":true,"f":false}`
		var prefixes []string
		for i := range len(valid) {
			if utf8.ValidString(valid[:i]) { // cuts inside a rune are the 1007 attack
				prefixes = append(prefixes, valid[:i])
			}
		}
		got := exchange(t, c, append(prefixes, valid)...)
		require.Len(t, got, len(prefixes)+1)
		for i, p := range prefixes {
			advBadRequest(t, got[i], p)
		}
		assert.Equal(t, `{"action":"echo","ref":"r1","title":"x\"é€😀éy"}`, got[len(prefixes)])
	})
}

func TestAdversarialDeepNesting(t *testing.T) {
	t.Parallel()
	r, _ := advRouter(t, wsroute.Options{})
	arrays := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	objects := func(n int) string { return strings.Repeat(`{"":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	tests := []struct {
		name, frame string
		want        string // "" for bad_request, "invalid" for that error, else the exact reply
	}{
		{"30,000 arrays", arrays(30000), ""},
		{"12,000 objects", objects(12000), ""},
		{"29,000 arrays in a routed input", `{"action":"raw","ref":1,"x":` + arrays(29000) + `}`, ""},
		{"11,000 objects in a routed input", `{"action":"raw","ref":1,"x":` + objects(11000) + `}`, ""},
		{"10,001 deep, just too deep", `{"action":"raw","ref":1,"x":` + arrays(10000) + `}`, ""},
		{"10,000 deep is allowed", `{"action":"raw","ref":1,"x":` + arrays(9999) + `}`, `{"action":"raw","ref":1,"len":20004}`},
		{"10,000 deep through a recursive schema", `{"action":"tree","ref":2,"x":` + arrays(9999) + `}`, `{"action":"tree","ref":2,"len":20004}`},
		{"a failing leaf 10,000 deep", `{"action":"tree","x":` + strings.Repeat("[", 9999) + `"s"` + strings.Repeat("]", 9999) + `}`, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Less(t, len(tt.frame), 64<<10, "under the read limit")
			c := advMustDial(t, r)
			got := exchange(t, c, tt.frame, `{"action":"echo","title":"alive"}`)
			require.Len(t, got, 2)
			switch tt.want {
			case "":
				advBadRequest(t, got[0], tt.name)
			case "invalid":
				code, action, _, _ := advError(t, got[0])
				assert.Equal(t, wsroute.CodeInvalid, code)
				assert.Equal(t, "tree", action)
			default:
				assert.Equal(t, tt.want, got[0])
			}
			assert.Equal(t, `{"action":"echo","title":"alive"}`, got[1], "the connection stays open")
		})
	}
}

func TestAdversarialDuplicateKeys(t *testing.T) {
	t.Parallel()
	r, _ := advRouter(t, wsroute.Options{})
	c := advMustDial(t, r)
	tests := []struct {
		name, frame string
		want        string // exact reply; "" when code is checked
		code        string
		action, ref string // expected echo in the error; "" = absent
	}{
		{name: "route key twice", frame: `{"action":"echo","action":"echo","ref":1,"title":"x"}`, code: "bad_request", ref: "1"},
		{name: "route key twice, other value", frame: `{"action":"nope","action":"echo"}`, code: "bad_request"},
		{name: "route key twice, escaped", frame: `{"action":"echo","\u0061ction":"echo"}`, code: "bad_request"},
		{name: "route key twice, second not a string", frame: `{"action":"echo","action":1}`, code: "bad_request"},
		{name: "route key three times", frame: `{"action":"echo","action":"echo","action":"echo"}`, code: "bad_request"},
		{name: "ref twice", frame: `{"action":"echo","ref":1,"ref":1}`, code: "bad_request", action: "echo"},
		{name: "ref twice, escaped", frame: `{"action":"echo","ref":"a","r\u0065f":"b"}`, code: "bad_request", action: "echo"},
		{name: "ref twice, second invalid", frame: `{"action":"echo","ref":1,"ref":{}}`, code: "bad_request", action: "echo"},
		{name: "both twice", frame: `{"action":"a","action":"b","ref":1,"ref":2}`, code: "bad_request"},
		{name: "other key twice: the last wins", frame: `{"action":"echo","title":"a","title":"b"}`, want: `{"action":"echo","title":"b"}`},
		{name: "nested route key twice is just data", frame: `{"action":"echo","title":"x","o":{"action":"a","action":"b"}}`, want: `{"action":"echo","title":"x"}`},
		{name: "schema and handler both see the last value", frame: `{"action":"n","n":9007199254740993,"n":1}`, want: `{"action":"n","n":1}`},
		{name: "schema sees the last value", frame: `{"action":"n","n":1,"n":9007199254740993}`, code: "invalid", action: "n"},
		{name: "schema sees the last type", frame: `{"action":"n","n":1,"n":"x"}`, code: "invalid", action: "n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := one(t, c, tt.frame)
			if tt.want != "" {
				assert.Equal(t, tt.want, reply)
				return
			}
			code, action, hasAction, ref := advError(t, reply)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.action != "", hasAction, reply)
			assert.Equal(t, tt.action, action)
			assert.Equal(t, tt.ref, string(ref))
		})
	}
	// encoding/json matches object keys to struct fields case-insensitively; JSON Schema does
	// not. Without the case guard the schema validated "n" (1 ≤ maximum), ignored "N", and the
	// decoder put N's value into the field tagged "n": 9007199254740993 reached the handler past
	// "maximum":9007199254740992. Found by this suite; the key is now refused.
	t.Run("case-variant key cannot bypass the schema", func(t *testing.T) {
		reply := one(t, c, `{"action":"n","n":1,"N":9007199254740993}`)
		assert.Equal(t, `{"action":"n","error":{"code":"invalid","message":"input is invalid","details":[{"pointer":"/N","message":"property 'N' differs from 'n' only by case"}]}}`, reply)
	})
}

func TestAdversarialNumbers(t *testing.T) {
	t.Parallel()
	r, _ := advRouter(t, wsroute.Options{})
	c := advMustDial(t, r)
	long := "1" + strings.Repeat("0", 600)
	typed := func(i, f string) string { return `{"action":"typed","i":` + i + `,"f":` + f + `,"u":0,"p":{"i":0}}` }
	tests := []struct {
		name, frame string
		want        string // exact reply, or "" for an invalid error
		pointer     string // of the invalid error's first detail; "-" not checked
	}{
		{"schema: 2^53", `{"action":"n","n":9007199254740992}`, `{"action":"n","n":9007199254740992}`, ""},
		{"schema: 2^53+1", `{"action":"n","n":9007199254740993}`, "", "/n"},
		{"schema: 2^53 as a float", `{"action":"n","n":9007199254740992.0}`, `{"action":"n","n":9007199254740992.0}`, ""},
		{"schema: 2^53+0.5", `{"action":"n","n":9007199254740992.5}`, "", "/n"},
		{"schema: 1e400", `{"action":"n","n":1e400}`, "", "/n"},
		{"schema: -1e400", `{"action":"n","n":-1e400}`, `{"action":"n","n":-1e400}`, ""},
		{"schema: -0", `{"action":"n","n":-0}`, `{"action":"n","n":-0}`, ""},
		{"schema: 1e-400", `{"action":"n","n":1e-400}`, "", "/n"},
		{"schema: exponent beyond the limit", `{"action":"n","n":1e1000001}`, "", "-"},
		{"schema: exponent of 13 digits", `{"action":"n","n":1e9999999999999}`, "", "-"},
		{"schema: 601 digits", `{"action":"n","n":` + long + `}`, "", "-"},
		{"schema: a string", `{"action":"n","n":"9007199254740993"}`, "", "/n"},
		{"typed: 2^53+1 into int64", `{"action":"typed","i":9007199254740993}`, typed("9007199254740993", "0"), ""},
		{"typed: max int64", `{"action":"typed","i":9223372036854775807}`, typed("9223372036854775807", "0"), ""},
		{"typed: max int64 + 1", `{"action":"typed","i":9223372036854775808}`, "", "/i"},
		{"typed: min int64 - 1", `{"action":"typed","i":-9223372036854775809}`, "", "/i"},
		{"typed: 1e400 into int64", `{"action":"typed","i":1e400}`, "", "/i"},
		{"typed: 1.5 into int64", `{"action":"typed","i":1.5}`, "", "/i"},
		{"typed: -0 into int64", `{"action":"typed","i":-0}`, typed("0", "0"), ""},
		{"typed: 601 digits into int64", `{"action":"typed","i":` + long + `}`, "", "/i"},
		{"typed: 1e400 into float64", `{"action":"typed","f":1e400}`, "", "/f"},
		{"typed: -1e400 into float64", `{"action":"typed","f":-1e400}`, "", "/f"},
		{"typed: 601 digits into float64", `{"action":"typed","f":` + long + `}`, "", "/f"},
		{"typed: 1e-400 into float64", `{"action":"typed","f":1e-400}`, typed("0", "0"), ""},
		{"typed: -0 into float64", `{"action":"typed","f":-0}`, typed("0", "-0"), ""},
		{"typed: 256 into uint8", `{"action":"typed","u":256}`, "", "/u"},
		{"typed: -1 into uint8", `{"action":"typed","u":-1}`, "", "/u"},
		{"typed: nested 1e400", `{"action":"typed","p":{"i":1e400}}`, "", "/p/i"},
		{"typed: a string into int64", `{"action":"typed","i":"1"}`, "", "/i"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := one(t, c, tt.frame)
			if tt.want != "" {
				assert.Equal(t, tt.want, reply)
				return
			}
			code, _, _, _ := advError(t, reply)
			require.Equal(t, wsroute.CodeInvalid, code, reply)
			var e struct {
				Error struct{ Details []wsroute.Detail } `json:"error"`
			}
			require.NoError(t, json.Unmarshal([]byte(reply), &e))
			require.NotEmpty(t, e.Error.Details, reply)
			if tt.pointer != "-" {
				assert.Equal(t, tt.pointer, e.Error.Details[0].Pointer, reply)
			}
		})
	}
	advServing(t, r)
}

func TestAdversarialRefTypes(t *testing.T) {
	t.Parallel()
	r, _ := advRouter(t, wsroute.Options{})
	c := advMustDial(t, r)
	echoed := []string{
		`"r"`, `""`, `"\u0072"`, `"\ud800"`, `"` + strings.Repeat("r", 30<<10) + `"`,
		`0`, `-0`, `-0.0`, `1e400`, `1E+400`, `-1e-400`, `9007199254740993`, `1.50e0`, `1` + strings.Repeat("0", 600),
	}
	for _, ref := range echoed {
		t.Run("echoed "+ref[:min(len(ref), 20)], func(t *testing.T) {
			assert.Equal(t, `{"action":"echo","ref":`+ref+`,"title":"t"}`, one(t, c, `{"action":"echo","ref":`+ref+`,"title":"t"}`))
			reply := one(t, c, `{"action":"nope","ref":`+ref+`}`)
			assert.Equal(t, `{"action":"nope","ref":`+ref+`,"error":{"code":"not_found","message":"no route \"nope\""}}`, reply, "byte for byte in errors too")
		})
	}
	for _, ref := range []string{`{}`, `{"a":1}`, `[]`, `[1]`, `true`, `false`, `null`} {
		t.Run("refused "+ref, func(t *testing.T) {
			code, action, _, gotRef := advError(t, one(t, c, `{"action":"echo","ref":`+ref+`,"title":"t"}`))
			assert.Equal(t, wsroute.CodeBadRequest, code)
			assert.Equal(t, "echo", action)
			assert.Nil(t, gotRef, "a refused ref is not echoed")
		})
	}
}

// TestAdversarialInputSplicing: the input (the frame without the route key
// and the ref) is cut out of the raw frame; look-alike text must not fool it.
func TestAdversarialInputSplicing(t *testing.T) {
	t.Parallel()
	r, _ := advRouter(t, wsroute.Options{})
	c := advMustDial(t, r)
	tests := []struct{ frame, ref, got string }{
		{`{"action":"input","ref":1}`, `1`, `{}`},
		{`{"ref":1,"x":"\",\"action\":\"echo\",\"ref\":","action":"input"}`, `1`, `{"x":"\",\"action\":\"echo\",\"ref\":"}`},
		{` { "a" : [ 1 , { "ref" : 2, "action":"x" } ] , "action" : "input" , "ref" : "r" } `, `"r"`, `{"a":[1,{"ref":2,"action":"x"}]}`},
		{`{"action":"input","\u0072ef":"e","b":2,"Ref":3,"ACTION":4}`, `"e"`, `{"b":2,"Ref":3,"ACTION":4}`},
		{`{"a":1,"action":"\u0069nput","b":{"action":"input"}}`, ``, `{"a":1,"b":{"action":"input"}}`},
	}
	for _, tt := range tests {
		reply := decode(t, one(t, c, tt.frame))
		want := map[string]any{"action": "input", "got": decode(t, tt.got)}
		if tt.ref != "" {
			var ref any
			require.NoError(t, json.Unmarshal([]byte(tt.ref), &ref))
			want["ref"] = ref
		}
		assert.Equal(t, want, reply, tt.frame)
	}
}
