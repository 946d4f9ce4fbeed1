package registry

import (
	"context"
	"sync"
)

// Recorder is a Backend that records deletions instead of sending them.
type Recorder struct {
	Backend
	mu      sync.Mutex
	deletes []string
}

// DryRun wraps b so that DeleteTag and DeleteDigest are recorded, not sent.
// Everything else, the read-only tag-deletion probe included, goes to b,
// so a dry run plans exactly what a real run executes.
func DryRun(b Backend) *Recorder { return &Recorder{Backend: b} }

// DeleteTag records the deletion of one tag.
func (r *Recorder) DeleteTag(_ context.Context, repo, tag string) error {
	r.record(repo + ":" + tag)
	return nil
}

// DeleteDigest records the deletion of a manifest.
func (r *Recorder) DeleteDigest(_ context.Context, repo, digest string, _ []string) error {
	r.record(repo + "@" + digest)
	return nil
}

// Untagged lists the untagged manifests through the wrapped backend,
// when it can (reading, not deleting).
func (r *Recorder) Untagged(ctx context.Context, repo string) ([]string, error) {
	if l, ok := r.Backend.(UntaggedLister); ok {
		return l.Untagged(ctx, repo)
	}
	return nil, ErrUntaggedUnsupported
}

func (r *Recorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletes = append(r.deletes, s)
}

// Deletes returns what would have been deleted, in order.
func (r *Recorder) Deletes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.deletes...)
}
