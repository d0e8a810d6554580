package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTodosOpen: /todos opens with or without a session; a valid token in the
// query or a bearer header sets one, an invalid one is ignored.
func TestTodosOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		header http.Header
		user   string // "" = no session
	}{
		{"no token", "/todos", nil, ""},
		{"query token", "/todos?token=alice-token", nil, "alice"},
		{"bearer token", "/todos", bearer("bob-token"), "bob"},
		{"unknown query token", "/todos?token=nope", nil, ""},
		{"unknown bearer token", "/todos", bearer("nope"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestApp(t)
			c := openTodos(t, a, tt.target, tt.header)
			reply := call(t, c, `{"action":"create","title":"milk"}`)
			if tt.user == "" {
				requireError(t, reply, "create", "unauthenticated")
				return
			}
			assert.JSONEq(t, `{"action":"create","todo":{"id":"1","title":"milk","done":false,"owner":"`+tt.user+`"}}`, reply)
		})
	}
}

// TestAuth: the auth route's replies and errors, ref echoed.
func TestAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, frame string
		want        string // exact reply, or "" when an error is expected
		code        string
		pointer     string
	}{
		{name: "alice", frame: `{"action":"auth","token":"alice-token"}`, want: `{"action":"auth","userId":"alice"}`},
		{name: "bob with ref", frame: `{"action":"auth","ref":7,"token":"bob-token"}`, want: `{"action":"auth","ref":7,"userId":"bob"}`},
		{name: "unknown token", frame: `{"action":"auth","token":"nope"}`, code: "unauthenticated"},
		{name: "missing token", frame: `{"action":"auth"}`, code: "invalid", pointer: ""},
		{name: "token not a string", frame: `{"action":"auth","token":1}`, code: "invalid", pointer: "/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestApp(t)
			c := openTodos(t, a, "/todos", nil)
			reply := call(t, c, tt.frame)
			if tt.want != "" {
				assert.JSONEq(t, tt.want, reply)
				return
			}
			e := requireError(t, reply, "auth", tt.code)
			if tt.code == "invalid" {
				require.Len(t, e.Details, 1, reply)
				assert.Equal(t, tt.pointer, e.Details[0].Pointer)
			}
		})
	}
}

// TestAuthFailureKeepsSession: a failed log-in leaves the session as it was,
// whether there was one or not; a good one switches user.
func TestAuthFailureKeepsSession(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)

	anon := openTodos(t, a, "/todos", nil)
	requireError(t, call(t, anon, `{"action":"auth","token":"nope"}`), "auth", "unauthenticated")
	requireError(t, call(t, anon, `{"action":"list"}`), "list", "unauthenticated")

	c := login(t, a, "alice-token")
	requireError(t, call(t, c, `{"action":"auth","token":"nope"}`), "auth", "unauthenticated")
	assert.JSONEq(t, `{"action":"create","todo":{"id":"1","title":"a","done":false,"owner":"alice"}}`,
		call(t, c, `{"action":"create","title":"a"}`))

	assert.JSONEq(t, `{"action":"auth","userId":"bob"}`, call(t, c, `{"action":"auth","token":"bob-token"}`))
	assert.JSONEq(t, `{"action":"create","todo":{"id":"2","title":"b","done":false,"owner":"bob"}}`,
		call(t, c, `{"action":"create","title":"b"}`))
}

// TestLogout: logout acks, clears the session and the subscriptions, works
// without a session, and the channel can log in again.
func TestLogout(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)
	alice := subscribed(t, a, "alice-token")
	bob := login(t, a, "bob-token")

	assert.JSONEq(t, `{"action":"logout","ref":"x"}`, call(t, alice, `{"action":"logout","ref":"x"}`))
	assert.Empty(t, alice.Channel().Topics())
	assert.False(t, alice.Channel().HasSession())
	requireError(t, call(t, alice, `{"action":"list"}`), "list", "unauthenticated")

	// Topic events stop: bob's change reaches alice no more.
	require.Contains(t, call(t, bob, `{"action":"create","title":"x"}`), `"owner":"bob"`)
	nothing(t, alice)

	// Logging out again, now without a session, is still an ack.
	assert.JSONEq(t, `{"action":"logout"}`, call(t, alice, `{"action":"logout"}`))
	assert.JSONEq(t, `{"action":"auth","userId":"alice"}`, call(t, alice, `{"action":"auth","token":"alice-token"}`))
	assert.Contains(t, call(t, alice, `{"action":"list"}`), `"owner":"bob"`)
}

