package main

import (
	"log/slog"
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

// TestOpen: a room opens with a known token in the query or a bearer
// header, and greets the channel; no or an unknown token is 401 (before the
// room name is looked at), a bad room name 400.
func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		header http.Header
		status int    // 0: opens
		code   string // with status
		want   string // the welcome, without status
	}{
		{name: "query token", target: "/rooms/lobby?token=alice-token",
			want: `{"welcome":{"room":"lobby","user":"alice","owner":"alice","members":["alice"]}}`},
		{name: "bearer token", target: "/rooms/Game_1-b", header: http.Header{"Authorization": {"Bearer bob-token"}},
			want: `{"welcome":{"room":"Game_1-b","user":"bob","owner":"bob","members":["bob"]}}`},
		{name: "no token", target: "/rooms/lobby", status: http.StatusUnauthorized, code: "unauthenticated"},
		{name: "unknown token", target: "/rooms/lobby?token=dave-token", status: http.StatusUnauthorized, code: "unauthenticated"},
		{name: "user id as token", target: "/rooms/lobby?token=alice", status: http.StatusUnauthorized, code: "unauthenticated"},
		{name: "bad room, no token", target: "/rooms/a.b", status: http.StatusUnauthorized, code: "unauthenticated"},
		{name: "room with a dot", target: "/rooms/a.b?token=alice-token", status: http.StatusBadRequest, code: "invalid"},
		{name: "room with an escaped @", target: "/rooms/a%40b?token=alice-token", status: http.StatusBadRequest, code: "invalid"},
		{name: "room of 33 characters", target: "/rooms/" + strings.Repeat("r", 33) + "?token=alice-token", status: http.StatusBadRequest, code: "invalid"},
		{name: "no room", target: "/rooms/?token=alice-token", status: http.StatusNotFound, code: "not_found"},
		{name: "below a room", target: "/rooms/lobby/x?token=alice-token", status: http.StatusNotFound, code: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			c, err := wsroutetest.Dial(t.Context(), a.router, tt.target, &wsroutetest.DialOptions{Header: tt.header})
			if tt.status != 0 {
				var he *wsroutetest.HandshakeError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, tt.status, he.StatusCode)
				assert.Equal(t, tt.code, he.Code)
				assert.Zero(t, a.router.Len())
				return
			}
			require.NoError(t, err)
			t.Cleanup(c.Drop)
			got, err := c.Received(t.Context())
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.JSONEq(t, tt.want, string(got[0]))
		})
	}
}

