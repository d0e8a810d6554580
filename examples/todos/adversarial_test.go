package main

// Adversarial tests of the demo: every route that requires a session refuses
// a channel without one, whatever the message carries; identities smuggled
// in message fields, query parameters or headers never become a session or
// stand in for someone else's; /admin cannot be opened without alice's token.

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

// advSessionIs asserts that c's session is the user id, or none for "".
func advSessionIs(t *testing.T, c *wsroutetest.Conn, id string) {
	t.Helper()
	u, ok := wsroute.SessionAs[user](c.Channel())
	if id == "" {
		assert.False(t, ok, "no session expected, got %+v", u)
		assert.False(t, c.Channel().HasSession())
		return
	}
	require.True(t, ok, "session of %s expected", id)
	assert.Equal(t, id, u.ID)
}

// TestAdversarialUnauthenticated: a channel without a session is refused by
// every non-public route and the default handler, JSON or not, with or
// without smuggled identities; nothing is created, subscribed or logged in.
func TestAdversarialUnauthenticated(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)
	owner := login(t, a, "alice-token")
	call(t, owner, `{"action":"create","title":"alice's"}`) // todo "1"
	tests := []struct{ frame, action string }{
		{`{"action":"list"}`, "list"},
		{`{"action":"list","token":"alice-token"}`, "list"},
		{`{"action":"list","session":{"ID":"alice"}}`, "list"},
		{`{"action":"create","title":"x"}`, "create"},
		{`{"action":"create","title":"x","session":{"ID":"alice"}}`, "create"},
		{`{"action":"create","title":"x","userId":"alice"}`, "create"},
		{`{"action":"create","title":"x","owner":"alice"}`, "create"},
		{`{"action":"create","title":"x","token":"alice-token"}`, "create"},
		{`{"action":"create","title":"x","__proto__":{"ID":"alice"}}`, "create"},
		{`{"action":"create","title":"x","constructor":{"prototype":{"ID":"alice"}}}`, "create"},
		{`{"action":"create","title":"x","Session":{"ID":"alice"},"user":{"ID":"alice"},"ID":"alice"}`, "create"},
		{`{"action":"complete","id":"1"}`, "complete"},
		{`{"action":"complete","id":"1","owner":"alice","userId":"alice","token":"alice-token"}`, "complete"},
		{`{"action":"complete","id":"1","session":{"ID":"alice"},"__proto__":{"ID":"alice"}}`, "complete"},
		{`{"action":"subscribe","topic":"todos"}`, "subscribe"},
		{`{"action":"subscribe","topic":"todos","token":"alice-token"}`, "subscribe"},
		{`{"action":"unsubscribe","topic":"todos"}`, "unsubscribe"},
		{`{"action":"stats"}`, "stats"}, // /admin's route: here the default handler
		{`{"action":"stats","token":"alice-token"}`, "stats"},
		{`{"session":{"ID":"alice"}}`, ""},        // the default handler, JSON
		{`{"token":"alice-token"}`, ""},           // the default handler, JSON
		{`{"__proto__":{"ID":"alice"}}`, ""},      // the default handler, JSON
		{`[{"action":"create","title":"x"}]`, ""}, // the default handler, JSON
		{`"alice-token"`, ""},      // the default handler, JSON
		{`null`, ""},               // the default handler, JSON
		{`token=alice-token`, ""},  // the default handler, not JSON
		{`Bearer alice-token`, ""}, // the default handler, not JSON
		{`{"action":"create"`, ""}, // the default handler, not JSON
	}
	anon := openTodos(t, a, "/todos", nil)
	unknown := openTodos(t, a, "/todos?token=nope", bearer("nope"))
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			for _, c := range []*wsroutetest.Conn{anon, unknown} {
				e := requireError(t, call(t, c, tt.frame), tt.action, "unauthenticated")
				assert.Empty(t, e.Details, "unauthenticated clients learn nothing about schemas")
				advSessionIs(t, c, "")
			}
		})
	}
	assert.Empty(t, anon.Channel().Topics())
	assert.Empty(t, unknown.Channel().Topics())
	assert.Equal(t, []todo{{ID: "1", Title: "alice's", Owner: "alice"}}, a.store.list(), "nothing created or completed")

	t.Run("public routes take no identity from smuggled fields", func(t *testing.T) {
		for _, f := range []string{
			`{"action":"auth","token":"nope","session":{"ID":"alice"}}`,
			`{"action":"auth","token":"alice-token","userId":"bob"}`,
			`{"action":"auth","token":"alice-token","Token":"nope"}`,
			`{"action":"auth","token":{"ID":"alice"}}`,
			`{"action":"auth","token":["alice-token"]}`,
			`{"action":"auth","__proto__":{"token":"alice-token"}}`,
		} {
			e := requireError(t, call(t, anon, f), "auth", "invalid")
			assert.NotEmpty(t, e.Details, f)
			advSessionIs(t, anon, "")
		}
		requireError(t, call(t, anon, `{"action":"auth","token":"alice"}`), "auth", "unauthenticated")
		assert.JSONEq(t, `{"action":"logout"}`, call(t, anon, `{"action":"logout","token":"alice-token","session":{"ID":"alice"}}`))
		advSessionIs(t, anon, "")
		// A duplicated token: the schema and the handler both see the last one, and the
		// reply names the user the session really is.
		assert.JSONEq(t, `{"action":"auth","userId":"bob"}`, call(t, anon, `{"action":"auth","token":"alice-token","token":"bob-token"}`))
		advSessionIs(t, anon, "bob")
	})
}

