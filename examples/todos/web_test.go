package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
// errors (client/test-browser/demo.test.mjs).
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
	cmd := nodetest.Command(t, dir, 3*time.Minute, "node", "--test", "--test-reporter=spec", "test-browser/demo.test.mjs")
	cmd.Env = nodetest.Env("WSROUTE_TODOS="+bin, "CHROMIUM="+chromium)
	out, err = cmd.CombinedOutput()
	t.Logf("%s", out)
	require.NoError(t, err)
}

// TestDemoTypeChecks: the page type-checks under strict settings against
// the client and the generated types (esbuild alone would not check).
func TestDemoTypeChecks(t *testing.T) {
	dir := nodetest.Install(t)
	nodetest.Run(t, dir, 2*time.Minute, "npm", "run", "--silent", "check:demo")
}