// TestJoinAndLeave: the room hears a user join once and leave once, however
// many tabs the user has there; a browser leaving the page (its own 1001) is
// a leave; an empty room is forgotten, owner and all.
func TestJoinAndLeave(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	alice, _ := enter(t, a, "alice-token", "lobby")
	bob, w := enter(t, a, "bob-token", "lobby")
	assert.JSONEq(t, `{"welcome":{"room":"lobby","user":"bob","owner":"alice","members":["alice","bob"]}}`, w)
	assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"bob"}`), next(t, alice))
	nothing(t, bob) // the joiner is not told about itself

	tab, w := enter(t, a, "bob-token", "lobby") // bob's second tab
	assert.JSONEq(t, `{"welcome":{"room":"lobby","user":"bob","owner":"alice","members":["alice","bob"]}}`, w)
	nothing(t, alice) // MustDial returned after OnConnect: a "joined" would be there
	require.NoError(t, tab.Close(wsroute.StatusNormalClosure, "tab closed"))
	nothing(t, alice) // Close returned after OnDisconnect: a "left" would be there
	nothing(t, bob)

	require.NoError(t, bob.Close(wsroute.StatusGoingAway, "")) // what a browser sends when leaving the page
	assert.JSONEq(t, ev("lobby", `{"event":"left","user":"bob"}`), next(t, alice))
	nothing(t, alice)

	alice.Drop()
	_, w = enter(t, a, "bob-token", "lobby")
	assert.JSONEq(t, `{"welcome":{"room":"lobby","user":"bob","owner":"bob","members":["bob"]}}`, w, "the emptied room was forgotten")
}

// TestSay: a message reaches the room's other members as an event, the
// sender as its reply only, and no other room.
func TestSay(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	alice := join(t, a, "alice-token", "lobby")
	bob := join(t, a, "bob-token", "lobby")
	next(t, alice) // bob joined
	carol := join(t, a, "carol-token", "garden")

	hi := `{"seq":1,"user":"alice","text":"hi"}`
	assert.JSONEq(t, `{"action":"say","ref":"r1","message":`+hi+`}`, call(t, alice, `{"action":"say","ref":"r1","text":"hi"}`))
	assert.JSONEq(t, ev("lobby", `{"event":"message","message":`+hi+`}`), next(t, bob))
	nothing(t, bob)
	nothing(t, carol)

	ho := `{"seq":2,"user":"bob","text":"ho"}`
	assert.JSONEq(t, `{"action":"say","ref":2,"message":`+ho+`}`, call(t, bob, `{"action":"say","ref":2,"text":"ho"}`))
	assert.JSONEq(t, ev("lobby", `{"event":"message","message":`+ho+`}`), next(t, alice))
	nothing(t, alice)
	nothing(t, carol)
}

// TestSayInvalid: say's schema refusals, with their pointers; nothing is
// said, kept or sent.
func TestSayInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, frame, pointer string }{
		{"no text", `{"action":"say"}`, ""},
		{"empty text", `{"action":"say","text":""}`, "/text"},
		{"text too long", `{"action":"say","text":"` + strings.Repeat("é", 1001) + `"}`, "/text"},
		{"text not a string", `{"action":"say","text":5}`, "/text"},
		{"extra key", `{"action":"say","text":"hi","user":"bob"}`, ""},
		{"key in another case", `{"action":"say","Text":"hi"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			alice := join(t, a, "alice-token", "lobby")
			bob := join(t, a, "bob-token", "lobby")
			next(t, alice) // bob joined
			e := requireError(t, call(t, alice, tt.frame), "say", "invalid")
			require.NotEmpty(t, e.Error.Details)
			assert.Equal(t, tt.pointer, e.Error.Details[0].Pointer)
			nothing(t, bob)
			assert.JSONEq(t, `{"action":"history","messages":[]}`, call(t, alice, `{"action":"history"}`))
		})
	}
	t.Run("1000 characters", func(t *testing.T) {
		t.Parallel()
		a := newTestApp(t)
		alice := join(t, a, "alice-token", "lobby")
		text := strings.Repeat("é", 1000)
		assert.JSONEq(t, `{"action":"say","message":{"seq":1,"user":"alice","text":"`+text+`"}}`,
			call(t, alice, `{"action":"say","text":"`+text+`"}`))
	})
}

// TestHistory: the room's messages, oldest first, all or the last few; each
// room has its own; invalid limits are refused.
func TestHistory(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	alice := join(t, a, "alice-token", "lobby")
	assert.JSONEq(t, `{"action":"history","messages":[]}`, call(t, alice, `{"action":"history"}`), "[] when empty, not null")
	for _, text := range []string{"one", "two", "three"} {
		call(t, alice, `{"action":"say","text":"`+text+`"}`)
	}
	all := `[{"seq":1,"user":"alice","text":"one"},{"seq":2,"user":"alice","text":"two"},{"seq":3,"user":"alice","text":"three"}]`
	assert.JSONEq(t, `{"action":"history","ref":1,"messages":`+all+`}`, call(t, alice, `{"action":"history","ref":1}`))
	assert.JSONEq(t, `{"action":"history","messages":`+all+`}`, call(t, alice, `{"action":"history","limit":50}`))
	assert.JSONEq(t, `{"action":"history","messages":[{"seq":2,"user":"alice","text":"two"},{"seq":3,"user":"alice","text":"three"}]}`,
		call(t, alice, `{"action":"history","limit":2}`))

	bob := join(t, a, "bob-token", "lobby")
	assert.JSONEq(t, `{"action":"history","messages":`+all+`}`, call(t, bob, `{"action":"history"}`), "a late joiner catches up")
	carol := join(t, a, "carol-token", "garden")
	assert.JSONEq(t, `{"action":"history","messages":[]}`, call(t, carol, `{"action":"history"}`), "another room's history")

	for _, f := range []string{
		`{"action":"history","limit":0}`,
		`{"action":"history","limit":51}`,
		`{"action":"history","limit":1.5}`,
		`{"action":"history","limit":"2"}`,
		`{"action":"history","since":1}`,
	} {
		e := requireError(t, call(t, carol, f), "history", "invalid")
		assert.NotEmpty(t, e.Error.Details, f)
	}
}

