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
	// no new deletion starts, the ones in flight finish, the report and
	// outputs are written, and the exit code is 1. A second signal kills.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "tagsweep: %s: stopping (no new deletions; in-flight ones finish); a second signal kills\n", s)
		cancel(fmt.Errorf("interrupted by %s", s))
		<-sigs
		os.Exit(130)
	}()
	code := cli.Main(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	os.Exit(code)
}
