//go:build !unix

package main

import "os/exec"

// ownProcessGroup does nothing where process groups are not available: a
// cancelled context kills npm alone.
func ownProcessGroup(*exec.Cmd) {}
