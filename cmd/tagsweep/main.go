// Command tagsweep applies retention policies to container registries.
// It is the entrypoint of the GitHub container action and of the CI image.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tagsweep/tagsweep/internal/cli"
)

func main() {
	// SIGINT/SIGTERM (a cancelled job, docker stop) stop the run cleanly:
	// no new deletion starts, the ones in flight get 5 s to finish, the
	// report and outputs are written, and the exit code is 1. A cancelled
	// GitHub Actions job sends SIGINT, then SIGTERM 7.5 s later: the second
	// signal does not cut the report short; a third kills.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "tagsweep: %s: stopping (no new deletions; those in flight get 5 s); a third signal kills\n", s)
		cancel(fmt.Errorf("interrupted by %s", s))
		s = <-sigs
		fmt.Fprintf(os.Stderr, "tagsweep: %s: still stopping, writing the report\n", s)
		<-sigs
		os.Exit(130)
	}()
	code := cli.Main(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	os.Exit(code)
}