// TestAdversarialImpersonation: bob, logged in, cannot act as alice by naming
// her in the message: smuggled fields are refused by create's schema and
// ignored by complete, which still answers forbidden for alice's todo.
func TestAdversarialImpersonation(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)
	alice := login(t, a, "alice-token")
	bob := login(t, a, "bob-token")
	call(t, alice, `{"action":"create","title":"alice's"}`) // todo "1"
	for _, f := range []string{
		`{"action":"create","title":"x","owner":"alice"}`,
		`{"action":"create","title":"x","Owner":"alice"}`,
		`{"action":"create","title":"x","userId":"alice"}`,
		`{"action":"create","title":"x","session":{"ID":"alice"}}`,
		`{"action":"create","title":"x","token":"alice-token"}`,
		`{"action":"create","title":"x","__proto__":{"ID":"alice"}}`,
		`{"action":"create","title":"x","todo":{"owner":"alice"}}`,
	} {
		t.Run(f, func(t *testing.T) {
			e := requireError(t, call(t, bob, f), "create", "invalid")
			require.Len(t, e.Details, 1)
			assert.Equal(t, "", e.Details[0].Pointer, "additionalProperties is reported at the input")
			advSessionIs(t, bob, "bob")
		})
	}
	for _, f := range []string{
		`{"action":"complete","id":"1","owner":"alice"}`,
		`{"action":"complete","id":"1","Owner":"alice","OWNER":"alice"}`,
		`{"action":"complete","id":"1","userId":"alice"}`,
		`{"action":"complete","id":"1","session":{"ID":"alice"}}`,
		`{"action":"complete","id":"1","user":{"ID":"alice"}}`,
		`{"action":"complete","id":"1","token":"alice-token"}`,
		`{"action":"complete","id":"1","__proto__":{"ID":"alice"}}`,
		`{"action":"complete","id":"1","todo":{"id":"1","owner":"bob"}}`,
	} {
		t.Run(f, func(t *testing.T) {
			requireError(t, call(t, bob, f), "complete", "forbidden")
			advSessionIs(t, bob, "bob")
		})
	}
	// Case variants of a field's key never reach the decoder (which would fill
	// the field with the last of them, unvalidated): keys match exactly, and a
	// key that names a field only when case is ignored is invalid.
	for _, tt := range []struct{ frame, action, pointer string }{
		{`{"action":"complete","id":"99","ID":"1"}`, "complete", "/ID"},
		{`{"action":"subscribe","topic":"todos","Topic":"admin"}`, "subscribe", "/Topic"},
	} {
		e := requireError(t, call(t, bob, tt.frame), tt.action, "invalid")
		require.Len(t, e.Details, 1, tt.frame)
		assert.Equal(t, tt.pointer, e.Details[0].Pointer, tt.frame)
	}
	assert.JSONEq(t, `{"action":"subscribe","subscribed":"todos"}`, call(t, bob, `{"action":"subscribe","topic":"todos","token":"alice-token"}`))
	assert.Equal(t, []string{"todos"}, bob.Channel().Topics())
	advSessionIs(t, bob, "bob")
	assert.Equal(t, []todo{{ID: "1", Title: "alice's", Owner: "alice"}}, a.store.list(), "alice's todo untouched, nothing created")
	// Alice's own channel may: the refusals above were about identity, not the frames.
	assert.JSONEq(t, `{"action":"complete","todo":{"id":"1","title":"alice's","done":true,"owner":"alice"}}`,
		call(t, alice, `{"action":"complete","id":"1","owner":"bob"}`))
	// /admin's stats is not reachable from /todos, even for alice.
	assert.JSONEq(t, `{"echo":{"action":"stats"}}`, call(t, alice, `{"action":"stats"}`))
}

