//go:build !linux

package testregistry

import "os/exec"

// setChildAttrs is a no-op outside Linux.
func setChildAttrs(cmd *exec.Cmd) {}
