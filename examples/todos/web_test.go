package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsroute/wsroute/internal/nodetest"
)

// The page's script is TypeScript (web/main.ts) on the generated client
// types (web/api.gen.ts), bundled into static/app.js, which the binary
// embeds. These tests keep the three in step with their sources and run the
// page in Chromium.

// TestGeneratedTypesUpToDate: web/api.gen.ts is what the generator makes of
// testdata/asyncapi.json (regenerate: npm run gen:demo in client/).
func TestGeneratedTypesUpToDate(t *testing.T) {
	dir := nodetest.Install(t)
	doc, err := filepath.Abs(filepath.Join("testdata", "asyncapi.json"))
	require.NoError(t, err)
	got := nodetest.Run(t, dir, time.Minute, "node", "gen/cli.mjs", doc)
	want, err := os.ReadFile(filepath.Join("web", "api.gen.ts"))
	require.NoError(t, err)
	require.Equal(t, string(want), got, "web/api.gen.ts is out of date: npm run gen:demo in client/")
}

// TestBundleUpToDate: static/app.js is the bundle of web/main.ts and the
// client (rebuild: npm run build:demo in client/).
func TestBundleUpToDate(t *testing.T) {
	dir := nodetest.Install(t)
	t.Log(nodetest.Run(t, dir, time.Minute, "node", "scripts/build-demo.mjs", "--check"))
}

// TestBrowserDemo runs the page in headless Chromium against the real demo
// binary: two tabs share todos, survive a restart of the server, and log no
// errors (client/test-browser/demo.test.mjs). It runs in both modes: the
// long-lived server, and -mode apigw-local (serverless through the API
// Gateway emulator, state in Redis: skipped without Redis unless CI is set),
// where it also checks that Redis keeps nothing of the demo afterwards, the
// old process's records included.
func TestBrowserDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	dir := nodetest.Install(t)
	chromium := nodetest.Chromium(t)
	bin := filepath.Join(t.TempDir(), "todos")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	browse := func(t *testing.T, env ...string) {
		cmd := nodetest.Command(t, dir, 3*time.Minute, "node", "--test", "--test-reporter=spec", "test-browser/demo.test.mjs")
		cmd.Env = nodetest.Env(append([]string{"WSROUTE_TODOS=" + bin, "CHROMIUM=" + chromium}, env...)...)
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		require.NoError(t, err)
	}
	t.Run("server", func(t *testing.T) { browse(t, "WSROUTE_TODOS_MODE=server") })
	t.Run("apigw-local", func(t *testing.T) {
		rdb, addr := needRedis(t)
		prefix := testPrefix(t)
		browse(t, "WSROUTE_TODOS_MODE=apigw-local", "WSROUTE_REDIS_ADDR="+addr, "WSROUTE_TODOS_REDIS_PREFIX="+prefix)
		assert.Empty(t, redisKeys(t, rdb, prefix),
			"records left in Redis: the crashed process's must be dropped by the first publish finding them gone, the last process's by their $disconnect")
	})
}

// TestDemoTypeChecks: the page type-checks under strict settings against
// the client and the generated types (esbuild alone would not check).
func TestDemoTypeChecks(t *testing.T) {
	dir := nodetest.Install(t)
	nodetest.Run(t, dir, 2*time.Minute, "npm", "run", "--silent", "check:demo")
}
