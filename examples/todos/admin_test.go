package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/wsroutetest"
)

// TestAdminOpen: /admin needs a session from the opening request (401) and
// lets only alice in (403); alice is greeted.
func TestAdminOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		header http.Header
		status int // 0: opens
		code   string
	}{
		{"no token", "/admin", nil, http.StatusUnauthorized, "unauthenticated"},
		{"unknown token", "/admin?token=nope", nil, http.StatusUnauthorized, "unauthenticated"},
		{"unknown bearer", "/admin", bearer("nope"), http.StatusUnauthorized, "unauthenticated"},
		{"bob query", "/admin?token=bob-token", nil, http.StatusForbidden, "forbidden"},
		{"bob bearer", "/admin", bearer("bob-token"), http.StatusForbidden, "forbidden"},
		{"alice query", "/admin?token=alice-token", nil, 0, ""},
		{"alice bearer", "/admin", bearer("alice-token"), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestApp(t)
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
			assert.JSONEq(t, `{"connected":true,"admin":true}`, mustOne(t, c))
		})
	}
}

// TestAdminStats: stats counts the Router's open channels, the admin one
// included, and follows closes.
func TestAdminStats(t *testing.T) {
	t.Parallel()
	a, _ := newTestApp(t)
	admin := wsroutetest.MustDial(t, a.router, "/admin", &wsroutetest.DialOptions{Header: bearer("alice-token")})
	mustOne(t, admin) // the greeting
	assert.JSONEq(t, `{"action":"stats","connections":1}`, call(t, admin, `{"action":"stats"}`))

	c1 := openTodos(t, a, "/todos", nil)
	login(t, a, "bob-token")
	assert.JSONEq(t, `{"action":"stats","ref":1,"connections":3}`, call(t, admin, `{"action":"stats","ref":1}`))

	c1.Drop() // returns once the channel has left the Router
	assert.JSONEq(t, `{"action":"stats","connections":2}`, call(t, admin, `{"action":"stats"}`))
	requireError(t, call(t, admin, `{"action":"list"}`), "list", "not_found")
}

// TestHTTPRoutes: the page on exactly "/", the channels' plain-HTTP answer
// (426), 404 everywhere else — on the app's handler, without a network.
func TestHTTPRoutes(t *testing.T) {
	t.Parallel()
	_, h := newTestApp(t)
	tests := []struct {
		method, target string
		status         int
		contentType    string
	}{
		{"GET", "/", http.StatusOK, "text/html; charset=utf-8"},
		{"GET", "/?token=alice-token", http.StatusOK, "text/html; charset=utf-8"},
		{"HEAD", "/", http.StatusOK, "text/html; charset=utf-8"},
		{"POST", "/", http.StatusMethodNotAllowed, ""},
		{"GET", "/nope", http.StatusNotFound, ""},
		{"GET", "/index.html", http.StatusNotFound, ""},
		{"GET", "/todos/", http.StatusNotFound, ""},
		{"GET", "/admin/x", http.StatusNotFound, ""},
		{"GET", "/todos", http.StatusUpgradeRequired, "application/json"},
		{"GET", "/admin", http.StatusUpgradeRequired, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			assert.Equal(t, tt.status, rec.Code)
			if tt.contentType != "" {
				assert.Equal(t, tt.contentType, rec.Header().Get("Content-Type"))
			}
			if tt.status == http.StatusOK && tt.method == "GET" {
				assert.True(t, strings.HasPrefix(rec.Body.String(), "<!doctype html>"))
				assert.Contains(t, rec.Body.String(), "<title>wsroute todos</title>")
			}
		})
	}
}
