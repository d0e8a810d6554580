//go:build !unix

package nodetest

import (
	"os"
	"os/exec"
)

// ownProcessGroup: elsewhere only the process itself is killed.
func ownProcessGroup(*exec.Cmd) {}

// lockFile: elsewhere, concurrent first runs of npm ci are not serialized.
func lockFile(*os.File) (func(), error) { return func() {}, nil }