// TestHistoryBound: a room keeps its last 50 messages.
func TestHistoryBound(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	alice := join(t, a, "alice-token", "lobby")
	r, ok := roomOf.Get(alice.Channel())
	require.True(t, ok)
	for range 60 { // past say's rate limit: straight into the room
		a.hall.post(r, "alice", "x")
	}
	got := a.hall.recent(r, 0)
	require.Len(t, got, historySize)
	assert.Equal(t, 11, got[0].Seq)
	assert.Equal(t, 60, got[historySize-1].Seq)
	assert.Len(t, a.hall.recent(r, 5), 5)
	assert.Equal(t, 56, a.hall.recent(r, 5)[0].Seq)
	assert.Contains(t, call(t, alice, `{"action":"say","text":"y"}`), `"seq":61`)
}

// TestKick: the owner kicks a user by id: every channel of that user in the
// room closes with 1008, the room hears the user left (once), and the
// user's channel in another room stays open.
func TestKick(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	alice := join(t, a, "alice-token", "lobby") // the owner
	bob := join(t, a, "bob-token", "lobby")
	bobTab := join(t, a, "bob-token", "lobby")
	bobGarden := join(t, a, "bob-token", "garden")
	carol := join(t, a, "carol-token", "lobby")
	assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"bob"}`), next(t, alice))
	assert.JSONEq(t, ev("lobby", `{"event":"joined","user":"carol"}`), next(t, alice))
	require.Len(t, a.router.ChannelsOf(memberKey("lobby", "bob")), 2)

	require.NoError(t, alice.SendText(`{"action":"kick","ref":"k","user":"bob"}`))
	for _, c := range []*wsroutetest.Conn{bob, bobTab} {
		var ce websocket.CloseError
		require.ErrorAs(t, c.Wait(t.Context()), &ce)
		assert.Equal(t, websocket.CloseError{Code: wsroute.StatusPolicyViolation, Reason: "kicked by alice"}, ce)
	}
	// The reply and the announcement come from different goroutines: both
	// are there once bob's channels are gone, in either order.
	got, err := alice.Received(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, canonical(t, `{"action":"kick","ref":"k","kicked":"bob"}`, ev("lobby", `{"event":"left","user":"bob"}`)), canonical(t, got...))
	assert.JSONEq(t, ev("lobby", `{"event":"left","user":"bob"}`), next(t, carol))
	nothing(t, carol)

	assert.JSONEq(t, `{"action":"history","messages":[]}`, call(t, bobGarden, `{"action":"history"}`), "bob's other room is open")
	assert.Empty(t, a.router.ChannelsOf(memberKey("lobby", "bob")))
	assert.Len(t, a.router.ChannelsOf(memberKey("garden", "bob")), 1)
	assert.Equal(t, 3, a.router.Len(), "alice, carol and bob in the garden")
}

// TestKickRefused: only the owner may kick (and the refusal says who may,
// before the input is even validated); the owner cannot kick someone who is
// not in the room, nor themselves; nobody is closed.
func TestKickRefused(t *testing.T) {
	t.Parallel()
	const notOwner = "only the room's owner, alice, may kick"
	tests := []struct {
		name, token, frame string
		code, message      string // message "": any
		pointer            string // for invalid with details
	}{
		{"bob kicks the owner", "bob-token", `{"action":"kick","user":"alice"}`, "forbidden", notOwner, ""},
		{"bob kicks carol", "bob-token", `{"action":"kick","user":"carol"}`, "forbidden", notOwner, ""},
		{"bob kicks himself", "bob-token", `{"action":"kick","user":"bob"}`, "forbidden", notOwner, ""},
		{"bob, invalid input", "bob-token", `{"action":"kick"}`, "forbidden", notOwner, ""},
		{"bob names himself owner", "bob-token", `{"action":"kick","user":"carol","owner":"bob"}`, "forbidden", notOwner, ""},
		{"owner kicks herself", "alice-token", `{"action":"kick","user":"alice"}`, "invalid", "the owner cannot kick themselves", ""},
		{"owner kicks a stranger", "alice-token", `{"action":"kick","user":"dave"}`, "not_found", "dave is not in lobby", ""},
		{"owner kicks someone in another room", "alice-token", `{"action":"kick","user":"carol"}`, "not_found", "carol is not in lobby", ""},
		{"owner, no user", "alice-token", `{"action":"kick"}`, "invalid", "", ""},
		{"owner, empty user", "alice-token", `{"action":"kick","user":""}`, "invalid", "", "/user"},
		{"owner, user not a string", "alice-token", `{"action":"kick","user":["bob"]}`, "invalid", "", "/user"},
		{"owner, extra key", "alice-token", `{"action":"kick","user":"bob","room":"garden"}`, "invalid", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			conns := map[string]*wsroutetest.Conn{
				"alice-token": join(t, a, "alice-token", "lobby"),
				"bob-token":   join(t, a, "bob-token", "lobby"),
			}
			join(t, a, "carol-token", "garden")
			next(t, conns["alice-token"]) // bob joined

			e := requireError(t, call(t, conns[tt.token], tt.frame), "kick", tt.code)
			if tt.message != "" {
				assert.Equal(t, tt.message, e.Error.Message)
			}
			if tt.code == "invalid" && tt.message == "" {
				require.NotEmpty(t, e.Error.Details)
				assert.Equal(t, tt.pointer, e.Error.Details[0].Pointer)
			}
			assert.Equal(t, 3, a.router.Len(), "nobody was kicked")
			for _, c := range conns {
				nothing(t, c)
			}
		})
	}
}

// TestUnknownAction: a frame naming no route is not_found; nothing else
// happens.
func TestUnknownAction(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	alice := join(t, a, "alice-token", "lobby")
	requireError(t, call(t, alice, `{"action":"shout","text":"HI"}`), "shout", "not_found")
	requireError(t, call(t, alice, `{"text":"hi"}`), "", "not_found")
}

// TestHTTP: the page on exactly "/", a room's plain-HTTP answer (426), 404
// elsewhere — on the app's handler, without a network.
func TestHTTP(t *testing.T) {
	t.Parallel()
	_, h := newApp(slog.New(slog.DiscardHandler), nil)
	tests := []struct {
		method, target string
		status         int
	}{
		{"GET", "/", http.StatusOK},
		{"HEAD", "/", http.StatusOK},
		{"POST", "/", http.StatusMethodNotAllowed},
		{"GET", "/index.html", http.StatusNotFound},
		{"GET", "/rooms/lobby", http.StatusUpgradeRequired},
		{"GET", "/rooms/", http.StatusNotFound},
		{"GET", "/rooms", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			assert.Equal(t, tt.status, rec.Code)
			if tt.status == http.StatusOK && tt.method == "GET" {
				assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
				assert.Contains(t, rec.Body.String(), "<title>wsroute chat</title>")
			}
		})
	}
}

// TestUserIDs: no user id contains '@', which memberKey relies on.
func TestUserIDs(t *testing.T) {
	t.Parallel()
	for token, acct := range demoTokens {
		assert.NotContains(t, acct.ID, "@", token)
		assert.NotEmpty(t, acct.ID, token)
	}
}
