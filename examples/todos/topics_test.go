package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/wsroutetest"
)

// TestSubscribe: subscribe and unsubscribe accept "todos" only (forbidden
// otherwise, invalid for a malformed input) and are idempotent.
func TestSubscribe(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"subscribe", "unsubscribe"} {
		tests := []struct {
			name, topic string // topic: the raw JSON member, "" = absent
			code        string // "" = success
			pointer     string
		}{
			{name: "todos", topic: `"todos"`},
			{name: "other topic", topic: `"secrets"`, code: "forbidden"},
			{name: "missing topic", code: "invalid", pointer: ""},
			{name: "topic not a string", topic: `5`, code: "invalid", pointer: "/topic"},
		}
		for _, tt := range tests {
			t.Run(action+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				a, _ := newTestApp(t)
				c := login(t, a, "alice-token")
				frame := `{"action":"` + action + `"`
				if tt.topic != "" {
					frame += `,"topic":` + tt.topic
				}
				reply := call(t, c, frame+"}")
				if tt.code == "" {
					assert.JSONEq(t, `{"action":"`+action+`","`+action+`d":"todos"}`, reply)
					return
				}
				e := requireError(t, reply, action, tt.code)
				if tt.code == "invalid" {
					require.Len(t, e.Details, 1, reply)
					assert.Equal(t, tt.pointer, e.Details[0].Pointer)
				}
				assert.Empty(t, c.Channel().Topics())
			})
		}
	}
}

// TestSubscribeIdempotent: twice subscribed is once subscribed; twice
// unsubscribed (or never subscribed) is fine.
func TestSubscribeIdempotent(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)
	c := login(t, a, "alice-token")
	for range 2 {
		assert.JSONEq(t, `{"action":"subscribe","subscribed":"todos"}`, call(t, c, `{"action":"subscribe","topic":"todos"}`))
		assert.Equal(t, []string{"todos"}, c.Channel().Topics())
	}
	for range 2 {
		assert.JSONEq(t, `{"action":"unsubscribe","unsubscribed":"todos"}`, call(t, c, `{"action":"unsubscribe","topic":"todos"}`))
		assert.Empty(t, c.Channel().Topics())
	}
}

// TestPublish: create and complete reach the other subscribers as topic
// events, never the sender (it gets the reply only), nor a channel that is
// not (or no longer) subscribed; a refused complete publishes nothing.
func TestPublish(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)
	alice := subscribed(t, a, "alice-token")
	bob := subscribed(t, a, "bob-token")
	quiet := login(t, a, "bob-token") // logged in, not subscribed

	milk := `{"id":"1","title":"milk","done":false,"owner":"alice"}`
	assert.JSONEq(t, `{"action":"create","todo":`+milk+`}`, call(t, alice, `{"action":"create","title":"milk"}`))
	assert.JSONEq(t, `{"topic":"todos","data":{"event":"created","todo":`+milk+`}}`, mustOne(t, bob))
	nothing(t, alice)
	nothing(t, quiet)

	requireError(t, call(t, bob, `{"action":"complete","id":"1"}`), "complete", "forbidden")
	nothing(t, alice)

	done := `{"id":"1","title":"milk","done":true,"owner":"alice"}`
	assert.JSONEq(t, `{"action":"complete","todo":`+done+`}`, call(t, alice, `{"action":"complete","id":"1"}`))
	assert.JSONEq(t, `{"topic":"todos","data":{"event":"completed","todo":`+done+`}}`, mustOne(t, bob))
	nothing(t, alice)
	nothing(t, quiet)

	// bob's own change reaches alice; after bob unsubscribes, alice's no
	// longer reaches bob.
	call(t, bob, `{"action":"create","title":"bread"}`)
	assert.JSONEq(t, `{"topic":"todos","data":{"event":"created","todo":{"id":"2","title":"bread","done":false,"owner":"bob"}}}`, mustOne(t, alice))
	call(t, bob, `{"action":"unsubscribe","topic":"todos"}`)
	call(t, alice, `{"action":"create","title":"eggs"}`)
	nothing(t, bob)
	nothing(t, quiet)
}

// mustOne returns the one frame c has received.
func mustOne(t *testing.T, c *wsroutetest.Conn) string {
	t.Helper()
	got, err := c.Received(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 1, "frames: %s", got)
	return string(got[0])
}

// TestDefaultEcho: a frame that names no route is echoed whole, as JSON when
// it is JSON and as a string when it is not.
func TestDefaultEcho(t *testing.T) {
	t.Parallel()
	tests := []struct{ frame, want string }{
		{`{"action":"nope","x":[1,{"y":null}]}`, `{"echo":{"action":"nope","x":[1,{"y":null}]}}`},
		{`{"action":"nope","ref":"r1"}`, `{"echo":{"action":"nope","ref":"r1"}}`},
		{`{"no":"action"}`, `{"echo":{"no":"action"}}`},
		{`{"action":5}`, `{"echo":{"action":5}}`},
		{`[1,"two"]`, `{"echo":[1,"two"]}`},
		{`"just a string"`, `{"echo":"just a string"}`},
		{`42`, `{"echo":42}`},
		{`hello, world`, `{"echo":"hello, world"}`},
		{`{"broken":`, `{"echo":"{\"broken\":"}`},
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestApp(t)
			c := login(t, a, "bob-token")
			assert.JSONEq(t, tt.want, call(t, c, tt.frame))
		})
	}
}
