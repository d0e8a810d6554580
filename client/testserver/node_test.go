package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsroute/wsroute/internal/nodetest"
)

// The npm package's own checks, run by go test so that the README's one
// test command covers them (internal/nodetest: skipped without Node.js,
// failed under CI).

// TestClientAgainstServer runs the TypeScript client's test suite
// (client/test, npm test) against this package's server, built into a
// temporary directory and handed over in WSROUTE_TESTSERVER.
func TestClientAgainstServer(t *testing.T) {
	dir := nodetest.Install(t)
	bin := buildServer(t)
	cmd := nodetest.Command(t, dir, 4*time.Minute, "npm", "test")
	cmd.Env = nodetest.Env("WSROUTE_TESTSERVER=" + bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm test: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "# pass") || strings.HasPrefix(line, "# fail") || strings.HasPrefix(line, "# duration_ms") {
			t.Log(strings.TrimPrefix(line, "# "))
		}
	}
}

// TestGenerator runs the type generator's tests (client/gen): stable
// output, its errors, the committed bindings up to date with their documents.
func TestGenerator(t *testing.T) {
	dir := nodetest.Install(t)
	nodetest.Run(t, dir, 2*time.Minute, "npm", "run", "--silent", "test:gen")
	nodetest.Run(t, dir, 2*time.Minute, "npm", "run", "--silent", "check:gen")
}

// TestTypeLevel compiles client/test-types with tsc: the generated bindings
// make wrong actions, inputs, reply fields and topics compile errors (each
// such line carries @ts-expect-error, which fails when nothing is wrong).
func TestTypeLevel(t *testing.T) {
	dir := nodetest.Install(t)
	nodetest.Run(t, dir, 2*time.Minute, "npm", "run", "--silent", "test:types")
}

// buildServer builds this package's command into a temporary directory.
func buildServer(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testserver")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./client/testserver: %v\n%s", err, out)
	}
	return bin
}
