package registry

import (
	"context"
	"fmt"
)

type stopKey struct{}

// WithStop returns d (the context deletions are sent with, which outlives
// the run by a grace period so that answers to deletions in flight are
// read) carrying run, the run's own context.
func WithStop(d, run context.Context) context.Context {
	return context.WithValue(d, stopKey{}, run)
}

// Stopped returns an error when the run ctx belongs to has stopped
// (timeout, SIGTERM): a backend checks it right before it sends a
// deletion, so that no new deletion starts after the stop, including
// ones queued inside the backend. Nil otherwise.
func Stopped(ctx context.Context) error {
	run, ok := ctx.Value(stopKey{}).(context.Context)
	if !ok || run.Err() == nil {
		return nil
	}
	return fmt.Errorf("not sent: the run stopped (%w)", context.Cause(run))
}

// Committed returns ctx for the rest of an operation that has started
// (several requests that belong together, e.g. untag then delete): the
// run's stop no longer holds them back, so the operation is not left half
// done. The grace period still bounds it.
func Committed(ctx context.Context) context.Context {
	return context.WithValue(ctx, stopKey{}, context.Background())
}
