package registry

import (
	"context"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// Recorder is the dry-run decorator: a Backend that takes deletions in the
// registry's place and sends none of them.
type Recorder struct {
	Backend
}

// DryRun wraps b so that DeleteTag and DeleteDigest succeed without being
// sent. Everything else, the read-only tag-deletion probe included, goes
// to b, so a dry run plans exactly what a real run executes: the dry run
// is this decorator, not an if scattered through the code.
func DryRun(b Backend) *Recorder { return &Recorder{Backend: b} }

// DeleteTag takes the deletion of one tag, sending nothing.
func (r *Recorder) DeleteTag(context.Context, string, string) error { return nil }

// DeleteDigest takes the deletion of a manifest, sending nothing.
func (r *Recorder) DeleteDigest(context.Context, string, string, []string) error { return nil }

// Untagged lists the untagged manifests through the wrapped backend,
// when it can (reading, not deleting).
func (r *Recorder) Untagged(ctx context.Context, repo string) ([]image.Untagged, error) {
	if l, ok := r.Backend.(UntaggedLister); ok {
		return l.Untagged(ctx, repo)
	}
	return nil, ErrUntaggedUnsupported
}
