package wsroute_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/wsroutetest"
)

func TestTokenAuthSources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		auth   wsroute.TokenAuth
		target string
		header http.Header
		want   string // the session's user, "" for none
	}{
		{"bearer", wsroute.TokenAuth{}, "/c", http.Header{"Authorization": {"Bearer alice-token"}}, "alice"},
		{"bearer wins over query", wsroute.TokenAuth{}, "/c?token=bob-token", http.Header{"Authorization": {"Bearer alice-token"}}, "alice"},
		{"other scheme ignored", wsroute.TokenAuth{}, "/c", http.Header{"Authorization": {"Basic alice-token"}}, ""},
		{"query", wsroute.TokenAuth{}, "/c?token=bob-token", nil, "bob"},
		{"custom query", wsroute.TokenAuth{QueryParam: "t"}, "/c?t=bob-token", nil, "bob"},
		{"query disabled", wsroute.TokenAuth{QueryParam: "-"}, "/c?token=bob-token", nil, ""},
		{"cookie", wsroute.TokenAuth{Cookie: "sid"}, "/c", http.Header{"Cookie": {"sid=alice-token"}}, "alice"},
		{"cookie not read unless named", wsroute.TokenAuth{}, "/c", http.Header{"Cookie": {"sid=alice-token"}}, ""},
		{"unknown token", wsroute.TokenAuth{}, "/c?token=nope", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			auth := tt.auth
			auth.Check = tokenAuth.Check
			r := newRouter(t, wsroute.Options{})
			r.Channel("/c", wsroute.ChannelConfig{Public: true, Authenticator: auth})
			c := wsroutetest.MustDial(t, r, tt.target, &wsroutetest.DialOptions{Header: tt.header})
			u, _ := wsroute.SessionAs[user](c.Channel())
			assert.Equal(t, tt.want, u.ID)
		})
	}
}
