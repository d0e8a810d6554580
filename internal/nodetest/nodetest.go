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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
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

// Require skips t (fails it under CI) when node or npm is missing.
func Require(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("nodetest: %s is required (Node.js ≥ 20): %v", tool, err)
			}
			t.Skipf("nodetest: %s not found; install Node.js ≥ 20 to run this test (CI fails without it)", tool)
		}
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
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("nodetest: lock: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
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
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v in %s: %v\nstdout:\n%s\nstderr:\n%s", name, args, dir, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Command returns a command to run in dir, for a caller that wants its exit
// status (a check expected to fail); it is killed when the test ends.
func Command(t testing.TB, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
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