// TestRequiresSession: every route but auth and logout, and the default
// handler, refuse a channel without a session — before validating the input.
func TestRequiresSession(t *testing.T) {
	t.Parallel()
	tests := []struct{ frame, action string }{
		{`{"action":"list"}`, "list"},
		{`{"action":"create","title":"x"}`, "create"},
		{`{"action":"create"}`, "create"}, // invalid input, but auth comes first
		{`{"action":"complete","id":"1"}`, "complete"},
		{`{"action":"subscribe","topic":"todos"}`, "subscribe"},
		{`{"action":"unsubscribe","topic":"todos"}`, "unsubscribe"},
		{`{"action":"nope"}`, "nope"}, // the default handler
		{`[1,2]`, ""},                 // the default handler
		{`not json`, ""},              // the default handler
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestApp(t)
			c := openTodos(t, a, "/todos", nil)
			requireError(t, call(t, c, tt.frame), tt.action, "unauthenticated")
		})
	}
}

// TestList: [] when empty (not null); everyone's todos in creation order.
func TestList(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)
	alice := login(t, a, "alice-token")
	bob := login(t, a, "bob-token")
	assert.JSONEq(t, `{"action":"list","todos":[]}`, call(t, alice, `{"action":"list"}`))

	call(t, alice, `{"action":"create","title":"one"}`)
	call(t, bob, `{"action":"create","title":"two"}`)
	call(t, alice, `{"action":"create","title":"three"}`)
	call(t, alice, `{"action":"complete","id":"3"}`)
	assert.JSONEq(t, `{"action":"list","ref":"r","todos":[
		{"id":"1","title":"one","done":false,"owner":"alice"},
		{"id":"2","title":"two","done":false,"owner":"bob"},
		{"id":"3","title":"three","done":true,"owner":"alice"}]}`,
		call(t, bob, `{"action":"list","ref":"r"}`))
}

// TestCreate: the reply, and the schema's refusals with their pointers.
func TestCreate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) // 200 characters, 400 bytes
	tests := []struct {
		name, frame string
		want        string // exact reply, or "" for invalid
		pointer     string
	}{
		{name: "ok", frame: `{"action":"create","title":"milk"}`, want: `{"action":"create","todo":{"id":"1","title":"milk","done":false,"owner":"alice"}}`},
		{name: "200 chars", frame: `{"action":"create","title":"` + long + `"}`, want: `{"action":"create","todo":{"id":"1","title":"` + long + `","done":false,"owner":"alice"}}`},
		{name: "201 chars", frame: `{"action":"create","title":"` + long + `x"}`, pointer: "/title"},
		{name: "empty title", frame: `{"action":"create","title":""}`, pointer: "/title"},
		{name: "title not a string", frame: `{"action":"create","title":5}`, pointer: "/title"},
		{name: "missing title", frame: `{"action":"create"}`, pointer: ""},
		{name: "extra property", frame: `{"action":"create","title":"x","done":true}`, pointer: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestApp(t)
			c := login(t, a, "alice-token")
			reply := call(t, c, tt.frame)
			if tt.want != "" {
				assert.JSONEq(t, tt.want, reply)
				return
			}
			e := requireError(t, reply, "create", "invalid")
			require.Len(t, e.Details, 1, reply)
			assert.Equal(t, tt.pointer, e.Details[0].Pointer)
			assert.JSONEq(t, `{"action":"list","todos":[]}`, call(t, c, `{"action":"list"}`), "nothing created")
		})
	}
}

// TestComplete: the reply and every refusal; completing twice is fine.
func TestComplete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, frame string
		want        string // exact reply, or "" for an error
		code        string
	}{
		{name: "own todo", frame: `{"action":"complete","id":"1"}`, want: `{"action":"complete","todo":{"id":"1","title":"alice's","done":true,"owner":"alice"}}`},
		{name: "missing id", frame: `{"action":"complete"}`, code: "invalid"},
		{name: "id not a string", frame: `{"action":"complete","id":1}`, code: "invalid"},
		{name: "unknown id", frame: `{"action":"complete","id":"99"}`, code: "not_found"},
		{name: "someone else's", frame: `{"action":"complete","id":"2"}`, code: "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestApp(t)
			alice := login(t, a, "alice-token")
			bob := login(t, a, "bob-token")
			call(t, alice, `{"action":"create","title":"alice's"}`)
			call(t, bob, `{"action":"create","title":"bob's"}`)
			reply := call(t, alice, tt.frame)
			if tt.want != "" {
				assert.JSONEq(t, tt.want, reply)
				assert.JSONEq(t, tt.want, call(t, alice, tt.frame), "completing again")
				return
			}
			requireError(t, reply, "complete", tt.code)
			assert.NotContains(t, call(t, alice, `{"action":"list"}`), `"done":true`)
		})
	}
}
