package main

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute"
	"github.com/wsroute/wsroute/internal/nodetest"
)

var update = flag.Bool("update", false, "rewrite testdata/asyncapi.json from the app's routes")

// TestAsyncAPIGolden keeps the demo's AsyncAPI document in
// testdata/asyncapi.json: a change to the routes shows up as a diff in
// review. Regenerate with: go test ./examples/todos -run AsyncAPIGolden -update
func TestAsyncAPIGolden(t *testing.T) {
	a, _ := newApp(slog.New(slog.DiscardHandler), nil)
	doc, err := wsroute.AsyncAPI(a.router, apiInfo)
	require.NoError(t, err)
	golden := filepath.Join("testdata", "asyncapi.json")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, doc, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run: go test ./examples/todos -run AsyncAPIGolden -update")
	require.Equal(t, string(want), string(doc), "the routes changed: go test ./examples/todos -run AsyncAPIGolden -update, and review the diff")
}

// TestAsyncAPIParses runs the official AsyncAPI parser over the golden
// document; an error-level diagnostic fails.
func TestAsyncAPIParses(t *testing.T) {
	dir := nodetest.Install(t)
	golden, err := filepath.Abs(filepath.Join("testdata", "asyncapi.json"))
	require.NoError(t, err)
	out := nodetest.Run(t, dir, 2*time.Minute, "node", "scripts/check-asyncapi.mjs", golden)
	t.Log(out)
}

// TestAsyncAPIServed: the demo serves its document at /asyncapi.json.
func TestAsyncAPIServed(t *testing.T) {
	_, h := newApp(slog.New(slog.DiscardHandler), nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/asyncapi.json")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "asyncapi.json"))
	require.NoError(t, err)
	require.Equal(t, string(want), string(body))
}
