package wsroutetest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/leakcheck"
	"github.com/wsroute/wsroute/wsroutetest"
)

// TestMain fails the run if any goroutine of wsroute, wsroutetest or
// coder/websocket is still alive after every test has ended: a Conn's
// cleanup and a Router's Shutdown must leave nothing behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked(5 * time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	rec := wsroutetest.NewRecorder(t)
	greet := func(ctx context.Context, c *wsroute.Channel, name string) (string, error) {
		if err := c.Send(ctx, map[string]string{"hello": name}); err != nil {
			return "", err
		}
		return "sent", c.Subscribe("greetings")
	}
	out, err := greet(t.Context(), rec.Channel, "bob")
	require.NoError(t, err)
	assert.Equal(t, "sent", out)
	require.NoError(t, rec.Router.Publish(t.Context(), "greetings", 1, wsroute.PublishOptions{}))
	var got []string
	for _, f := range rec.Sent(t) {
		got = append(got, string(f))
	}
	assert.Equal(t, []string{`{"hello":"bob"}`, `{"topic":"greetings","data":1}`}, got)
	assert.Empty(t, rec.Sent(t))
}
