package testregistry

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill the registry child if the test
// process dies without calling Close (e.g. on a test timeout panic), so no
// orphaned registries linger. Pdeathsig fires when the thread that started
// the child exits; the Go runtime only exits threads when a goroutine that
// locked one ends without unlocking it, which this package never does.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
