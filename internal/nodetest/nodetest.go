// Package nodetest runs the repository's Node.js checks (the AsyncAPI
// parser, the TypeScript client's tests, the type-level tests) from Go
// tests, so the README's one test command runs them too.
//
// Node and npm are requirements of the test suite. Without them a test
// skips, saying so, unless the environment variable CI is set: then it
// fails, so CI cannot pass without running them.
package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClientDir returns the absolute path of the repository's client/ folder
// (the npm package holding the Node tools).
func ClientDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("nodetest: cannot find the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "client")
}

// Require skips t (fails it under CI) when node or npm is missing, or node
// is older than 20.
func Require(t testing.TB) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("nodetest: %s; CI is set, so this is a failure, not a skip", why)
		}
		t.Skipf("nodetest: %s; install Node.js ≥ 20 with npm to run this test", why)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool + " is not installed")
			return
		}
	}
	v, err := exec.Command("node", "--version").Output()
	if err != nil {
		missing(fmt.Sprintf("node --version: %v", err))
		return
	}
	m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(bytes.TrimSpace(v))
	if m == nil {
		missing(fmt.Sprintf("node --version said %q", v))
		return
	}
	if major, _ := strconv.Atoi(string(m[1])); major < 20 {
		missing(fmt.Sprintf("node %s is too old", bytes.TrimSpace(v)))
	}
}

// Install makes sure client/node_modules exists, running "npm ci" (from the
// committed lock file) when it does not. Test binaries of several packages
// may call it at once: a file lock serializes them.
func Install(t testing.TB) string {
	t.Helper()
	Require(t)
	dir := ClientDir(t)
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	defer lock.Close()
	unlock, err := lockFile(lock)
	if err != nil {
		t.Fatalf("nodetest: lock: %v", err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return dir
	}
	Run(t, dir, 5*time.Minute, "npm", "ci", "--no-audit", "--no-fund")
	return dir
}

// Run runs a command in dir with a time limit, and fails t with its output
// when it fails. It returns the standard output.
func Run(t testing.TB, dir string, limit time.Duration, name string, args ...string) string {
	t.Helper()
	cmd := command(t, limit, dir, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s in %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), dir, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Command returns a command to run in dir, for a caller that wants its exit
// status or its own environment. It is killed, with every process it
// started (node, test servers), after limit or when the test ends.
func Command(t testing.TB, dir string, limit time.Duration, name string, args ...string) *exec.Cmd {
	t.Helper()
	return command(t, limit, dir, name, args...)
}

func command(t testing.TB, limit time.Duration, dir, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	ownProcessGroup(cmd)
	return cmd
}

// Chromium returns the path of a Chromium for browser tests: $CHROMIUM, or
// Debian's /usr/bin/chromium. Without one it skips t (fails it under CI).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("nodetest: Chromium is required for the browser tests (apt-get install chromium, or set CHROMIUM)")
	}
	t.Skip("nodetest: no Chromium (apt-get install chromium, or set CHROMIUM); the browser test is skipped (CI fails without it)")
	return ""
}

// Env returns the environment of the test process with kv ("K=V") added.
func Env(kv ...string) []string { return append(os.Environ(), kv...) }
