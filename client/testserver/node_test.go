package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClientAgainstServer runs the TypeScript client's test suite
// (client/test, `npm test`) against this package's server, built into a
// temporary directory and handed over in WSROUTE_TESTSERVER.
func TestClientAgainstServer(t *testing.T) {
	requireNPM(t)
	bin := buildServer(t)
	t.Setenv("WSROUTE_TESTSERVER", bin)
	out := runNPM(t, "test")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "# pass") || strings.HasPrefix(line, "# fail") || strings.HasPrefix(line, "# duration_ms") {
			t.Log(strings.TrimPrefix(line, "# "))
		}
	}
}

// Bounds of the npm steps: npm ci downloads the dev tools on a fresh clone.
const (
	npmInstallTimeout = 5 * time.Minute
	npmRunTimeout     = 4 * time.Minute
)

// clientDir is the TypeScript package's directory, client/.
func clientDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	npmOnce sync.Once
	npmErr  error // why the client's node_modules could not be installed
)

// requireNPM makes sure node (≥ 20) and npm are there and client/node_modules
// is installed (npm ci, once per test binary, when it is missing). Without
// node or npm the test is skipped, unless the environment variable CI is set:
// then it fails, so that CI cannot pass without running the client's tests.
func requireNPM(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, fmt.Sprintf("%s is not installed (the TypeScript client's tests need Node.js >= 20 and npm)", tool))
			return
		}
	}
	v, err := exec.Command("node", "--version").Output()
	if err != nil {
		missing(t, fmt.Sprintf("node --version: %v", err))
		return
	}
	if m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(bytes.TrimSpace(v)); m == nil {
		missing(t, fmt.Sprintf("node --version said %q", v))
		return
	} else if major, _ := strconv.Atoi(string(m[1])); major < 20 {
		missing(t, fmt.Sprintf("node %s is too old: the TypeScript client's tests need Node.js >= 20", bytes.TrimSpace(v)))
		return
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(clientDir(t), "node_modules")); err == nil {
			return
		}
		var out string
		out, npmErr = npm(clientDir(t), npmInstallTimeout, "ci", "--no-audit", "--no-fund")
		if npmErr != nil {
			npmErr = fmt.Errorf("npm ci in client/: %w\n%s", npmErr, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
}

// missing skips the test, or fails it when CI is set.
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI is set, so this is a failure, not a skip", why)
	}
	t.Skip(why)
}

// runNPM runs npm with args in client/ (after requireNPM) with this
// process's environment, and returns its output; it fails the test with the
// output if npm fails or outlives npmRunTimeout.
func runNPM(t testing.TB, args ...string) string {
	t.Helper()
	requireNPM(t)
	out, err := npm(clientDir(t), npmRunTimeout, args...)
	if err != nil {
		t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// npm runs npm in dir, killing its whole process group (node, test servers)
// when it outlives timeout.
func npm(dir string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ownProcessGroup(cmd)
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %v)", err, timeout)
	}
	return out.String(), err
}

// buildServer builds this package's command into a temporary directory.
func buildServer(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "testserver")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./client/testserver: %v\n%s", err, out)
	}
	return bin
}
