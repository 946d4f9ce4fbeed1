// Command tagsweep applies retention policies to container registries.
// It is the entrypoint of the GitHub container action and of the CI image.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tagsweep/tagsweep/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