// TestAdversarialAdminOpen: /admin needs alice's real token in the bearer
// header or the token parameter; nothing else gets in (401), and bob cannot
// borrow alice's identity (403).
func TestAdversarialAdminOpen(t *testing.T) {
	t.Parallel()
	a, h := newTestApp(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-token"))
	tests := []struct {
		name, target string
		header       http.Header
		status       int
	}{
		{"nothing", "/admin", nil, 401},
		{"empty token", "/admin?token=", nil, 401},
		{"user id as token", "/admin?token=alice", nil, 401},
		{"user parameter", "/admin?user=alice&userId=alice&session=alice", nil, 401},
		{"parameter case", "/admin?Token=alice-token&TOKEN=alice-token", nil, 401},
		{"token case", "/admin?token=ALICE-TOKEN", nil, 401},
		{"token with a trailing space", "/admin?token=alice-token%20", nil, 401},
		{"token with a leading space", "/admin?token=+alice-token", nil, 401},
		{"token with a NUL", "/admin?token=alice-token%00", nil, 401},
		{"empty token first", "/admin?token=&token=alice-token", nil, 401},
		{"array parameter", "/admin?token[]=alice-token", nil, 401},
		{"basic auth", "/admin", http.Header{"Authorization": {basic}}, 401},
		{"bearer without token", "/admin", http.Header{"Authorization": {"Bearer "}}, 401},
		{"bearer user id", "/admin", bearer("alice"), 401},
		{"other scheme", "/admin", http.Header{"Authorization": {"Token alice-token"}}, 401},
		{"bare token header", "/admin", http.Header{"Authorization": {"alice-token"}}, 401},
		{"cookie", "/admin", http.Header{"Cookie": {"token=alice-token; session=alice"}}, 401},
		{"identity headers", "/admin", http.Header{"X-User": {"alice"}, "X-Forwarded-User": {"alice"}, "X-Session": {`{"ID":"alice"}`}}, 401},
		{"bob with alice's identity headers", "/admin?token=bob-token", http.Header{"X-User": {"alice"}, "Cookie": {"token=alice-token"}}, 403},
		{"bob's bearer wins over alice's query token", "/admin?token=alice-token", bearer("bob-token"), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wsroutetest.Dial(t.Context(), a.router, tt.target, &wsroutetest.DialOptions{Header: tt.header})
			var he *wsroutetest.HandshakeError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tt.status, he.StatusCode)
			assert.Equal(t, map[int]string{401: "unauthenticated", 403: "forbidden"}[tt.status], he.Code)
		})
	}
	t.Run("over the network, by any path", func(t *testing.T) {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		base := "ws" + strings.TrimPrefix(srv.URL, "http")
		for _, path := range []string{"/admin", "/admin/", "/admin?stats", "//admin", "/./admin", "/todos/../admin", "/%61dmin", "/ADMIN", "/admin%2F", "/admin/stats"} {
			c, res, err := websocket.Dial(t.Context(), base+path, nil)
			if err == nil {
				_ = c.CloseNow()
			}
			require.Error(t, err, path)
			if assert.NotNil(t, res, path) {
				assert.NotEqual(t, http.StatusSwitchingProtocols, res.StatusCode, path)
			}
		}
	})
	assert.Zero(t, a.router.Len(), "no channel opened")
}
